/**
 * The producer: `send` validates and serializes the messages, learns the topic's partition count
 * (cached), waits for room in the buffer (`bufferBytes`, at most `maxBlockMs`), and places each
 * message in its partition's open batch; the sender (sender.ts) ships sealed batches over one
 * ProduceStream and settles the sends; its header states the delivery guarantees and retries.
 *
 *   const producer = new Producer(connection, { lingerMs: 5 });
 *   const [meta] = await producer.send({ topic: 'orders', messages: [{ key: 'o-1', value: { total: 12 } }] });
 *   await producer.close();
 *
 * The connection is the caller's: `close` ends the producer's stream but leaves the connection open.
 */
import { RunnelError } from '../../common/errors.js';
import type { Connection } from '../connection.js';
import { Accumulator } from './accumulator.js';
import { BufferBudget } from './buffer-budget.js';
import { ProducerIds } from './idempotence.js';
import { prepareRecords, validateSendRequest, type PreparedRecord } from './message.js';
import { TopicMetadata } from './metadata.js';
import { resolveProducerOptions, type ProducerOptions, type ResolvedProducerOptions } from './options.js';
import { Partitioner } from './partitioner.js';
import { Sender } from './sender.js';
import { SendTracker } from './send-tracker.js';
import { ProduceTransport } from './transport.js';
import type { Acks, ProducerStats, RecordMetadata, SendRequest } from './types.js';

export class Producer {
  readonly options: ResolvedProducerOptions;
  private readonly metadata: TopicMetadata;
  private readonly budget: BufferBudget;
  private readonly transport: ProduceTransport;
  private readonly ids: ProducerIds;
  private readonly sender: Sender;
  private readonly accumulator: Accumulator;
  /** Sends queued for metadata or buffer room (placed ones are in `sender.live` batches). */
  private readonly waiting = new Set<Promise<unknown>>();
  private queuedSends = 0;
  /** Settles when the last queued send is placed (or failed): the next queued send goes after it. */
  private placing: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(connection: Connection, options: ProducerOptions = {}) {
    if (typeof connection !== 'object' || connection === null || typeof connection.unary !== 'function') {
      throw new RunnelError('INVALID_CONFIG', 'a Producer needs a Connection');
    }
    const o = (this.options = resolveProducerOptions(options));
    this.metadata = new TopicMetadata(connection, o);
    this.budget = new BufferBudget(o.bufferBytes, o.maxBlockMs);
    this.transport = new ProduceTransport(connection, o, () => this.sender.kick());
    this.ids = new ProducerIds(connection, o, () => this.sender.kick());
    this.sender = new Sender({ options: o, transport: this.transport, ids: this.ids, budget: this.budget, metadata: this.metadata });
    this.accumulator = new Accumulator(
      o.batchBytes,
      new Partitioner(),
      (state) => this.sender.queued(state),
      (batch, dueAtMs) => this.sender.opened(batch, dueAtMs),
      () => (this.sender.flushing > 0 ? 0 : o.lingerMs),
    );
    this.sender.accumulator = this.accumulator;
  }

