/**
 * Producer behaviour that needs exact control over the broker's answers: retries that re-send the
 * very same bytes, sequence numbers and producer ids, what OUT_OF_ORDER_SEQUENCE /
 * UNKNOWN_PRODUCER_ID / non-retriable errors do, broken streams, request and delivery timeouts,
 * the in-flight window, acks, flush and close, metadata caching, and option and message
 * validation. The broker is a scripted stand-in (FakeBroker below) handed to the Producer in
 * place of a Connection; test/client/producer.test.ts runs against a real broker.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { isRunnelError } from '../../src/common/errors.js';
import { Producer, resolveProducerOptions } from '../../src/client/producer/index.js';
import { json } from '../../src/client/serialization.js';
import { Codec, readBatchHeader, type BatchHeader } from '../../src/format/batch-header.js';
import { decodeRecordBatch } from '../../src/format/record-batch.js';

interface SentBatch {
  topic: string;
  partition: number;
  header: BatchHeader;
  /** Copied at send time: a later restamp of the producer's buffer does not change it. */
  bytes: Buffer;
}

interface FakeRequest {
  correlationId: number;
  acks: string;
  batches: SentBatch[];
  stream: FakeStream;
}

type Outcome = { error: string } | { baseOffset: number; duplicate?: boolean } | undefined;

class FakeStream extends EventEmitter {
  ended = false;
  cancelled = false;

  constructor(private readonly broker: FakeBroker) {
    super();
  }

  write(request: any): boolean {
    const batches: SentBatch[] = request.topics.flatMap((t: any) =>
      t.partitions.map((p: any) => ({ topic: t.topic, partition: p.partition, header: readBatchHeader(p.records), bytes: Buffer.from(p.records) })),
    );
    const req: FakeRequest = { correlationId: request.correlationId, acks: request.acks, batches, stream: this };
    this.broker.requests.push(req);
    queueMicrotask(() => this.broker.onRequest(req));
    return true;
  }

  end(): void {
    this.ended = true;
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('error', Object.assign(new Error('Cancelled'), { code: 1, details: 'Cancelled on client' }));
  }

  /** Answers a request; an outcome per batch, undefined = appended at the next offsets. */
  answer(req: FakeRequest, outcomes: Outcome[] = []): void {
    const topics = new Map<string, any[]>();
    req.batches.forEach((batch, i) => {
      const outcome = outcomes[i] ?? this.broker.append(batch);
      const list = topics.get(batch.topic) ?? [];
      const failed = { error: { code: '', message: '', retriable: false }, baseOffset: -1, lastOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, duplicate: false };
      list.push(
        'error' in outcome
          ? { ...failed, partition: batch.partition, error: { code: outcome.error, message: `scripted ${outcome.error}`, retriable: false } }
          : {
              partition: batch.partition,
              error: null,
              baseOffset: outcome.baseOffset,
              lastOffset: outcome.baseOffset + batch.header.recordCount - 1,
              logAppendTimeMs: Date.now(),
              logStartOffset: 0,
              duplicate: outcome.duplicate ?? false,
            },
      );
      topics.set(batch.topic, list);
    });
    this.emit('data', { correlationId: req.correlationId, topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) });
  }

  /** Breaks the stream as a broker going away does (gRPC UNAVAILABLE). */
  fail(): void {
    this.emit('error', Object.assign(new Error('unavailable'), { code: 14, details: 'scripted unavailable' }));
  }
}

/** A stand-in for Connection: DescribeTopics and InitProducerId from fields, ProduceStream scripted. */
class FakeBroker {
  readonly address = 'fake:9400';
  readonly requests: FakeRequest[] = [];
  readonly streams: FakeStream[] = [];
  readonly partitionCounts = new Map<string, number>();
  describeCalls = 0;
  initProducerIdCalls = 0;
  /** What happens to each request; by default every batch is appended at the next offsets. */
  onRequest: (req: FakeRequest) => void = (req) => req.stream.answer(req);
  private nextProducerId = 1;
  private readonly logEnds = new Map<string, number>();
  private readonly producers = new Map<string, { baseSequence: number; recordCount: number; baseOffset: number }[]>();

  constructor(topics: Record<string, number> = { t: 1 }) {
    for (const [name, count] of Object.entries(topics)) this.partitionCounts.set(name, count);
  }

