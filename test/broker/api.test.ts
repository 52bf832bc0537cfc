/**
 * The broker's gRPC API end to end: a real broker in this process, a plain proto-loader client,
 * nothing but the public contract (plus the broker object for counters and for running
 * retention without waiting for its timer).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../../src/broker/config.js';
import { startBroker } from '../../src/broker/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { decodeRecordBatches, encodeRecordBatch } from '../../src/format/record-batch.js';
import { makeBatch, tempDir } from '../storage/helpers.js';
import { connect, startTestBroker, stopTestBroker, type Clients } from './helpers.js';

// ---- helpers ----------------------------------------------------------------------------------

const T0 = 1_700_000_000_000;

/** A batch of one record with a 100-byte value: every such batch has the same size. */
const sized = (tag: string): Buffer => makeBatch({ records: 1, valueBytes: 100, tag });
const SIZED_BYTES = sized('a').length;

/** The value makeBatch gives record `i` of a batch tagged `tag` (16 bytes by default). */
const val = (tag: string, i: number): string => `${tag}-${i}-`.padEnd(16, 'x');

function values(records: Buffer): string[] {
  return decodeRecordBatches(records).flatMap((b) => b.records.map((r) => r.value?.toString() ?? 'null'));
}

function offsetsOf(records: Buffer): number[] {
  return decodeRecordBatches(records).flatMap((b) => b.records.map((r) => r.offset));
}

/** Every record from `from` to the log end, fetch after fetch. */
async function readAll(clients: Clients, topic: string, partition: number, from: number): Promise<{ offset: number; timestampMs: number; key: string; value: string }[]> {
  const out = [];
  for (let offset = from; ; ) {
    const p = await fetchOne(clients, topic, partition, offset);
    expect(p.error).toBeNull();
    if (p.records.length === 0) return out;
    for (const b of decodeRecordBatches(p.records)) {
      for (const r of b.records) if (r.offset >= offset) out.push({ offset: r.offset, timestampMs: r.timestampMs, key: r.key?.toString() ?? 'null', value: r.value?.toString() ?? 'null' });
    }
    offset = p.nextOffset;
  }
}

function batchCount(records: Buffer): number {
  return decodeRecordBatches(records).length;
}

async function createTopic(clients: Clients, name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name, partitions, configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }] });
  expect(res.topics[0].error).toBeNull();
}

async function produce(clients: Clients, topic: string, partition: number, records: Buffer, acks = 'ACKS_ALL'): Promise<any> {
  const res = await clients.call('broker', 'produce', { correlationId: 1, acks, topics: [{ topic, partitions: [{ partition, records }] }] });
  return res.topics[0].partitions[0];
}

async function fetchOne(clients: Clients, topic: string, partition: number, fetchOffset: number, extra: { maxBytes?: number; partitionMaxBytes?: number } = {}): Promise<any> {
  const res = await clients.call('broker', 'fetch', {
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: extra.maxBytes ?? 0,
    topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: extra.partitionMaxBytes ?? 0 }] }],
  });
  return res.topics[0].partitions[0];
}

async function listOffset(clients: Clients, topic: string, partition: number, spec: string, timestampMs = 0): Promise<any> {
  const res = await clients.call('broker', 'listOffsets', { partitions: [{ topic, partition, spec, timestampMs }] });
  return res.partitions[0];
}

async function describeTopic(clients: Clients, name: string): Promise<any> {
  const res = await clients.call('admin', 'describeTopics', { names: [name] });
  return res.topics[0];
}

function configMap(entries: { name: string; value: string }[]): Record<string, string> {
  return Object.fromEntries(entries.map((e) => [e.name, e.value]));
}

/** Polls a condition (a broker counter); bounded, never a fixed sleep. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The gRPC status and runnel-error-code trailer of a failed call. */
async function failure(promise: Promise<unknown>): Promise<{ code: number; runnelCode: unknown; details: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, runnelCode: e.metadata?.get('runnel-error-code')[0], details: e.details };
  }
  throw new Error('expected the call to fail');
}

/**
 * The error code of a refused single-item admin call, whether it comes as a gRPC status (with
 * the runnel-error-code trailer) or in the response's `error` field.
 */
async function refusal(promise: Promise<any>): Promise<{ code: unknown; message: string }> {
  let response: any;
  try {
    response = await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    expect(e.code).not.toBe(grpc.status.OK);
    return { code: e.metadata?.get('runnel-error-code')[0], message: e.details };
  }
  expect(response.error, 'expected the call to be refused').not.toBeNull();
  return { code: response.error.code, message: response.error.message };
}

/** Messages of a client stream, awaited one by one with a bounded wait. */
class Inbox<T = any> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;
  error: grpc.ServiceError | null = null;
  status: grpc.StatusObject | null = null;
  ended = false;

  constructor(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>) {
    stream.on('data', (m: T) => this.push(() => this.items.push(m)));
    stream.on('error', (e: grpc.ServiceError) => this.push(() => (this.error = e)));
    stream.on('status', (s: grpc.StatusObject) => this.push(() => (this.status = s)));
    stream.on('end', () => this.push(() => (this.ended = true)));
  }

  private push(change: () => unknown): void {
    change();
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  get pending(): number {
    return this.items.length;
  }

  async until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async next(timeoutMs = 5000): Promise<T> {
    await this.until(() => this.items.length > 0 || this.error !== null || this.ended, 'a stream message', timeoutMs);
    if (this.items.length === 0) throw new Error(`stream closed without a message: ${this.error?.message ?? 'ended'}`);
    return this.items.shift()!;
  }

  /** Resolves with the final status (OK or the error's). */
  async closed(timeoutMs = 5000): Promise<grpc.StatusObject | grpc.ServiceError> {
    await this.until(() => this.error !== null || this.status !== null, 'the end of the stream', timeoutMs);
    return this.error ?? this.status!;
  }
}

/** Reads Subscribe messages until every `topic/partition` in `targets` reached its next offset. */
async function collect(inbox: Inbox, targets: Record<string, number>): Promise<{ values: Record<string, string[]>; offsets: Record<string, number[]>; messages: any[] }> {
  const next: Record<string, number> = {};
  const out = { values: {} as Record<string, string[]>, offsets: {} as Record<string, number[]>, messages: [] as any[] };
  while (Object.entries(targets).some(([key, target]) => (next[key] ?? -1) < target)) {
    const m = await inbox.next();
    const key = `${m.topic}/${m.partition}`;
    expect(m.error, `unexpected error on ${key}`).toBeNull();
    expect(key in targets, `unexpected message for ${key}`).toBe(true);
    out.messages.push(m);
    (out.values[key] ??= []).push(...values(m.records));
    (out.offsets[key] ??= []).push(...offsetsOf(m.records));
    next[key] = m.nextOffset;
  }
  return out;
}

function subscribe(clients: Clients, partitions: { topic: string; partition: number; startOffset: number }[], maxBytes = 0): { call: grpc.ClientReadableStream<any>; inbox: Inbox } {
  const call = (clients.broker as any).subscribe({ partitions, maxBytes }) as grpc.ClientReadableStream<any>;
  return { call, inbox: new Inbox(call) };
}