  /**
   * Sends messages to one topic. Resolves with each message's partition and offset, in message
   * order, once all are acknowledged (per `acks`); rejects with a RunnelError: INVALID_ARGUMENT
   * (bad message), UNKNOWN_TOPIC / UNKNOWN_PARTITION, BUFFER_FULL (no room within maxBlockMs),
   * CLIENT_CLOSED (after close), REQUEST_TIMED_OUT (not acknowledged within deliveryTimeoutMs),
   * or the broker's error for a batch (topic and partition in `err.context`).
   */
  send(request: SendRequest): Promise<RecordMetadata[]> {
    if (this.closing !== null) return Promise.reject(new RunnelError('CLIENT_CLOSED', 'the producer is closed'));
    const startedAtMs = Date.now();
    let acks: Acks;
    let records: PreparedRecord[];
    try {
      acks = validateSendRequest(request, this.options.acks);
      records = prepareRecords(request.topic, request.messages, this.options.serializer, startedAtMs);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (records.length === 0) return Promise.resolve([]);
    const { topic } = request;
    const bytes = totalBytes(records);
    // The common case stays synchronous: known topic, room in the buffer, no send queued before.
    const partitionCount = this.metadata.cached(topic, startedAtMs);
    if (this.queuedSends === 0 && partitionCount !== undefined && highestPartition(records) < partitionCount && this.budget.tryReserve(bytes)) {
      return this.place(topic, partitionCount, records, acks).promise;
    }
    const refused = this.budget.admit(bytes);
    if (refused !== null) return Promise.reject(refused);
    // Queued sends are placed one after the other, in call order, so a later send never
    // overtakes an earlier one (records of a key stay in order even when sends are not awaited).
    this.queuedSends++;
    const placed = this.placing.then(() => this.placeWhenReady(topic, records, acks, bytes, startedAtMs));
    this.placing = placed.then(noop, noop);
    const sending = placed.then((tracker) => tracker.promise);
    this.waiting.add(sending);
    const forget = (): void => void this.waiting.delete(sending);
    void sending.then(forget, forget);
    return sending;
  }

  /**
   * Sends what is buffered at once (no lingering) and resolves when every send made before the
   * call is settled and every batch then buffered is acknowledged or failed. Never rejects:
   * failures are reported by the sends themselves.
   */
  async flush(): Promise<void> {
    this.sender.flushing++;
    try {
      this.accumulator.sealAll();
      this.sender.kick();
      await Promise.allSettled([...this.waiting]);
      await Promise.all([...this.sender.live].map((batch) => batch.whenDone()));
    } finally {
      this.sender.flushing--;
    }
  }

  /** Stops taking sends (they reject with CLIENT_CLOSED), delivers what was sent, ends the stream. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.flush().finally(() => {
      this.ids.stop();
      this.sender.stop();
      this.transport.close();
    });
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  stats(): ProducerStats {
    return {
      ...this.sender.stats,
      bufferedBytes: this.budget.bufferedBytes,
      waitingBytes: this.budget.queuedBytes,
      inFlightRequests: this.transport.inFlightRequests,
      streamsOpened: this.transport.streamsOpened,
    };
  }

  /** A queued send: waits for the topic's metadata and for room in the buffer, then is placed. */
  private async placeWhenReady(topic: string, records: PreparedRecord[], acks: Acks, bytes: number, startedAtMs: number): Promise<SendTracker> {
    try {
      const partitionCount = await this.partitionCount(topic, records, startedAtMs + this.options.maxBlockMs);
      await this.budget.reserve(bytes, startedAtMs);
      return this.place(topic, partitionCount, records, acks);
    } finally {
      this.queuedSends--;
      this.budget.leave(bytes);
    }
  }

  private place(topic: string, partitionCount: number, records: PreparedRecord[], acks: Acks): SendTracker {
    const tracker = new SendTracker(records.length);
    this.accumulator.append(topic, partitionCount, records, tracker, acks, Date.now());
    return tracker;
  }

  /** The topic's partition count, checked against explicit partitions (refetched once if one is beyond it). */
  private async partitionCount(topic: string, records: readonly PreparedRecord[], deadlineMs: number): Promise<number> {
    let partitionCount = this.metadata.cached(topic) ?? (await this.metadata.partitionCount(topic, deadlineMs));
    const highest = highestPartition(records);
    if (highest < partitionCount) return partitionCount;
    // Partitions may have been added since the count was cached.
    partitionCount = await this.metadata.refresh(topic, deadlineMs);
    if (highest < partitionCount) return partitionCount;
    throw new RunnelError('UNKNOWN_PARTITION', `partition ${highest} of topic "${topic}" does not exist (it has ${partitionCount})`, { topic, partition: highest });
  }
}

function totalBytes(records: readonly PreparedRecord[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.sizeBytes;
  return bytes;
}

/** The highest explicit partition, -1 when none is given. */
function highestPartition(records: readonly PreparedRecord[]): number {
  let highest = -1;
  for (const record of records) if (record.partition > highest) highest = record.partition;
  return highest;
}

function noop(): void {}