  /** Appends as the broker does, idempotence rules included (the last 5 batches per producer). */
  append(batch: SentBatch): { error: string } | { baseOffset: number; duplicate?: boolean } {
    const key = `${batch.topic}/${batch.partition}`;
    const { producerId, baseSequence, recordCount } = batch.header;
    const baseOffset = this.logEnds.get(key) ?? 0;
    if (producerId >= 0) {
      const stateKey = `${key}/${producerId}`;
      const retained = this.producers.get(stateKey) ?? [];
      const same = retained.find((b) => b.baseSequence === baseSequence && b.recordCount === recordCount);
      if (same !== undefined) return { baseOffset: same.baseOffset, duplicate: true };
      const last = retained.at(-1);
      if (last === undefined && baseSequence !== 0) return { error: 'UNKNOWN_PRODUCER_ID' };
      if (last !== undefined && baseSequence !== last.baseSequence + last.recordCount) return { error: 'OUT_OF_ORDER_SEQUENCE' };
      this.producers.set(stateKey, [...retained, { baseSequence, recordCount, baseOffset }].slice(-5));
    }
    this.logEnds.set(key, baseOffset + recordCount);
    return { baseOffset };
  }

  stub(): any {
    return {
      produceStream: () => {
        const stream = new FakeStream(this);
        this.streams.push(stream);
        return stream;
      },
    };
  }

  unary(_service: string, method: string, request: any): Promise<any> {
    if (method === 'describeTopics') {
      this.describeCalls++;
      const topics = request.names.map((name: string) => {
        const count = this.partitionCounts.get(name);
        if (count === undefined) return { name, error: { code: 'UNKNOWN_TOPIC', message: `unknown topic ${name}` }, partitions: [] };
        return { name, error: null, partitions: Array.from({ length: count }, (_, partition) => ({ partition })) };
      });
      return Promise.resolve({ topics });
    }
    if (method === 'initProducerId') {
      this.initProducerIdCalls++;
      return Promise.resolve({ error: null, producerId: this.nextProducerId++, producerEpoch: 0 });
    }
    return Promise.reject(new Error(`FakeBroker has no ${method}`));
  }

  /** Batches sent to one partition so far, in order. */
  sent(topic = 't', partition = 0): SentBatch[] {
    return this.requests.flatMap((r) => r.batches).filter((b) => b.topic === topic && b.partition === partition);
  }
}

const producers: Producer[] = [];

afterEach(async () => {
  for (const producer of producers.splice(0)) await producer.close();
});

/** Fast retries, and one batch per record (batchBytes 1) so several batches can be in flight. */
function producerFor(broker: FakeBroker, options: Record<string, unknown> = {}): Producer {
  const producer = new Producer(broker as any, { lingerMs: 0, retryBackoffMs: 5, retryBackoffMsMax: 20, ...options });
  producers.push(producer);
  return producer;
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    expect(isRunnelError(err), `a RunnelError, got ${String(err)}`).toBe(true);
    return err;
  }
  throw new Error('expected a rejection');
}

function valuesOf(batch: SentBatch): string[] {
  return decodeRecordBatch(batch.bytes).records.map((r) => r.value!.toString());
}

