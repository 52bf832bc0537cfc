/**
 * Produce (unary) and ProduceStream (bidirectional, pipelined). Both decode the request, run
 * the appends of a request in order (see produce.ts), then wait for the acks level and answer.
 * On a stream, appends run strictly in request order while the durability waits of several
 * requests overlap, so pipelined `acks: all` requests share group-committed fsyncs; answers go
 * out in request order, each with its correlation id, one turn of the event loop after the
 * append (see NextTurnQueue: consumers first, at some 80 us of the producer's own ack latency).
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError, isRunnelError } from '../../common/errors.js';
import { validateTopicName } from '../../common/topic-name.js';
import type { Broker } from '../broker.js';
import { appendPartition, awaitAcks, type Acks, type AppendedPartition } from '../produce.js';
import { asRunnelError, errorMessage, observe, toServiceError, unary, type ErrorMessage } from './rpc.js';

interface ProduceRequest {
  correlationId: number;
  acks: string;
  topics: { topic: string; partitions: { partition: number; records: Buffer }[] }[];
}

interface PartitionResult {
  partition: number;
  error: ErrorMessage | null;
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  duplicate: boolean;
}

interface ProduceResponse {
  correlationId: number;
  topics: { topic: string; partitions: PartitionResult[] }[];
}

type Appended = { topic: string; partition: number; result: AppendedPartition | RunnelError };

export function acksOf(value: string): Acks {
  switch (value) {
    case 'ACKS_NONE':
      return 'none';
    case 'ACKS_LEADER':
      return 'leader';
    case 'ACKS_ALL':
    case 'ACKS_UNSPECIFIED':
      return 'all';
    default:
      throw new RunnelError('INVALID_ARGUMENT', `unknown acks ${value}`);
  }
}

function validateShape(broker: Broker, request: ProduceRequest): void {
  const partitions = request.topics.reduce((n, t) => n + t.partitions.length, 0);
  if (partitions === 0) throw new RunnelError('INVALID_ARGUMENT', 'a produce request needs at least one partition');
  const max = broker.config.limits.maxPartitionsPerRequest;
  if (partitions > max) throw new RunnelError('LIMIT_EXCEEDED', `${partitions} partitions in one produce request; at most ${max}`);
}

/** Appends every partition of the request, in order; errors are per partition. */
async function appendRequest(broker: Broker, request: ProduceRequest): Promise<Appended[]> {
  validateShape(broker, request);
  const seen = new Set<string>();
  const appended: Appended[] = [];
  for (const { topic, partitions } of request.topics) {
    for (const { partition, records } of partitions) {
      const key = `${topic}\u0000${partition}`;
      try {
        validateTopicName(topic);
        if (seen.has(key)) throw new RunnelError('INVALID_ARGUMENT', `partition ${partition} of "${topic}" appears twice`, { topic, partition });
        seen.add(key);
        appended.push({ topic, partition, result: await appendPartition(broker, topic, partition, records) });
      } catch (err) {
        appended.push({ topic, partition, result: asRunnelError(broker, err, 'Produce') });
      }
    }
  }
  return appended;
}