function idempotentBatch(producerId: number, producerEpoch: number, baseSequence: number, count: number, tag: string): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`), timestampMs: Date.now() }));
  return encodeRecordBatch({ records, producerId, producerEpoch, baseSequence });
}

// ---- produce and fetch ------------------------------------------------------------------------

describe('produce and fetch', () => {
  it('round-trips several topics and partitions in one request, with errors per partition', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'alpha', 3);
    await createTopic(clients, 'beta', 2);
    const produced = await clients.call('broker', 'produce', {
      correlationId: 42,
      acks: 'ACKS_ALL',
      topics: [
        {
          topic: 'alpha',
          partitions: [
            { partition: 0, records: makeBatch({ records: 2, tag: 'a0' }) },
            { partition: 2, records: Buffer.concat([makeBatch({ records: 3, tag: 'a2x' }), makeBatch({ records: 2, tag: 'a2y' })]) },
            { partition: 7, records: makeBatch({ tag: 'nowhere' }) },
          ],
        },
        { topic: 'beta', partitions: [{ partition: 1, records: makeBatch({ records: 1, tag: 'b1' }) }] },
        { topic: 'gamma', partitions: [{ partition: 0, records: makeBatch({ tag: 'g' }) }] },
      ],
    });
    expect(produced.correlationId).toBe(42);
    const byTopic = Object.fromEntries(produced.topics.map((t: any) => [t.topic, t.partitions]));
    expect(byTopic.alpha).toHaveLength(3);
    expect(byTopic.alpha[0]).toMatchObject({ partition: 0, error: null, baseOffset: 0, lastOffset: 1, logStartOffset: 0, duplicate: false });
    expect(byTopic.alpha[1]).toMatchObject({ partition: 2, error: null, baseOffset: 0, lastOffset: 4 });
    expect(byTopic.alpha[2]).toMatchObject({ partition: 7, baseOffset: -1, lastOffset: -1, error: { code: 'UNKNOWN_PARTITION', retriable: false } });
    expect(byTopic.beta[0]).toMatchObject({ partition: 1, error: null, baseOffset: 0, lastOffset: 0 });
    expect(byTopic.gamma[0]).toMatchObject({ partition: 0, baseOffset: -1, error: { code: 'UNKNOWN_TOPIC' } });
    expect(Math.abs(byTopic.alpha[0].logAppendTimeMs - Date.now())).toBeLessThan(60_000);

    // Offsets continue where the previous request left them.
    expect(await produce(clients, 'alpha', 0, makeBatch({ records: 2, tag: 'a0b' }))).toMatchObject({ baseOffset: 2, lastOffset: 3 });

    const fetched = await clients.call('broker', 'fetch', {
      maxWaitMs: 5000,
      minBytes: 1,
      maxBytes: 0,
      topics: [
        {
          topic: 'alpha',
          partitions: [
            { partition: 0, fetchOffset: 0, maxBytes: 0 },
            { partition: 2, fetchOffset: 3, maxBytes: 0 },
            { partition: 9, fetchOffset: 0, maxBytes: 0 },
          ],
        },
        { topic: 'beta', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }, { partition: 1, fetchOffset: 0, maxBytes: 0 }] },
        { topic: 'nope', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] },
      ],
    });
    const [alpha, beta, nope] = fetched.topics;
    expect(alpha.topic).toBe('alpha');
    expect(alpha.partitions[0]).toMatchObject({ partition: 0, error: null, nextOffset: 4, offsets: { logStartOffset: 0, highWatermark: 4, logEndOffset: 4 } });
    expect(values(alpha.partitions[0].records)).toEqual([val('a0', 0), val('a0', 1), val('a0b', 0), val('a0b', 1)]);
    // Offset 3 is inside the second batch of partition 2: that batch is returned from its start.
    expect(offsetsOf(alpha.partitions[1].records)).toEqual([3, 4]);
    expect(alpha.partitions[1]).toMatchObject({ error: null, nextOffset: 5 });
    expect(alpha.partitions[2]).toMatchObject({ partition: 9, error: { code: 'UNKNOWN_PARTITION' }, nextOffset: 0 });
    expect(alpha.partitions[2].records).toHaveLength(0);
    expect(beta.partitions[0]).toMatchObject({ error: null, nextOffset: 0, offsets: { logEndOffset: 0 } });
    expect(beta.partitions[0].records).toHaveLength(0);
    expect(values(beta.partitions[1].records)).toEqual([val('b1', 0)]);
    expect(nope.partitions[0].error.code).toBe('UNKNOWN_TOPIC');

    // Beyond the log end: OFFSET_OUT_OF_RANGE with the valid range filled in.
    const beyond = await fetchOne(clients, 'alpha', 0, 99);
    expect(beyond).toMatchObject({ error: { code: 'OFFSET_OUT_OF_RANGE' }, offsets: { logStartOffset: 0, highWatermark: 4, logEndOffset: 4 } });
  });

  it('answers every acks level with real offsets, and the data is there', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'acks', 1);
    const none = await produce(clients, 'acks', 0, makeBatch({ records: 2, tag: 'none' }), 'ACKS_NONE');
    const leader = await produce(clients, 'acks', 0, makeBatch({ records: 2, tag: 'leader' }), 'ACKS_LEADER');
    const all = await produce(clients, 'acks', 0, makeBatch({ records: 2, tag: 'all' }), 'ACKS_ALL');
    const unspecified = await produce(clients, 'acks', 0, makeBatch({ records: 2, tag: 'unspec' }), 'ACKS_UNSPECIFIED');
    expect([none, leader, all, unspecified].map((r) => [r.error, r.baseOffset, r.lastOffset])).toEqual([
      [null, 0, 1],
      [null, 2, 3],
      [null, 4, 5],
      [null, 6, 7],
    ]);
    // acks none still reports a refused request.
    const refused = await produce(clients, 'acks', 3, makeBatch(), 'ACKS_NONE');
    expect(refused.error.code).toBe('UNKNOWN_PARTITION');
    const fetched = await fetchOne(clients, 'acks', 0, 0);
    expect(values(fetched.records).map((v) => v.split('-')[0])).toEqual(['none', 'none', 'leader', 'leader', 'all', 'all', 'unspec', 'unspec']);
    // A corrupt batch stores nothing and says why.
    const bad = Buffer.from(makeBatch({ records: 2 }));
    bad[bad.length - 1] ^= 0xff;
    expect((await produce(clients, 'acks', 0, bad)).error.code).toBe('CORRUPT_BATCH');
    expect((await listOffset(clients, 'acks', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(8);
  });

  it('honours maxBytes per partition and per request, returning at least one batch', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'sizes', 2);
    for (const p of [0, 1]) {
      await produce(clients, 'sizes', p, Buffer.concat([0, 1, 2, 3].map((i) => sized(`p${p}b${i}`))));
    }
    const S = SIZED_BYTES;
    // Per partition: whole batches up to the limit.
    const two = await fetchOne(clients, 'sizes', 0, 0, { partitionMaxBytes: 2 * S + S / 2 });
    expect([batchCount(two.records), two.nextOffset]).toEqual([2, 2]);
    const exact = await fetchOne(clients, 'sizes', 0, 1, { partitionMaxBytes: 3 * S });
    expect([batchCount(exact.records), exact.nextOffset]).toEqual([3, 4]);
    // Smaller than one batch: still one batch, so a consumer always makes progress.
    const one = await fetchOne(clients, 'sizes', 0, 0, { partitionMaxBytes: 1 });
    expect([one.records.length, one.nextOffset]).toEqual([S, 1]);

    const fetchBoth = (maxBytes: number, p0MaxBytes = 0): Promise<any> =>
      clients.call('broker', 'fetch', {
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes,
        topics: [{ topic: 'sizes', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: p0MaxBytes }, { partition: 1, fetchOffset: 0, maxBytes: 0 }] }],
      });
    // Per request: the first partition uses the budget, the next gets what is left.
    let res = await fetchBoth(3 * S);
    expect(res.topics[0].partitions.map((p: any) => batchCount(p.records))).toEqual([3, 0]);
    expect(res.topics[0].partitions[1]).toMatchObject({ error: null, nextOffset: 0 });
    res = await fetchBoth(6 * S, 2 * S);
    expect(res.topics[0].partitions.map((p: any) => batchCount(p.records))).toEqual([2, 4]);
    // A request limit below one batch still returns one batch, and nothing more.
    res = await fetchBoth(1);
    expect(res.topics[0].partitions.map((p: any) => p.records.length)).toEqual([S, 0]);
    // The response never holds more than maxBytes beyond its first batch: a partition whose next
    // batch does not fit in what is left gets nothing (as in Kafka, KIP-74).
    res = await fetchBoth(3 * S + S / 2);
    const total = res.topics[0].partitions.reduce((n: number, p: any) => n + p.records.length, 0);
    expect(total).toBeLessThanOrEqual(3 * S + S / 2);
    expect(res.topics[0].partitions.map((p: any) => batchCount(p.records))).toEqual([3, 0]);
  });

  it('answers at once when minBytes are there, after maxWaitMs when they are not', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'mb', 2);
    await produce(clients, 'mb', 0, sized('x'));
    await produce(clients, 'mb', 1, sized('y'));
    const request = (minBytes: number, maxWaitMs: number): any => ({
      maxWaitMs,
      minBytes,
      maxBytes: 0,
      topics: [{ topic: 'mb', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }, { partition: 1, fetchOffset: 0, maxBytes: 0 }] }],
    });
    // Both partitions together reach minBytes: no wait.
    let started = Date.now();
    let res = await clients.call('broker', 'fetch', request(2 * SIZED_BYTES, 5000));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.topics[0].partitions.map((p: any) => batchCount(p.records))).toEqual([1, 1]);
    // Not enough: waits maxWaitMs, then returns what there is.
    started = Date.now();
    res = await clients.call('broker', 'fetch', request(10 * SIZED_BYTES, 200));
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(180);
    expect(waited).toBeLessThan(3000);
    expect(res.topics[0].partitions.map((p: any) => batchCount(p.records))).toEqual([1, 1]);
  });
});

// ---- long poll ----------------------------------------------------------------------------------

describe('long-poll fetch', () => {
  it('wakes a parked fetch as soon as another call produces', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'lp', 2);
    await produce(clients, 'lp', 0, makeBatch({ records: 2 }));
    const started = Date.now();
    const parked = clients.call('broker', 'fetch', {
      maxWaitMs: 10_000,
      minBytes: 1,
      maxBytes: 0,
      topics: [{ topic: 'lp', partitions: [{ partition: 0, fetchOffset: 2, maxBytes: 0 }, { partition: 1, fetchOffset: 0, maxBytes: 0 }] }],
    });
    await waitFor(() => running.broker.parkedFetches === 1, 'the fetch to park');
    const other = connect(`127.0.0.1:${running.port}`);
    try {
      expect(await produce(other, 'lp', 1, makeBatch({ records: 3, tag: 'woke' }))).toMatchObject({ error: null, baseOffset: 0 });
    } finally {
      other.close();
    }
    const res = await parked;
    expect(Date.now() - started).toBeLessThan(3000);
    const [p0, p1] = res.topics[0].partitions;
    expect(p0).toMatchObject({ error: null, nextOffset: 2 });
    expect(p0.records).toHaveLength(0);
    expect(values(p1.records)).toEqual([val('woke', 0), val('woke', 1), val('woke', 2)]);
    expect(p1.nextOffset).toBe(3);
    expect(running.broker.parkedFetches).toBe(0);
  });

  it('returns empty after maxWaitMs when nothing arrives', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'idle', 1);
    await produce(clients, 'idle', 0, makeBatch({ records: 2 }));
    const started = Date.now();
    const res = await clients.call('broker', 'fetch', { maxWaitMs: 200, minBytes: 1, maxBytes: 0, topics: [{ topic: 'idle', partitions: [{ partition: 0, fetchOffset: 2, maxBytes: 0 }] }] });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(180);
    expect(waited).toBeLessThan(3000);
    expect(res.topics[0].partitions[0]).toMatchObject({ error: null, nextOffset: 2, offsets: { logEndOffset: 2 } });
    expect(res.topics[0].partitions[0].records).toHaveLength(0);
    expect(running.broker.parkedFetches).toBe(0);
    expect(running.broker.activity.waiterCount).toBe(0);
  });

  it('forgets a parked fetch the client gave up on', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'cancel', 1);
    const parked = clients.call('broker', 'fetch', { maxWaitMs: 10_000, minBytes: 1, maxBytes: 0, topics: [{ topic: 'cancel', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] }, 300);
    await waitFor(() => running.broker.parkedFetches === 1, 'the fetch to park');
    expect((await failure(parked)).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => running.broker.parkedFetches === 0, 'the cancelled fetch to be forgotten');
    await waitFor(() => running.broker.activity.waiterCount === 0, 'its wake-up registration to go');
    // The partition still works for the next reader.
    await produce(clients, 'cancel', 0, makeBatch({ records: 1, tag: 'after' }));
    expect(values((await fetchOne(clients, 'cancel', 0, 0)).records)).toEqual([val('after', 0)]);
  });
});

// ---- ProduceStream ----------------------------------------------------------------------------

describe('ProduceStream', () => {
  it('answers pipelined requests in order with their correlation ids, and ends cleanly', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'ps', 2);
    const call = (clients.broker as any).produceStream() as grpc.ClientDuplexStream<any, any>;
    const inbox = new Inbox(call);
    const ids = Array.from({ length: 20 }, (_, i) => 1000 + i * 7);
    ids.forEach((correlationId, i) => {
      call.write({
        correlationId,
        // Mixed acks: a fast `leader` answer never overtakes a slower `all` before it.
        acks: i % 2 === 0 ? 'ACKS_ALL' : 'ACKS_LEADER',
        topics: [{ topic: 'ps', partitions: [{ partition: 0, records: makeBatch({ records: 2, tag: `r${i}` }) }] }],
      });
    });
    // A per-partition error is an answer like any other; the stream goes on.
    call.write({ correlationId: 5, acks: 'ACKS_ALL', topics: [{ topic: 'missing', partitions: [{ partition: 0, records: makeBatch() }] }] });
    call.write({ correlationId: 6, acks: 'ACKS_ALL', topics: [{ topic: 'ps', partitions: [{ partition: 1, records: makeBatch({ records: 3 }) }] }] });
    const answers = [];
    for (let i = 0; i < ids.length + 2; i++) answers.push(await inbox.next());
    expect(answers.map((a) => a.correlationId)).toEqual([...ids, 5, 6]);
    const bases = answers.slice(0, ids.length).map((a) => a.topics[0].partitions[0].baseOffset);
    expect(bases).toEqual(ids.map((_, i) => 2 * i));
    expect(answers[ids.length].topics[0].partitions[0].error.code).toBe('UNKNOWN_TOPIC');
    expect(answers[ids.length + 1].topics[0].partitions[0]).toMatchObject({ error: null, baseOffset: 0, lastOffset: 2 });
    call.end();
    const closed = await inbox.closed();
    expect(closed.code).toBe(grpc.status.OK);
    await inbox.until(() => inbox.ended, 'the end event');
    expect(values((await fetchOne(clients, 'ps', 0, 38)).records)).toEqual([val('r19', 0), val('r19', 1)]);
  });

  it('allows maxInFlightPerStream unanswered requests and fails the stream beyond', async () => {
    const { clients } = await startTestBroker({ set: ['limits.maxInFlightPerStream=4'] });
    await createTopic(clients, 'inflight', 1);
    const request = (correlationId: number): any => ({ correlationId, acks: 'ACKS_ALL', topics: [{ topic: 'inflight', partitions: [{ partition: 0, records: makeBatch() }] }] });

    // Exactly the limit, twice: fine.
    const ok = (clients.broker as any).produceStream() as grpc.ClientDuplexStream<any, any>;
    const okInbox = new Inbox(ok);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) ok.write(request(round * 4 + i));
      for (let i = 0; i < 4; i++) expect((await okInbox.next()).correlationId).toBe(round * 4 + i);
    }
    ok.end();
    expect((await okInbox.closed()).code).toBe(grpc.status.OK);

    // Far more than the limit, all at once: the stream fails with RESOURCE_EXHAUSTED.
    const over = (clients.broker as any).produceStream() as grpc.ClientDuplexStream<any, any>;
    const overInbox = new Inbox(over);
    for (let i = 0; i < 40; i++) over.write(request(100 + i));
    const closed = (await overInbox.closed()) as grpc.ServiceError;
    expect(closed.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(closed.metadata.get('runnel-error-code')).toEqual(['LIMIT_EXCEEDED']);
    expect(closed.details).toMatch(/in flight/);
    over.end();
    // What was answered before the failure came in order. Appended: those, plus the 4 accepted
    // but unanswered when the 5th arrived (in doubt, as after a dropped connection); the
    // request over the limit and everything after it were not.
    const answered: number[] = [];
    while (overInbox.pending > 0) answered.push((await overInbox.next()).correlationId);
    expect(answered).toEqual(answered.map((_, i) => 100 + i));
    expect((await listOffset(clients, 'inflight', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(8 + answered.length + 4);
  });
});

// ---- Subscribe --------------------------------------------------------------------------------

describe('Subscribe', () => {
  it('from -2 gets everything there, then live appends on two partitions', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'sub', 2);
    await produce(clients, 'sub', 0, makeBatch({ records: 2, tag: 'p0a' }));
    await produce(clients, 'sub', 0, makeBatch({ records: 2, tag: 'p0b' }));
    await produce(clients, 'sub', 1, makeBatch({ records: 3, tag: 'p1a' }));
    const { call, inbox } = subscribe(clients, [
      { topic: 'sub', partition: 0, startOffset: -2 },
      { topic: 'sub', partition: 1, startOffset: -2 },
    ]);
    const history = await collect(inbox, { 'sub/0': 4, 'sub/1': 3 });
    expect(history.offsets).toEqual({ 'sub/0': [0, 1, 2, 3], 'sub/1': [0, 1, 2] });
    expect(history.values['sub/0'].map((v) => v.slice(0, 5))).toEqual(['p0a-0', 'p0a-1', 'p0b-0', 'p0b-1']);
    expect(history.messages.at(-1).offsets).toMatchObject({ logStartOffset: 0 });

    await produce(clients, 'sub', 1, makeBatch({ records: 2, tag: 'live1' }));
    let live = await collect(inbox, { 'sub/1': 5 });
    expect(live.offsets['sub/1']).toEqual([3, 4]);
    expect(live.messages[0].offsets).toMatchObject({ logStartOffset: 0, highWatermark: 5, logEndOffset: 5 });
    await produce(clients, 'sub', 0, makeBatch({ records: 1, tag: 'live0' }));
    live = await collect(inbox, { 'sub/0': 5 });
    expect(live.values['sub/0']).toEqual([val('live0', 0)]);
    expect(inbox.pending).toBe(0);
    expect(running.broker.openSubscriptions).toBe(1);
    call.cancel();
    await waitFor(() => running.broker.openSubscriptions === 0, 'the subscription to close');
  });

  it('from -1 gets only new records; from an offset starts at the batch holding it', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'sub', 1);
    await produce(clients, 'sub', 0, makeBatch({ records: 2, tag: 'old0' }));
    await produce(clients, 'sub', 0, makeBatch({ records: 2, tag: 'old1' }));
    await produce(clients, 'sub', 0, makeBatch({ records: 2, tag: 'old2' }));

    const latest = subscribe(clients, [{ topic: 'sub', partition: 0, startOffset: -1 }]);
    // Once the stream is counted its cursor is placed (synchronously, at the log end).
    await waitFor(() => running.broker.openSubscriptions === 1, 'the subscription to open');
    await produce(clients, 'sub', 0, makeBatch({ records: 1, tag: 'new' }));
    const got = await collect(latest.inbox, { 'sub/0': 7 });
    expect(got.offsets['sub/0']).toEqual([6]);
    expect(got.values['sub/0']).toEqual([val('new', 0)]);
    latest.call.cancel();

    const from3 = subscribe(clients, [{ topic: 'sub', partition: 0, startOffset: 3 }]);
    const m = await from3.inbox.next();
    expect(m.error).toBeNull();
    const batches = decodeRecordBatches(m.records);
    expect(batches[0].baseOffset).toBe(2);
    expect(offsetsOf(m.records)).toEqual([2, 3, 4, 5, 6]);
    expect(m.nextOffset).toBe(7);
    from3.call.cancel();

    // maxBytes bounds each pushed message, at least one batch each.
    const small = subscribe(clients, [{ topic: 'sub', partition: 0, startOffset: -2 }], 1);
    const pushed = await collect(small.inbox, { 'sub/0': 7 });
    expect(pushed.messages.map((m) => offsetsOf(m.records))).toEqual([[0, 1], [2, 3], [4, 5], [6]]);
    small.call.cancel();
    await waitFor(() => running.broker.openSubscriptions === 0, 'the subscriptions to close');
  });

  it('reports a start beyond the end and an unknown topic per partition; the others go on', async () => {
    const { running, clients } = await startTestBroker();
    await createTopic(clients, 'sub', 2);
    await produce(clients, 'sub', 0, makeBatch({ records: 2 }));

    // The only partition fails: one error message, then the stream ends.
    const beyond = subscribe(clients, [{ topic: 'sub', partition: 0, startOffset: 50 }]);
    const err = await beyond.inbox.next();
    expect(err).toMatchObject({ topic: 'sub', partition: 0, error: { code: 'OFFSET_OUT_OF_RANGE' } });
    expect(err.records).toHaveLength(0);
    expect((await beyond.inbox.closed()).code).toBe(grpc.status.OK);

    const mixed = subscribe(clients, [
      { topic: 'nope', partition: 0, startOffset: -2 },
      { topic: 'sub', partition: 7, startOffset: -2 },
      { topic: 'sub', partition: 1, startOffset: -2 },
      { topic: 'sub', partition: 0, startOffset: 99 },
    ]);
    const errors: Record<string, string> = {};
    for (let i = 0; i < 3; i++) {
      const m = await mixed.inbox.next();
      errors[`${m.topic}/${m.partition}`] = m.error?.code;
    }
    expect(errors).toEqual({ 'nope/0': 'UNKNOWN_TOPIC', 'sub/7': 'UNKNOWN_PARTITION', 'sub/0': 'OFFSET_OUT_OF_RANGE' });
    await produce(clients, 'sub', 1, makeBatch({ records: 2, tag: 'still' }));
    const got = await collect(mixed.inbox, { 'sub/1': 2 });
    expect(got.values['sub/1']).toEqual([val('still', 0), val('still', 1)]);
    expect(mixed.inbox.error).toBeNull();
    mixed.call.cancel();
    await waitFor(() => running.broker.openSubscriptions === 0, 'the subscription to close');
  });
});

// ---- ListOffsets ------------------------------------------------------------------------------

describe('ListOffsets', () => {
  it('finds earliest, latest and offsets by timestamp', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'times', 1);
    await produce(clients, 'times', 0, makeBatch({ timestamps: [T0, T0 + 1] })); // offsets 0, 1
    await produce(clients, 'times', 0, makeBatch({ timestamps: [T0 + 100, T0 + 300, T0 + 200] })); // 2, 3, 4
    await produce(clients, 'times', 0, makeBatch({ timestamps: [T0 + 400] })); // 5
    const at = async (timestampMs: number): Promise<[number, number]> => {
      const r = await listOffset(clients, 'times', 0, 'OFFSET_SPEC_TIMESTAMP', timestampMs);
      expect(r.error).toBeNull();
      return [r.offset, r.timestampMs];
    };
    expect(await listOffset(clients, 'times', 0, 'OFFSET_SPEC_EARLIEST')).toMatchObject({ error: null, offset: 0, timestampMs: -1, offsets: { logStartOffset: 0, logEndOffset: 6 } });
    expect(await listOffset(clients, 'times', 0, 'OFFSET_SPEC_LATEST')).toMatchObject({ error: null, offset: 6, timestampMs: -1 });
    expect(await at(0)).toEqual([0, T0]);
    expect(await at(T0)).toEqual([0, T0]);
    expect(await at(T0 + 1)).toEqual([1, T0 + 1]);
    expect(await at(T0 + 50)).toEqual([2, T0 + 100]);
    expect(await at(T0 + 250)).toEqual([3, T0 + 300]);
    expect(await at(T0 + 301)).toEqual([5, T0 + 400]);
    expect(await at(T0 + 400)).toEqual([5, T0 + 400]);
    // After every record: the log end, with no timestamp.
    expect(await at(T0 + 401)).toEqual([6, -1]);

    const mixed = await clients.call('broker', 'listOffsets', {
      partitions: [
        { topic: 'times', partition: 0, spec: 'OFFSET_SPEC_LATEST', timestampMs: 0 },
        { topic: 'nope', partition: 0, spec: 'OFFSET_SPEC_LATEST', timestampMs: 0 },
        { topic: 'times', partition: 4, spec: 'OFFSET_SPEC_EARLIEST', timestampMs: 0 },
        { topic: 'times', partition: 0, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: -5 },
      ],
    });
    expect(mixed.partitions.map((p: any) => p.error?.code ?? null)).toEqual([null, 'UNKNOWN_TOPIC', 'UNKNOWN_PARTITION', 'INVALID_ARGUMENT']);
    expect(mixed.partitions[0].offset).toBe(6);
    expect(mixed.partitions[1].offset).toBe(-1);
  });
});

// ---- retention and delete-records ---------------------------------------------------------------

describe('retention and DeleteRecords through the API', () => {
  it('DeleteRecords moves the log start; fetches below it are out of range', async () => {
    const { clients } = await startTestBroker();
    await createTopic(clients, 'dr', 2);
    for (let i = 0; i < 5; i++) await produce(clients, 'dr', 0, makeBatch({ records: 2, tag: `b${i}` }));
    await produce(clients, 'dr', 1, makeBatch({ records: 3 }));
    const res = await clients.call('admin', 'deleteRecords', {
      partitions: [
        { topic: 'dr', partition: 0, beforeOffset: 4 },
        { topic: 'dr', partition: 1, beforeOffset: 10 },
        { topic: 'nope', partition: 0, beforeOffset: 1 },
      ],
    });
    expect(res.partitions.map((p: any) => [p.topic, p.partition, p.error?.code ?? null])).toEqual([
      ['dr', 0, null],
      ['dr', 1, 'OFFSET_OUT_OF_RANGE'],
      ['nope', 0, 'UNKNOWN_TOPIC'],
    ]);
    expect(res.partitions[0].logStartOffset).toBe(4);

    const described = await describeTopic(clients, 'dr');
    expect(described.partitions[0].offsets).toEqual({ logStartOffset: 4, highWatermark: 10, durableHighWatermark: 10, logEndOffset: 10 });
    expect(described.partitions[1].offsets).toEqual({ logStartOffset: 0, highWatermark: 3, durableHighWatermark: 3, logEndOffset: 3 });

    const below = await fetchOne(clients, 'dr', 0, 2);
    expect(below).toMatchObject({ error: { code: 'OFFSET_OUT_OF_RANGE', retriable: false }, offsets: { logStartOffset: 4, highWatermark: 10, logEndOffset: 10 }, nextOffset: 2 });
    expect(below.records).toHaveLength(0);
    const from = await fetchOne(clients, 'dr', 0, 4);
    expect(offsetsOf(from.records)).toEqual([4, 5, 6, 7, 8, 9]);
    expect((await listOffset(clients, 'dr', 0, 'OFFSET_SPEC_EARLIEST')).offset).toBe(4);
    // An earlier offset than the current start changes nothing; -1 means "up to the high watermark".
    expect((await clients.call('admin', 'deleteRecords', { partitions: [{ topic: 'dr', partition: 0, beforeOffset: 2 }] })).partitions[0]).toMatchObject({ error: null, logStartOffset: 4 });
    expect((await clients.call('admin', 'deleteRecords', { partitions: [{ topic: 'dr', partition: 1, beforeOffset: -1 }] })).partitions[0]).toMatchObject({ error: null, logStartOffset: 3 });
    expect((await fetchOne(clients, 'dr', 1, 3)).records).toHaveLength(0);
    expect(await produce(clients, 'dr', 1, makeBatch())).toMatchObject({ error: null, baseOffset: 3, logStartOffset: 3 });
  });

  it('retentionBytes and retentionMs, altered through the API, remove old segments', async () => {
    const { running, clients } = await startTestBroker();
    const small = { segmentBytes: '1024', maxMessageBytes: '1024', retentionMs: '-1' };
    await createTopic(clients, 'rb', 1, small);
    await createTopic(clients, 'rm', 1, small);
    // rb: 12 batches of ~170 bytes over several 1 KiB segments.
    await produce(clients, 'rb', 0, Buffer.concat(Array.from({ length: 12 }, (_, i) => sized(`rb${i}`))));
    const before = (await describeTopic(clients, 'rb')).partitions[0];
    expect(before.segments).toBeGreaterThanOrEqual(3);
    expect(before.sizeBytes).toBe(12 * SIZED_BYTES);
    // rm: old records (10 days ago), then new ones, in a segment of their own.
    const now = Date.now();
    const oldTs = now - 10 * 24 * 3600 * 1000;
    await produce(clients, 'rm', 0, Buffer.concat(Array.from({ length: 8 }, (_, i) => makeBatch({ records: 1, valueBytes: 100, tag: `old${i}`, timestampMs: oldTs }))));
    // Segments roll by segmentMs on the broker's clock, not the records' (issue 11, finding 1):
    // roll here, as 10 days of broker time would have.
    running.broker.logs.getLog('rm', 0)!.rollLocked();
    await produce(clients, 'rm', 0, Buffer.concat(Array.from({ length: 2 }, (_, i) => makeBatch({ records: 1, valueBytes: 100, tag: `new${i}`, timestampMs: now }))));

    // With retention off, running it removes nothing.
    running.broker.logs.runRetention();
    expect((await describeTopic(clients, 'rb')).partitions[0].offsets.logStartOffset).toBe(0);
    expect((await describeTopic(clients, 'rm')).partitions[0].offsets.logStartOffset).toBe(0);

    const altered = await clients.call('admin', 'alterTopicConfigs', { name: 'rb', configs: [{ name: 'retentionBytes', value: '1024' }], validateOnly: false });
    expect(altered.error).toBeNull();
    expect(configMap(altered.configs)).toMatchObject({ retentionBytes: '1024', segmentBytes: '1024', retentionMs: '-1' });
    expect((await clients.call('admin', 'alterTopicConfigs', { name: 'rm', configs: [{ name: 'retentionMs', value: String(24 * 3600 * 1000) }], validateOnly: false })).error).toBeNull();
    expect(running.broker.logs.runRetention()).toBeGreaterThan(0);

    const rb = (await describeTopic(clients, 'rb')).partitions[0];
    expect(rb.offsets.logStartOffset).toBeGreaterThan(0);
    expect(rb.offsets.logEndOffset).toBe(12);
    expect(rb.segments).toBeLessThan(before.segments);
    // Retention by bytes keeps at least retentionBytes (whole segments).
    expect(rb.sizeBytes).toBeGreaterThanOrEqual(1024 - SIZED_BYTES);
    expect(rb.sizeBytes).toBeLessThan(before.sizeBytes);
    expect((await fetchOne(clients, 'rb', 0, 0)).error.code).toBe('OFFSET_OUT_OF_RANGE');
    expect((await listOffset(clients, 'rb', 0, 'OFFSET_SPEC_EARLIEST')).offset).toBe(rb.offsets.logStartOffset);
    const kept = await fetchOne(clients, 'rb', 0, rb.offsets.logStartOffset);
    expect(values(kept.records).at(-1)).toMatch(/^rb11-0-/);
    expect(offsetsOf(kept.records)).toEqual(Array.from({ length: 12 - rb.offsets.logStartOffset }, (_, i) => rb.offsets.logStartOffset + i));

    const rm = (await describeTopic(clients, 'rm')).partitions[0];
    expect(rm.offsets).toEqual({ logStartOffset: 8, highWatermark: 10, durableHighWatermark: 10, logEndOffset: 10 });
    const fresh = await fetchOne(clients, 'rm', 0, 8);
    expect(values(fresh.records).map((v) => v.slice(0, 5))).toEqual(['new0-', 'new1-']);
    expect((await fetchOne(clients, 'rm', 0, 7)).error.code).toBe('OFFSET_OUT_OF_RANGE');
  });
});

// ---- Admin ------------------------------------------------------------------------------------

describe('Admin', () => {
  it('creates topics: validate only, duplicates, bad configs, bad partition counts', async () => {
    const { clients } = await startTestBroker();
    const entries = (configs: Record<string, string>): any[] => Object.entries(configs).map(([name, value]) => ({ name, value }));
    const dry = await clients.call('admin', 'createTopics', { topics: [{ name: 'dry', partitions: 2, configs: entries({ retentionMs: '1000' }) }], validateOnly: true });
    expect(dry.topics).toEqual([{ name: 'dry', error: null }]);
    const dryBad = await clients.call('admin', 'createTopics', { topics: [{ name: 'dry', partitions: 2, configs: entries({ retentionMs: 'x' }) }], validateOnly: true });
    expect(dryBad.topics[0].error.code).toBe('INVALID_CONFIG');
    expect((await clients.call('admin', 'listTopics', { includeInternal: true })).topics).toEqual([]);
    expect((await describeTopic(clients, 'dry')).error.code).toBe('UNKNOWN_TOPIC');

    const res = await clients.call('admin', 'createTopics', {
      topics: [
        { name: 'good', partitions: 3, configs: entries({ retentionMs: '3600000', cleanupPolicy: 'delete' }) },
        { name: 'good', partitions: 1, configs: [] },
        { name: 'badnum', partitions: 1, configs: entries({ retentionMs: 'soon' }) },
        { name: 'badkey', partitions: 1, configs: entries({ retention: '1' }) },
        { name: 'badpolicy', partitions: 1, configs: entries({ cleanupPolicy: 'shred' }) },
        { name: 'badsegment', partitions: 1, configs: entries({ segmentBytes: '10' }) },
        { name: 'twice', partitions: 1, configs: [{ name: 'retentionMs', value: '1' }, { name: 'retentionMs', value: '2' }] },
        { name: 'zero', partitions: 0, configs: [] },
        { name: 'bad/name', partitions: 1, configs: [] },
        { name: 'good2', partitions: 1, configs: [] },
      ],
    });
    expect(res.topics.map((t: any) => [t.name, t.error?.code ?? null])).toEqual([
      ['good', null],
      ['good', 'TOPIC_ALREADY_EXISTS'],
      ['badnum', 'INVALID_CONFIG'],
      ['badkey', 'INVALID_CONFIG'],
      ['badpolicy', 'INVALID_CONFIG'],
      ['badsegment', 'INVALID_CONFIG'],
      ['twice', 'INVALID_CONFIG'],
      ['zero', 'INVALID_ARGUMENT'],
      ['bad/name', 'INVALID_TOPIC_NAME'],
      ['good2', null],
    ]);
    expect(res.topics[3].error.message).toMatch(/retention/);
    const listed = await clients.call('admin', 'listTopics', { includeInternal: false });
    expect(listed.topics).toEqual([
      { name: 'good', partitions: 3, internal: false },
      { name: 'good2', partitions: 1, internal: false },
    ]);
    // The existing topic was not changed by the refused duplicate.
    expect(configMap((await describeTopic(clients, 'good')).configs).retentionMs).toBe('3600000');
  });

  it('lists, describes, alters, deletes topics and describes the cluster', async () => {
    const { running, clients } = await startTestBroker();
    const createdAt = Date.now();
    await createTopic(clients, 'orders', 2, { retentionMs: '3600000', durability: 'all' });
    // A "__" name outside the reserved ones is an ordinary topic (reserved-topics.test.ts has those).
    await createTopic(clients, '__internal_state', 1);
    expect((await clients.call('admin', 'listTopics', {})).topics.map((t: any) => t.name)).toEqual(['__internal_state', 'orders']);
    const all = await clients.call('admin', 'listTopics', { includeInternal: true });
    expect(all.topics).toEqual([
      { name: '__internal_state', partitions: 1, internal: false },
      { name: 'orders', partitions: 2, internal: false },
    ]);

    const b1 = makeBatch({ records: 3 });
    const b2 = makeBatch({ records: 2 });
    await produce(clients, 'orders', 1, b1);
    await produce(clients, 'orders', 1, b2);
    const described = await clients.call('admin', 'describeTopics', { names: ['orders', 'nope'] });
    const orders = described.topics[0];
    expect(orders).toMatchObject({ name: 'orders', error: null, internal: false });
    expect(orders.createdAtMs).toBeGreaterThanOrEqual(createdAt - 1000);
    expect(orders.createdAtMs).toBeLessThanOrEqual(Date.now());
    expect(configMap(orders.configs)).toEqual({
      retentionMs: '3600000',
      retentionBytes: '-1',
      segmentBytes: '1073741824',
      segmentMs: '604800000',
      deleteRetentionMs: '86400000',
      maxMessageBytes: '1048588',
      cleanupPolicy: 'delete',
      durability: 'all',
      messageTimestampType: 'CreateTime',
      messageTimestampAfterMaxMs: '3600000',
      messageTimestampBeforeMaxMs: '9007199254740991',
    });
    expect(orders.partitions).toEqual([
      { partition: 0, offsets: { logStartOffset: 0, highWatermark: 0, durableHighWatermark: 0, logEndOffset: 0 }, sizeBytes: 0, segments: 1, leaderId: 0, leaderEpoch: 0 },
      { partition: 1, offsets: { logStartOffset: 0, highWatermark: 5, durableHighWatermark: 5, logEndOffset: 5 }, sizeBytes: b1.length + b2.length, segments: 1, leaderId: 0, leaderEpoch: 0 },
    ]);
    expect(described.topics[1]).toMatchObject({ name: 'nope', error: { code: 'UNKNOWN_TOPIC' } });
    expect((await describeTopic(clients, '__internal_state')).internal).toBe(false);

    // Alter: keys not named keep their value; validateOnly changes nothing; unknown keys are refused.
    const dry = await clients.call('admin', 'alterTopicConfigs', { name: 'orders', configs: [{ name: 'retentionBytes', value: '5000000' }], validateOnly: true });
    expect(configMap(dry.configs).retentionBytes).toBe('5000000');
    expect(configMap((await describeTopic(clients, 'orders')).configs).retentionBytes).toBe('-1');
    const altered = await clients.call('admin', 'alterTopicConfigs', { name: 'orders', configs: [{ name: 'retentionBytes', value: '5000000' }], validateOnly: false });
    expect(configMap(altered.configs)).toMatchObject({ retentionBytes: '5000000', retentionMs: '3600000', durability: 'all' });
    expect(configMap((await describeTopic(clients, 'orders')).configs)).toMatchObject({ retentionBytes: '5000000', retentionMs: '3600000' });
    const alter = (name: string, configs: Record<string, string>): Promise<{ code: unknown; message: string }> => refusal(clients.call('admin', 'alterTopicConfigs', { name, configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })), validateOnly: false }));
    const unknownKey = await alter('orders', { flavour: 'x', retentionMs: '1' });
    expect(unknownKey.code).toBe('INVALID_CONFIG');
    expect(unknownKey.message).toMatch(/flavour/);
    expect((await alter('orders', { retentionMs: '-7' })).code).toBe('INVALID_CONFIG');
    expect((await alter('orders', { segmentBytes: '2048' })).code).toBe('INVALID_CONFIG'); // below maxMessageBytes
    expect(configMap((await describeTopic(clients, 'orders')).configs)).toMatchObject({ retentionMs: '3600000', segmentBytes: '1073741824' });
    expect((await alter('nope', { retentionMs: '1' })).code).toBe('UNKNOWN_TOPIC');

    // Delete: gone from list and describe; produce and fetch see UNKNOWN_TOPIC; the name can be reused.
    const deleted = await clients.call('admin', 'deleteTopics', { names: ['orders', 'nope'] });
    expect(deleted.topics.map((t: any) => [t.name, t.error?.code ?? null])).toEqual([
      ['orders', null],
      ['nope', 'UNKNOWN_TOPIC'],
    ]);
    expect((await clients.call('admin', 'listTopics', { includeInternal: true })).topics.map((t: any) => t.name)).toEqual(['__internal_state']);
    expect((await produce(clients, 'orders', 1, makeBatch())).error.code).toBe('UNKNOWN_TOPIC');
    expect((await fetchOne(clients, 'orders', 1, 0)).error.code).toBe('UNKNOWN_TOPIC');
    await createTopic(clients, 'orders', 1);
    expect(await produce(clients, 'orders', 0, makeBatch())).toMatchObject({ error: null, baseOffset: 0 });
    expect((await describeTopic(clients, 'orders')).partitions).toHaveLength(1);

    const cluster = await clients.call('admin', 'describeCluster', {});
    expect(cluster.clusterId).not.toBe('');
    expect(cluster.controllerId).toBe(0);
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.brokers[0]).toMatchObject({ brokerId: 0, host: '127.0.0.1', port: running.port });
    expect(cluster.brokers[0].version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

// ---- restart ----------------------------------------------------------------------------------

describe('restart', () => {
  it('keeps topics, configs, offsets and records', async () => {
    const first = await startTestBroker();
    const { clients } = first;
    await createTopic(clients, 'kept', 2, { retentionMs: '123456789', segmentBytes: '1024', maxMessageBytes: '1024' });
    await createTopic(clients, 'other', 1);
    for (let i = 0; i < 30; i++) await produce(clients, 'kept', i % 2, sized(`k${i}`), i % 3 === 0 ? 'ACKS_LEADER' : 'ACKS_ALL');
    await clients.call('admin', 'deleteRecords', { partitions: [{ topic: 'kept', partition: 0, beforeOffset: 3 }] });
    await clients.call('admin', 'deleteTopics', { names: ['other'] });
    const before = await describeTopic(clients, 'kept');
    const records0 = await readAll(clients, 'kept', 0, 3);
    const records1 = await readAll(clients, 'kept', 1, 0);
    expect(records0.map((r) => r.offset)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(before.partitions[0].segments).toBeGreaterThan(1);
    await stopTestBroker(first.running);

    const second = await startTestBroker({ dataDir: first.dataDir });
    const c2 = second.clients;
    expect((await c2.call('admin', 'listTopics', { includeInternal: true })).topics).toEqual([{ name: 'kept', partitions: 2, internal: false }]);
    const after = await describeTopic(c2, 'kept');
    expect(after.configs).toEqual(before.configs);
    expect(after.createdAtMs).toBe(before.createdAtMs);
    expect(after.partitions).toEqual(before.partitions);
    expect(after.partitions[0].offsets).toEqual({ logStartOffset: 3, highWatermark: 15, durableHighWatermark: 15, logEndOffset: 15 });
    // The same records at the same offsets (after a restart they come from the log, not the cache).
    expect(await readAll(c2, 'kept', 0, 3)).toEqual(records0);
    expect(await readAll(c2, 'kept', 1, 0)).toEqual(records1);
    expect((await fetchOne(c2, 'kept', 0, 0)).error.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(await produce(c2, 'kept', 1, sized('later'))).toMatchObject({ error: null, baseOffset: 15 });
    expect((await listOffset(c2, 'kept', 1, 'OFFSET_SPEC_LATEST')).offset).toBe(16);
  });
});

// ---- idempotence --------------------------------------------------------------------------------

describe('idempotent produce', () => {
  it('answers duplicates with the first offsets, refuses gaps and fenced epochs, and survives restarts', async () => {
    const first = await startTestBroker();
    let clients = first.clients;
    await createTopic(clients, 'idem', 2);
    const init = await clients.call('broker', 'initProducerId', { transactionalId: '', producerId: -1, producerEpoch: -1 });
    expect(init.error).toBeNull();
    expect(init.producerId).toBeGreaterThanOrEqual(1);
    expect(init.producerEpoch).toBe(0);
    const pid = init.producerId;
    const second = await clients.call('broker', 'initProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 });
    expect(second.producerId).not.toBe(pid);

    const b0 = idempotentBatch(pid, 0, 0, 3, 'first');
    expect(await produce(clients, 'idem', 0, b0)).toMatchObject({ error: null, baseOffset: 0, lastOffset: 2, duplicate: false });
    const retry = await produce(clients, 'idem', 0, b0);
    expect(retry).toMatchObject({ error: null, baseOffset: 0, lastOffset: 2, duplicate: true });
    expect((await listOffset(clients, 'idem', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(3);
    const b1 = idempotentBatch(pid, 0, 3, 2, 'second');
    expect(await produce(clients, 'idem', 0, b1)).toMatchObject({ error: null, baseOffset: 3, lastOffset: 4, duplicate: false });

    // A gap: OUT_OF_ORDER_SEQUENCE for that partition; the other partition of the request is appended.
    const gap = await clients.call('broker', 'produce', {
      correlationId: 9,
      acks: 'ACKS_ALL',
      topics: [
        {
          topic: 'idem',
          partitions: [
            { partition: 0, records: idempotentBatch(pid, 0, 9, 1, 'gap') },
            { partition: 1, records: idempotentBatch(pid, 0, 0, 2, 'p1') },
          ],
        },
      ],
    });
    expect(gap.topics[0].partitions[0]).toMatchObject({ partition: 0, baseOffset: -1, error: { code: 'OUT_OF_ORDER_SEQUENCE', retriable: false } });
    expect(gap.topics[0].partitions[1]).toMatchObject({ partition: 1, error: null, baseOffset: 0, lastOffset: 1 });
    expect((await listOffset(clients, 'idem', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(5);
    // Ids this broker never handed out are refused.
    expect((await produce(clients, 'idem', 0, idempotentBatch(pid + 5000, 0, 0, 1, 'stranger'))).error.code).toBe('UNKNOWN_PRODUCER_ID');

    // Restart (clean: producer-state snapshot): a retry of the last batch is still a duplicate.
    await stopTestBroker(first.running);
    const restarted = await startTestBroker({ dataDir: first.dataDir });
    clients = restarted.clients;
    expect(await produce(clients, 'idem', 0, b1)).toMatchObject({ error: null, baseOffset: 3, lastOffset: 4, duplicate: true });
    expect(await produce(clients, 'idem', 0, b0)).toMatchObject({ error: null, baseOffset: 0, lastOffset: 2, duplicate: true });
    expect((await listOffset(clients, 'idem', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(5);
    // Ids are never handed out twice across restarts.
    const afterRestart = await clients.call('broker', 'initProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 });
    expect(afterRestart.producerId).toBeGreaterThan(Math.max(pid, second.producerId));

    // Restart without the snapshot: the state is replayed from the log's batch headers.
    await stopTestBroker(restarted.running);
    let snapshots = 0;
    for (const dir of fs.readdirSync(first.dataDir)) {
      if (!fs.statSync(path.join(first.dataDir, dir)).isDirectory()) continue;
      for (const file of fs.readdirSync(path.join(first.dataDir, dir)).filter((name) => name.endsWith('.snapshot'))) {
        fs.rmSync(path.join(first.dataDir, dir, file));
        snapshots++;
      }
    }
    expect(snapshots).toBeGreaterThan(0);
    const replayed = await startTestBroker({ dataDir: first.dataDir });
    clients = replayed.clients;
    expect(await produce(clients, 'idem', 0, b1)).toMatchObject({ error: null, baseOffset: 3, lastOffset: 4, duplicate: true });
    expect(await produce(clients, 'idem', 1, idempotentBatch(pid, 0, 0, 2, 'p1'))).toMatchObject({ error: null, baseOffset: 0, duplicate: true });
    expect((await produce(clients, 'idem', 0, idempotentBatch(pid, 0, 6, 1, 'gap2'))).error.code).toBe('OUT_OF_ORDER_SEQUENCE');

    // A new epoch for the same id, bumped by the producer itself (KIP-360: from sequence 0); once
    // it has written, the old epoch is fenced. InitProducerId does not bump epochs of idempotent
    // producers (see producer-ids.test.ts).
    expect(await produce(clients, 'idem', 0, idempotentBatch(pid, 1, 0, 1, 'epoch1'))).toMatchObject({ error: null, baseOffset: 5, duplicate: false });
    const fenced = await produce(clients, 'idem', 0, idempotentBatch(pid, 0, 5, 1, 'zombie'));
    expect(fenced).toMatchObject({ baseOffset: -1, error: { code: 'PRODUCER_FENCED' } });
    expect((await produce(clients, 'idem', 0, b1)).error.code).toBe('PRODUCER_FENCED');
    expect((await listOffset(clients, 'idem', 0, 'OFFSET_SPEC_LATEST')).offset).toBe(6);
    const named = await failure(clients.call('broker', 'initProducerId', { transactionalId: '', producerId: 999_999_999, producerEpoch: 0 }));
    expect(named).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, runnelCode: 'INVALID_ARGUMENT' });
  });
});

// ---- auto-create ------------------------------------------------------------------------------

describe('auto-create topics', () => {
  it('creates a topic on first produce when enabled', async () => {
    const { clients } = await startTestBroker({ set: ['autoCreateTopics=true', 'defaultPartitions=2'] });
    expect(await produce(clients, 'auto', 1, makeBatch({ records: 2 }))).toMatchObject({ error: null, baseOffset: 0, lastOffset: 1 });
    expect((await clients.call('admin', 'listTopics', {})).topics).toEqual([{ name: 'auto', partitions: 2, internal: false }]);
    expect(offsetsOf((await fetchOne(clients, 'auto', 1, 0)).records)).toEqual([0, 1]);
    expect((await produce(clients, 'bad name', 0, makeBatch())).error.code).toBe('INVALID_TOPIC_NAME');
    // Fetch does not create topics.
    expect((await fetchOne(clients, 'ghost', 0, 0)).error.code).toBe('UNKNOWN_TOPIC');
    expect((await clients.call('admin', 'listTopics', {})).topics.map((t: any) => t.name)).toEqual(['auto']);
  });

  it('refuses unknown topics when disabled (the default)', async () => {
    const { clients } = await startTestBroker();
    expect((await produce(clients, 'auto', 0, makeBatch())).error.code).toBe('UNKNOWN_TOPIC');
    expect((await clients.call('admin', 'listTopics', {})).topics).toEqual([]);
  });
});

// ---- health and reflection ----------------------------------------------------------------------

describe('generic gRPC tooling', () => {
  it('serves grpc.health.v1 and server reflection', async () => {
    const { running } = await startTestBroker();
    const address = `127.0.0.1:${running.port}`;
    const health = (grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as any).grpc.health.v1;
    const healthClient = new health.Health(address, grpc.credentials.createInsecure());
    const check = (service: string): Promise<any> =>
      new Promise((resolve, reject) => {
        healthClient.check({ service }, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res)));
      });
    try {
      expect(await check('')).toEqual({ status: 'SERVING' });
      expect(await check('runnel.v1.Broker')).toEqual({ status: 'SERVING' });
      expect(await check('runnel.v1.Admin')).toEqual({ status: 'SERVING' });
      expect((await failure(check('no.such.Service'))).code).toBe(grpc.status.NOT_FOUND);
    } finally {
      healthClient.close();
    }

    const reflectionProto = fileURLToPath(new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url));
    const reflection = (grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: false })) as any).grpc.reflection.v1;
    const reflectionClient = new reflection.ServerReflection(address, grpc.credentials.createInsecure());
    try {
      const stream = reflectionClient.serverReflectionInfo({ deadline: Date.now() + 5000 }) as grpc.ClientDuplexStream<any, any>;
      const inbox = new Inbox(stream);
      stream.write({ listServices: '' });
      const listed = await inbox.next();
      const names = listed.listServicesResponse.service.map((s: any) => s.name);
      expect(names).toEqual(expect.arrayContaining(['runnel.v1.Broker', 'runnel.v1.Admin']));
      stream.write({ fileContainingSymbol: 'runnel.v1.Broker' });
      const file = await inbox.next();
      expect(file.fileDescriptorResponse.fileDescriptorProto.length).toBeGreaterThan(0);
      stream.end();
      expect((await inbox.closed()).code).toBe(grpc.status.OK);
    } finally {
      reflectionClient.close();
    }
  });
});

// ---- metrics ----------------------------------------------------------------------------------

describe('metrics', () => {
  it('serves Prometheus metrics with sane values', async () => {
    const dataDir = tempDir('runnel-metrics-');
    const config = loadBrokerConfig({ flags: { data: dataDir, listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0', logLevel: 'silent' }, env: {} });
    const running = await startBroker(config, silentLogger);
    const clients = connect(`127.0.0.1:${running.port}`);
    let sub: ReturnType<typeof subscribe> | undefined;
    try {
      expect(running.metricsPort).toBeGreaterThan(0);
      await createTopic(clients, 'm', 2);
      const b1 = makeBatch({ records: 3 });
      const b2 = makeBatch({ records: 4 });
      await produce(clients, 'm', 0, b1);
      await produce(clients, 'm', 1, b2);
      await produce(clients, 'nope', 0, makeBatch());
      await fetchOne(clients, 'm', 0, 0);
      sub = subscribe(clients, [{ topic: 'm', partition: 1, startOffset: -2 }]);
      await collect(sub.inbox, { 'm/1': 4 });

      const res = await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await res.text();
      const sample = (name: string, labels: Record<string, string> = {}): number | undefined => {
        for (const line of text.split('\n')) {
          if (line.startsWith('#')) continue;
          const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
          if (match === null || match[1] !== name) continue;
          const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
          if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
        }
        return undefined;
      };
      expect(sample('runnel_bytes_in_total', { topic: 'm' })).toBe(b1.length + b2.length);
      expect(sample('runnel_records_in_total', { topic: 'm' })).toBe(7);
      expect(sample('runnel_requests_total', { rpc: 'Produce', code: 'NONE' })).toBe(3);
      expect(sample('runnel_requests_total', { rpc: 'CreateTopics', code: 'NONE' })).toBe(1);
      expect(sample('runnel_requests_total', { rpc: 'Fetch', code: 'NONE' })).toBe(1);
      expect(sample('runnel_partition_log_end_offset', { topic: 'm', partition: '0' })).toBe(3);
      expect(sample('runnel_partition_log_end_offset', { topic: 'm', partition: '1' })).toBe(4);
      expect(sample('runnel_partition_size_bytes', { topic: 'm', partition: '1' })).toBe(b2.length);
      expect(sample('runnel_subscribe_streams')).toBe(1);
      expect(sample('runnel_parked_fetches')).toBe(0);
      expect(sample('runnel_bytes_out_total', { topic: 'm' })).toBe(b1.length + b2.length);
      expect(sample('runnel_request_duration_seconds_count', { rpc: 'Produce', code: 'NONE' })).toBe(3);
      expect(sample('runnel_process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(sample('runnel_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${running.metricsPort}/other`)).status).toBe(404);

      sub.call.cancel();
      await waitFor(() => running.broker.openSubscriptions === 0, 'the subscription to close');
      const after = await (await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`)).text();
      expect(after).toMatch(/^runnel_subscribe_streams 0$/m);
    } finally {
      sub?.call.cancel();
      clients.close();
      await running.close();
    }
  });
});