describe('retries', () => {
  it('re-sends the very same bytes after a retriable error, and resolves with the offsets', async () => {
    const broker = new FakeBroker();
    let failures = 2;
    broker.onRequest = (req) => req.stream.answer(req, [failures-- > 0 ? { error: 'STORAGE_ERROR' } : undefined]);
    const producer = producerFor(broker);
    const results = await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    expect(results.map((r) => [r.partition, r.offset])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    const sent = broker.sent();
    expect(sent).toHaveLength(3);
    for (const again of sent.slice(1)) expect(again.bytes.equals(sent[0].bytes)).toBe(true);
    expect(sent[0].header).toMatchObject({ producerId: 1, producerEpoch: 0, baseSequence: 0 });
    expect(producer.stats()).toMatchObject({ retries: 2, records: 2, bufferedBytes: 0 });
    expect(broker.initProducerIdCalls).toBe(1);
  });

  it('re-sends every in-flight batch, in order, on a new stream when the stream breaks', async () => {
    const broker = new FakeBroker();
    broker.onRequest = (req) => {
      if (broker.streams.length === 1 && broker.requests.length === 3) req.stream.fail();
      else if (broker.streams.length > 1) req.stream.answer(req);
    };
    const producer = producerFor(broker, { batchBytes: 1 });
    const sends = ['a', 'b', 'c'].map((value) => producer.send({ topic: 't', messages: [{ value }] }));
    expect((await Promise.all(sends)).map(([r]) => r.offset)).toEqual([0, 1, 2]);
    expect(broker.streams).toHaveLength(2);
    const sent = broker.sent();
    expect(sent.map((b) => b.header.baseSequence)).toEqual([0, 1, 2, 0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(sent[i + 3].bytes.equals(sent[i].bytes)).toBe(true);
    expect(producer.stats().streamsOpened).toBe(2);
  });

  it('breaks a stream that gives no answer within requestTimeoutMs and re-sends on a new one', async () => {
    const broker = new FakeBroker();
    broker.onRequest = (req) => {
      if (broker.streams.length > 1) req.stream.answer(req);
    };
    const producer = producerFor(broker, { requestTimeoutMs: 150 });
    const started = Date.now();
    const [result] = await producer.send({ topic: 't', messages: [{ value: 'late' }] });
    expect(result.offset).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(broker.streams[0].cancelled).toBe(true);
    expect(broker.sent()[1].bytes.equals(broker.sent()[0].bytes)).toBe(true);
  });

  it('fails with REQUEST_TIMED_OUT after deliveryTimeoutMs of retriable errors; later sends use a fresh producer id', async () => {
    const broker = new FakeBroker();
    let failing = true;
    broker.onRequest = (req) => req.stream.answer(req, [failing ? { error: 'LIMIT_EXCEEDED' } : undefined]);
    const producer = producerFor(broker, { requestTimeoutMs: 100, deliveryTimeoutMs: 300 });
    const started = Date.now();
    const err = await rejection(producer.send({ topic: 't', messages: [{ value: 'x' }] }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(err.code).toBe('REQUEST_TIMED_OUT');
    expect(err.message).toMatch(/deliveryTimeoutMs \(300 ms\).*may or may not have been written.*last error: scripted LIMIT_EXCEEDED/);
    expect(err.context).toMatchObject({ topic: 't', partition: 0 });
    failing = false;
    await producer.send({ topic: 't', messages: [{ value: 'y' }] });
    expect(broker.sent().at(-1)!.header).toMatchObject({ producerId: 2, baseSequence: 0 });
  });
});

describe('sequences and producer ids', () => {
  it.each(['OUT_OF_ORDER_SEQUENCE', 'UNKNOWN_PRODUCER_ID'])('fails the affected sends on %s at the head, and continues under a new producer id', async (code) => {
    const broker = new FakeBroker();
    broker.onRequest = (req) => {
      const { header } = req.batches[0];
      req.stream.answer(req, [header.producerId === 1 && header.baseSequence === 2 ? { error: code } : undefined]);
    };
    const producer = producerFor(broker);
    await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    const err = await rejection(producer.send({ topic: 't', messages: [{ value: 'c' }] }));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(/these records were not written, later sends continue under a new producer id/);
    expect(err.context).toMatchObject({ topic: 't', partition: 0 });
    const [after] = await producer.send({ topic: 't', messages: [{ value: 'd' }] });
    expect(after.offset).toBe(2);
    expect(broker.sent().map((b) => [b.header.producerId, b.header.baseSequence])).toEqual([
      [1, 0],
      [1, 2],
      [2, 0],
    ]);
  });

  it.each(['OUT_OF_ORDER_SEQUENCE', 'UNKNOWN_PRODUCER_ID'])('on %s for a retry of a batch whose first send may have been written, says it may have been written (issue 11, finding 16)', async (code) => {
    const broker = new FakeBroker();
    let attempts = 0;
    broker.onRequest = (req) => {
      const { header } = req.batches[0];
      if (header.baseSequence !== 2) return req.stream.answer(req);
      // The first send is appended, then the stream breaks before the answer (outcome unknown to
      // the producer); the broker then loses this producer's state, and refuses the retry.
      if (attempts++ === 0) {
        broker.append(req.batches[0]);
        return req.stream.fail();
      }
      req.stream.answer(req, [{ error: code }]);
    };
    const producer = producerFor(broker);
    await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    const err = await rejection(producer.send({ topic: 't', messages: [{ value: 'c' }] }));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(/may or may not have been written/);
    expect(err.message).not.toMatch(/were not written/);
  });

  it('renumbers the batches after one the broker refused, and re-sends them', async () => {
    const broker = new FakeBroker();
    broker.onRequest = (req) => req.stream.answer(req, [req === broker.requests[0] ? { error: 'BATCH_TOO_LARGE' } : undefined]);
    const producer = producerFor(broker, { batchBytes: 1 });
    const tooLarge = producer.send({ topic: 't', messages: [{ value: 'big' }, { value: 'bigger' }] });
    const next = producer.send({ topic: 't', messages: [{ value: 'small' }] });
    const err = await rejection(tooLarge);
    expect(err.code).toBe('BATCH_TOO_LARGE');
    expect(err.context).toMatchObject({ topic: 't', partition: 0 });
    expect((await next)[0].offset).toBe(1);
    // 'big' and 'bigger' are one send, so it fails, although 'bigger' had a batch of its own and
    // was written; the batches after 'big' were answered OUT_OF_ORDER_SEQUENCE, then renumbered.
    expect(broker.sent().map((b) => [valuesOf(b).join(), b.header.baseSequence])).toEqual([
      ['big', 0],
      ['bigger', 1],
      ['small', 2],
      ['bigger', 0],
      ['small', 1],
    ]);
    expect(broker.initProducerIdCalls).toBe(1);
  });

  it('keeps at most maxInFlightPerPartition batches in flight per partition, sequences in order', async () => {
    const broker = new FakeBroker({ t: 2 });
    const held: FakeRequest[] = [];
    broker.onRequest = (req) => held.push(req);
    const producer = producerFor(broker, { batchBytes: 1, maxInFlightPerPartition: 3 });
    const sends = Array.from({ length: 8 }, (_, i) => producer.send({ topic: 't', messages: [{ value: `v${i}`, partition: i % 2 }] }));
    await until(() => held.length >= 2, 'first requests');
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Both partitions travel together: 3 requests of 2 batches.
    expect(held.length).toBe(3);
    expect(held.every((r) => r.batches.length === 2)).toBe(true);
    while (held.length > 0) {
      const req = held.shift()!;
      req.stream.answer(req);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(sends);
    for (const partition of [0, 1]) expect(broker.sent('t', partition).map((b) => b.header.baseSequence)).toEqual([0, 1, 2, 3]);
  });

  it('without idempotence, re-sends only the batch that failed', async () => {
    const broker = new FakeBroker();
    broker.onRequest = (req) => req.stream.answer(req, [req === broker.requests[0] ? { error: 'BROKER_SHUTTING_DOWN' } : undefined]);
    const producer = producerFor(broker, { idempotent: false, batchBytes: 1 });
    const results = await Promise.all(['a', 'b', 'c'].map((value) => producer.send({ topic: 't', messages: [{ value }] })));
    // 'a' lands after 'b' and 'c' (Kafka's behaviour with several batches in flight and no idempotence).
    expect(results.map(([r]) => r.offset)).toEqual([2, 0, 1]);
    expect(broker.sent().map((b) => valuesOf(b).join())).toEqual(['a', 'b', 'c', 'a']);
  });

  it('sends plain batches (producer id -1) without InitProducerId when idempotent is false', async () => {
    const broker = new FakeBroker();
    const producer = producerFor(broker, { idempotent: false, maxInFlightPerPartition: 10 });
    await producer.send({ topic: 't', messages: [{ value: 'p' }] });
    expect(broker.sent()[0].header).toMatchObject({ producerId: -1, producerEpoch: -1, baseSequence: -1 });
    expect(broker.initProducerIdCalls).toBe(0);
  });
});

describe('acks, compression, flush and close', () => {
  it("resolves acks 'none' when the batch is written, offsets -1, and sends ACKS_NONE", async () => {
    const broker = new FakeBroker();
    broker.onRequest = () => undefined;
    const producer = producerFor(broker, { acks: 'leader' });
    const [result] = await producer.send({ topic: 't', messages: [{ value: 'fire' }], acks: 'none' });
    expect(result).toMatchObject({ topic: 't', partition: 0, offset: -1 });
    expect(broker.requests[0].acks).toBe('ACKS_NONE');
    broker.onRequest = (req) => req.stream.answer(req);
    broker.requests[0].stream.answer(broker.requests[0]);
    await producer.send({ topic: 't', messages: [{ value: 'leader' }] });
    expect(broker.requests[1].acks).toBe('ACKS_LEADER');
  });

  it('compresses with lz4 when asked', async () => {
    const broker = new FakeBroker();
    const producer = producerFor(broker, { compression: 'lz4' });
    await producer.send({ topic: 't', messages: [{ value: 'z'.repeat(1000) }] });
    const [sent] = broker.sent();
    expect(sent.header.attributes & 0x07).toBe(Codec.Lz4);
    expect(sent.bytes.length).toBeLessThan(200);
    expect(valuesOf(sent)).toEqual(['z'.repeat(1000)]);
  });

  it('lingers lingerMs for more records, unless flushed', async () => {
    const broker = new FakeBroker();
    const producer = producerFor(broker, { lingerMs: 300 });
    let started = Date.now();
    await producer.send({ topic: 't', messages: [{ value: 'slow' }] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    started = Date.now();
    const sending = producer.send({ topic: 't', messages: [{ value: 'fast' }] });
    await producer.flush();
    await sending;
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('drains on close, then rejects sends with CLIENT_CLOSED; close is idempotent', async () => {
    const broker = new FakeBroker();
    const producer = new Producer(broker as any, { lingerMs: 10_000 });
    const sending = producer.send({ topic: 't', messages: [{ value: 'buffered' }] });
    const closing = producer.close();
    expect(producer.close()).toBe(closing);
    await closing;
    expect((await sending)[0].offset).toBe(0);
    expect(broker.streams[0].ended).toBe(true);
    expect((await rejection(producer.send({ topic: 't', messages: [{ value: 'late' }] }))).code).toBe('CLIENT_CLOSED');
    await producer.close();
  });
});

describe('metadata', () => {
  it('describes a topic once, refreshes after metadataMaxAgeMs, and rejects unknown topics and partitions', async () => {
    const broker = new FakeBroker({ t: 2 });
    const producer = producerFor(broker, { metadataMaxAgeMs: 100 });
    for (let i = 0; i < 20; i++) await producer.send({ topic: 't', messages: [{ value: i }] });
    expect(broker.describeCalls).toBe(1);
    expect((await rejection(producer.send({ topic: 'nope', messages: [{ value: 1 }] }))).code).toBe('UNKNOWN_TOPIC');
    const err = await rejection(producer.send({ topic: 't', messages: [{ value: 1, partition: 2 }] }));
    expect(err.code).toBe('UNKNOWN_PARTITION');
    expect(err.context).toMatchObject({ topic: 't', partition: 2 });
    // Partitions added: an explicit partition beyond the cached count refetches before failing.
    broker.partitionCounts.set('t', 3);
    expect((await producer.send({ topic: 't', messages: [{ value: 1, partition: 2 }] }))[0].partition).toBe(2);
    const calls = broker.describeCalls;
    await new Promise((resolve) => setTimeout(resolve, 120));
    await producer.send({ topic: 't', messages: [{ value: 1 }] });
    await until(() => broker.describeCalls === calls + 1, 'background refresh');
  });

  it('refreshes a topic whose partition the broker says is unknown', async () => {
    const broker = new FakeBroker({ t: 2 });
    broker.onRequest = (req) => req.stream.answer(req, [req.batches[0].partition === 1 ? { error: 'UNKNOWN_PARTITION' } : undefined]);
    const producer = producerFor(broker);
    await producer.send({ topic: 't', messages: [{ value: 'ok', partition: 0 }] });
    const calls = broker.describeCalls;
    expect((await rejection(producer.send({ topic: 't', messages: [{ value: 'gone', partition: 1 }] }))).code).toBe('UNKNOWN_PARTITION');
    await producer.send({ topic: 't', messages: [{ value: 'again', partition: 0 }] });
    await until(() => broker.describeCalls > calls, 'refresh after UNKNOWN_PARTITION');
  });
});

describe('option validation', () => {
  it.each([
    [{ lingerMs: -1 }, 'lingerMs'],
    [{ lingerMs: 1.5 }, 'lingerMs'],
    [{ batchBytes: 0 }, 'batchBytes'],
    [{ bufferBytes: '32MiB' }, 'bufferBytes'],
    [{ maxBlockMs: 2 ** 31 }, 'maxBlockMs'],
    [{ acks: 'one' }, 'acks'],
    [{ compression: 'gzip' }, 'compression'],
    [{ idempotent: 'yes' }, 'idempotent'],
    [{ serializer: { name: 'x' } }, 'serializer'],
    [{ lingerMS: 5 }, 'lingerMS'],
    [{ maxInFlightPerPartition: 6 }, 'maxInFlightPerPartition'],
    [{ retryBackoffMs: 500, retryBackoffMsMax: 100 }, 'retryBackoffMsMax'],
    [{ batchBytes: 1 << 20, bufferBytes: 1 << 19 }, 'bufferBytes'],
    [{ batchBytes: 2 << 20 }, 'maxRequestBytes'],
    [{ deliveryTimeoutMs: 1000, requestTimeoutMs: 1000, lingerMs: 5 }, 'deliveryTimeoutMs'],
  ])('rejects %j naming %s', (options, option) => {
    let caught: any;
    try {
      new Producer(new FakeBroker() as any, options as any);
    } catch (err) {
      caught = err;
    }
    expect(caught?.code).toBe('INVALID_CONFIG');
    expect(caught.context.option).toBe(option);
    expect(caught.message).toContain(option);
  });

  it('accepts the cross-field edges and fills in defaults', () => {
    expect(resolveProducerOptions({ idempotent: false, maxInFlightPerPartition: 20 }).maxInFlightPerPartition).toBe(20);
    expect(resolveProducerOptions({ deliveryTimeoutMs: 30_005, requestTimeoutMs: 30_000, lingerMs: 5 }).deliveryTimeoutMs).toBe(30_005);
    expect(resolveProducerOptions({ serializer: json, lingerMs: undefined })).toMatchObject({ lingerMs: 5, batchBytes: 65_536, bufferBytes: 32 << 20, acks: 'all', idempotent: true });
  });
});

describe('message validation', () => {
  const cases: [string, any, string, RegExp][] = [
    ['a missing topic', { messages: [{ value: 1 }] }, 'INVALID_ARGUMENT', /needs a topic/],
    ['a bad topic name', { topic: 'a/b', messages: [{ value: 1 }] }, 'INVALID_TOPIC_NAME', /may only contain/],
    ['messages not an array', { topic: 't', messages: { value: 1 } }, 'INVALID_ARGUMENT', /messages must be an array/],
    ['a message without value', { topic: 't', messages: [{ key: 'k' }] }, 'INVALID_ARGUMENT', /messages\[0\]\.value is missing/],
    ['a message that is not an object', { topic: 't', messages: [{ value: 1 }, 'x'] }, 'INVALID_ARGUMENT', /messages\[1\] must be an object/],
    ['a partition of the wrong type', { topic: 't', messages: [{ value: 1, partition: '0' }] }, 'INVALID_ARGUMENT', /messages\[0\]\.partition/],
    ['a negative partition', { topic: 't', messages: [{ value: 1, partition: -1 }] }, 'INVALID_ARGUMENT', /messages\[0\]\.partition/],
    ['a fractional timestamp', { topic: 't', messages: [{ value: 1, timestampMs: 1.5 }] }, 'INVALID_ARGUMENT', /timestampMs must be a non-negative safe integer/],
    ['a timestamp beyond 2^53', { topic: 't', messages: [{ value: 1, timestampMs: 2 ** 53 }] }, 'INVALID_ARGUMENT', /timestampMs/],
    ['a header value that is a number', { topic: 't', messages: [{ value: 1, headers: { n: 1 } }] }, 'INVALID_ARGUMENT', /headers\.n must be a string, a Buffer or null/],
    ['a header list entry without key', { topic: 't', messages: [{ value: 1, headers: [{ value: 'v' }] }] }, 'INVALID_ARGUMENT', /headers\[0\] must be/],
    ['bad acks', { topic: 't', messages: [{ value: 1 }], acks: 1 }, 'INVALID_ARGUMENT', /acks must be one of/],
    ['a value the serializer refuses', { topic: 't', messages: [{ value: 10n }] }, 'INVALID_ARGUMENT', /cannot serialize messages\[0\]\.value with json/],
  ];

  it.each(cases)('rejects %s', async (_what, request, code, message) => {
    const broker = new FakeBroker();
    const producer = producerFor(broker, { serializer: json });
    const err = await rejection(producer.send(request));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(broker.requests).toHaveLength(0);
  });

  it('resolves an empty send with no results and sends nothing', async () => {
    const broker = new FakeBroker();
    expect(await producerFor(broker).send({ topic: 't', messages: [] })).toEqual([]);
    expect(broker.requests).toHaveLength(0);
  });
});