/** Waits for the acks of every appended partition and builds the response. */
async function answer(broker: Broker, correlationId: number, acks: Acks, appended: Appended[]): Promise<ProduceResponse> {
  const results = await Promise.all(
    appended.map(async ({ partition, result }): Promise<PartitionResult> => {
      if (result instanceof RunnelError) return failed(partition, result);
      try {
        await awaitAcks(result, acks);
      } catch (err) {
        return failed(partition, asRunnelError(broker, err, 'Produce'));
      }
      const { baseOffset, lastOffset, logAppendTimeMs, logStartOffset, duplicate } = result.outcome;
      return { partition, error: null, baseOffset, lastOffset, logAppendTimeMs, logStartOffset, duplicate };
    }),
  );
  const byTopic = new Map<string, PartitionResult[]>();
  appended.forEach(({ topic }, i) => {
    const list = byTopic.get(topic) ?? [];
    list.push(results[i]!);
    byTopic.set(topic, list);
  });
  return { correlationId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
}

function failed(partition: number, err: RunnelError): PartitionResult {
  return { partition, error: errorMessage(err), baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, duplicate: false };
}

export function produceHandler(broker: Broker): grpc.handleUnaryCall<ProduceRequest, ProduceResponse> {
  return unary(broker, 'Produce', async (request: ProduceRequest) => {
    const acks = acksOf(request.acks);
    return answer(broker, request.correlationId, acks, await appendRequest(broker, request));
  });
}

export function produceStreamHandler(broker: Broker): grpc.handleBidiStreamingCall<ProduceRequest, ProduceResponse> {
  return (call) => {
    const maxInFlight = broker.config.limits.maxInFlightPerStream;
    let inFlight = 0;
    let appendChain: Promise<unknown> = Promise.resolve();
    let answerChain: Promise<unknown> = Promise.resolve();
    const outbox = new NextTurnQueue();
    /** No more requests are taken (an error is on its way, after the answers before it). */
    let refusing = false;
    /** The stream is over: nothing more is written. */
    let failedStream = false;
    const fail = (err: RunnelError): void => {
      if (refusing) return;
      refusing = true;
      outbox.push(() => {
        if (failedStream) return;
        failedStream = true;
        call.emit('error', toServiceError(err));
      });
    };
    call.on('data', (request: ProduceRequest) => {
      if (refusing) return;
      const started = process.hrtime.bigint();
      if (broker.isClosing) return fail(new RunnelError('BROKER_SHUTTING_DOWN'));
      if (++inFlight > maxInFlight) return fail(new RunnelError('LIMIT_EXCEEDED', `more than ${maxInFlight} produce requests in flight on one stream`));
      const appended = (appendChain = appendChain.then(() => appendRequest(broker, request)));
      const response = appended.then((list) => answer(broker, request.correlationId, acksOf(request.acks), list as Appended[]));
      answerChain = answerChain.then(() =>
        response.then(
          (res) => {
            inFlight--;
            observe(broker, 'ProduceStream', started, 'NONE');
            outbox.push(() => {
              if (!failedStream && !call.cancelled) call.write(res);
            });
          },
          (err: unknown) => {
            inFlight--;
            const error = isRunnelError(err) ? err : asRunnelError(broker, err, 'ProduceStream');
            observe(broker, 'ProduceStream', started, error.code);
            fail(error);
          },
        ),
      );
    });
    // At shutdown, answer what is in flight, then end the stream with BROKER_SHUTTING_DOWN.
    const onShutdown = (): void => void answerChain.then(() => fail(new RunnelError('BROKER_SHUTTING_DOWN')));
    broker.shutdownSignal.addEventListener('abort', onShutdown, { once: true });
    call.on('close', () => broker.shutdownSignal.removeEventListener('abort', onShutdown));
    call.on('end', () => {
      void answerChain.then(() =>
        outbox.push(() => {
          if (!failedStream) call.end();
        }),
      );
    });
    call.on('error', () => {
      failedStream = true;
      refusing = true;
    });
  };
}

/**
 * Runs queued actions in order on the next turn of the event loop, all in one. ProduceStream
 * answers go through it: the Subscribe pushes an append wakes are written in the append's own
 * turn, and when the answer went out in that same turn, on a machine with few cores, the
 * producer woken by its answer took a core from the consumer woken by its push (end-to-end
 * latency p50 at 1,000 records/s, acks leader: 0.47 ms, against 0.31-0.34 ms with the answer a
 * turn later). What follows the answers (the end of the stream, an error) queues behind them.
 */
class NextTurnQueue {
  private queued: (() => void)[] = [];
  private scheduled = false;

  push(action: () => void): void {
    this.queued.push(action);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const actions = this.queued;
      this.queued = [];
      for (const run of actions) run();
    });
  }
}
