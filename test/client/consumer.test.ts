/**
 * The Consumer against a real broker (in this process, port 0). Test data is produced with
 * plain Produce calls of hand-encoded batches (no SDK producer), so what is checked is the
 * consumer alone: round trips, every way to start, seek, pause, tailing, backpressure, offset
 * resets, errors, lag and close, over both transports where it matters.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin/admin.js';
import { CONNECTION_DEFAULTS, Connection } from '../../src/client/connection.js';
import { Consumer } from '../../src/client/consumer/consumer.js';
import type { ConsumerMessage, ConsumerOptions } from '../../src/client/consumer/index.js';
import { json } from '../../src/client/serialization.js';
import { RunnelError } from '../../src/common/errors.js';
import { Codec } from '../../src/format/batch-header.js';
import { decodeRecordBatches, encodeRecordBatch, type RecordInput } from '../../src/format/record-batch.js';
import { freePort, startTestBroker, stopTestBroker } from '../broker/helpers.js';
import { makeBatch, rng } from '../storage/helpers.js';

// ---- helpers ----------------------------------------------------------------------------------

const T0 = 1_700_000_000_000;
const open: { close(): unknown }[] = [];

afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Env {
  connection: Connection;
  admin: Admin;
  running: Awaited<ReturnType<typeof startTestBroker>>['running'];
  dataDir: string;
}

async function setup(options: { set?: string[]; dataDir?: string; connection?: Partial<ConstructorParameters<typeof Connection>[0]> } = {}): Promise<Env> {
  const { running, dataDir } = await startTestBroker({ set: options.set, dataDir: options.dataDir });
  const connection = new Connection({ brokers: [`127.0.0.1:${running.port}`], ...options.connection });
  open.push(connection);
  return { connection, admin: new Admin(connection), running, dataDir };
}

function consumerOf<V = Buffer>(env: Env, options: ConsumerOptions<V> = {}): Consumer<V> {
  const consumer = new Consumer<V>(env.connection, { retryBackoffMs: 20, retryBackoffMsMax: 200, ...options });
  open.push(consumer);
  return consumer;
}

/** Appends batches (concatenated in one request); resolves with the first offset. */
async function produce(env: Env, topic: string, partition: number, ...batches: Buffer[]): Promise<number> {
  const records = Buffer.concat(batches);
  const res = await env.connection.unary<any>('broker', 'produce', { correlationId: 1, acks: 'ACKS_LEADER', topics: [{ topic, partitions: [{ partition, records }] }] });
  const p = res.topics[0].partitions[0];
  expect(p.error).toBeNull();
  return p.baseOffset;
}

/** `count` records tagged `tag` in batches of `perBatch` (values "tag-i"), timestamps T0 + i * stepMs. */
async function produceValues(env: Env, topic: string, partition: number, count: number, options: { tag?: string; perBatch?: number; stepMs?: number; codec?: Codec } = {}): Promise<void> {
  const { tag = 'v', perBatch = 10, stepMs = 1, codec = Codec.None } = options;
  const batches: Buffer[] = [];
  for (let start = 0; start < count; start += perBatch) {
    const records = [];
    for (let i = start; i < Math.min(count, start + perBatch); i++) records.push({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`), timestampMs: T0 + i * stepMs });
    batches.push(encodeRecordBatch({ records, codec }));
  }
  for (let i = 0; i < batches.length; i += 50) await produce(env, topic, partition, ...batches.slice(i, i + 50));
}

/** Reads a consumer's message iterator with timeouts, without losing a message to a timed-out wait. */
class Reader<V = Buffer> {
  private readonly it: AsyncIterator<ConsumerMessage<V>>;
  private pending: Promise<IteratorResult<ConsumerMessage<V>>> | null = null;

  constructor(consumer: Consumer<V>) {
    this.it = consumer[Symbol.asyncIterator]();
  }

  /** The next message, 'idle' if none came within `waitMs`, 'done' once the iterator ended. */
  async next(waitMs = 10_000): Promise<ConsumerMessage<V> | 'idle' | 'done'> {
    this.pending ??= this.it.next();
    const result = await Promise.race([this.pending, sleep(waitMs).then(() => 'idle' as const)]);
    if (result === 'idle') return 'idle';
    this.pending = null;
    return result.done === true ? 'done' : result.value;
  }

  async take(count: number, waitMs = 10_000): Promise<ConsumerMessage<V>[]> {
    const out: ConsumerMessage<V>[] = [];
    while (out.length < count) {
      const m = await this.next(waitMs);
      if (typeof m === 'string') throw new Error(`after ${out.length} of ${count} messages: ${m}`);
      out.push(m);
    }
    return out;
  }

  async rejection(waitMs = 10_000): Promise<RunnelError> {
    for (;;) {
      const m = await this.next(waitMs).catch((err: unknown) => err);
      if (m instanceof RunnelError) return m;
      if (typeof m === 'string') throw new Error(`expected an error, got ${m}`);
    }
  }
}

const values = (messages: ConsumerMessage<any>[]): string[] => messages.map((m) => (m.value === null ? 'null' : String(m.value)));
const offsets = (messages: ConsumerMessage<any>[]): number[] => messages.map((m) => m.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

// ---- round trip -------------------------------------------------------------------------------

function randomBytes(next: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Records with null keys and values, binary and unicode, zero to three headers (one null). */
function varied(count: number): RecordInput[] {
  const next = rng(7);
  return Array.from({ length: count }, (_, i) => ({
    key: i % 7 === 0 ? null : Buffer.from(`clé-${i}-🔑`),
    value: i % 11 === 0 ? null : i % 3 === 0 ? randomBytes(next, 1 + (i % 300)) : Buffer.from(`välue ${i} 日本語 ✓`),
    headers: i % 5 === 0 ? [] : [{ key: 'trace-id', value: Buffer.from(String(i)) }, { key: 'ünï', value: null }, ...(i % 4 === 0 ? [{ key: 'bin', value: randomBytes(next, 9) }] : [])],
    timestampMs: T0 + i,
  }));
}

const hex = (b: Buffer | null): string => (b === null ? 'null' : b.toString('hex'));

function fingerprint(offset: number, r: { key: Buffer | null; value: Buffer | null; timestampMs?: number; headers: Record<string, Buffer | null> }): string {
  const headers = Object.entries(r.headers).map(([k, v]) => `${k}=${hex(v)}`);
  return `${offset}|${hex(r.key)}|${hex(r.value)}|${r.timestampMs}|${headers.join(',')}`;
}

for (const transport of ['subscribe', 'fetch'] as const) {
  describe(`Consumer over ${transport}`, () => {
    it('round-trips 20,000 varied records, plain and lz4 batches', async () => {
      const env = await setup();
      await env.admin.createTopic('rt');
      const records = varied(20_000);
      const batches: Buffer[] = [];
      for (let i = 0; i < records.length; i += 250) batches.push(encodeRecordBatch({ records: records.slice(i, i + 250), codec: (i / 250) % 2 === 0 ? Codec.None : Codec.Lz4 }));
      for (let i = 0; i < batches.length; i += 10) await produce(env, 'rt', 0, ...batches.slice(i, i + 10));
      const consumer = consumerOf(env, { transport, maxBytes: 256 * 1024 });
      await consumer.assign([{ topic: 'rt', partition: 0, from: 'earliest' }]);
      const got: string[] = [];
      for await (const m of consumer) {
        expect(m.topic).toBe('rt');
        got.push(fingerprint(m.offset, m));
        if (got.length === records.length) break;
      }
      const expected = records.map((r, i) => fingerprint(i, { ...r, headers: Object.fromEntries((r.headers ?? []).map((h) => [h.key, h.value])) }));
      expect(got).toEqual(expected);
      expect(consumer.position('rt', 0)).toBe(20_000);
      expect(consumer.transport).toBe(transport);
    });

    it('reads several partitions, each in order', async () => {
      const env = await setup();
      await env.admin.createTopic('multi', { partitions: 4 });
      for (let p = 0; p < 4; p++) await produceValues(env, 'multi', p, 500, { tag: `p${p}`, perBatch: 25 });
      const consumer = consumerOf(env, { transport, bufferedMessagesMax: 300 });
      await consumer.assign(range(0, 4).map((partition) => ({ topic: 'multi', partition, from: 'earliest' })));
      const perPartition: number[][] = [[], [], [], []];
      let total = 0;
      for await (const batch of consumer.batches()) {
        expect(batch.messages.length).toBeGreaterThan(0);
        expect(batch.highWatermark).toBe(500);
        expect(batch.lag).toBe(500 - (batch.messages.at(-1)!.offset + 1));
        for (const m of batch.messages) {
          expect(m.partition).toBe(batch.partition);
          expect(String(m.value)).toBe(`p${m.partition}-${m.offset}`);
          perPartition[m.partition].push(m.offset);
        }
        total += batch.messages.length;
        if (total === 2000) break;
      }
      for (const list of perPartition) expect(list).toEqual(range(0, 500));
      expect(consumer.assignment()).toEqual(range(0, 4).map((partition) => ({ topic: 'multi', partition })));
    });

    it('after every seek, yields exactly the records from the new offset on', async () => {
      const env = await setup();
      await env.admin.createTopic('s');
      await produceValues(env, 's', 0, 400, { perBatch: 7 });
      const consumer = consumerOf(env, { transport, maxBytes: 1024 });
      await consumer.assign([{ topic: 's', partition: 0, from: 'earliest' }]);
      const reader = new Reader(consumer);
      const next = rng(3);
      for (let round = 0; round < 30; round++) {
        const target = Math.floor(next() * 390);
        const count = 1 + Math.floor(next() * 9);
        // Seek while data is flowing: nothing from before the seek may come after it.
        await consumer.seek('s', 0, target);
        expect(offsets(await reader.take(count))).toEqual(range(target, target + count));
      }
    });

    it('keeps its buffer bounded when the application does not read (backpressure)', async () => {
      const env = await setup();
      await env.admin.createTopic('big');
      // 16 MiB: 256 batches of 64 records of 1 KiB.
      const value = Buffer.alloc(1024, 7);
      const batch = (n: number): Buffer => encodeRecordBatch({ records: Array.from({ length: 64 }, (_, i) => ({ key: Buffer.from(`${n}-${i}`), value })) });
      for (let n = 0; n < 256; n += 16) await produce(env, 'big', 0, ...range(n, n + 16).map(batch));
      const bytesOutBefore = (await env.running.broker.metrics.bytesOut.get()).values.reduce((sum, v) => sum + v.value, 0);
      const consumer = consumerOf(env, { transport, bufferedMessagesMax: 200, maxBytes: 64 * 1024 });
      await consumer.assign([{ topic: 'big', partition: 0, from: 'earliest' }]);
      await sleep(1000);
      // At most the limit plus one response's records (64 KiB holds one batch of 64 records).
      expect(consumer.bufferedMessages).toBeGreaterThan(0);
      expect(consumer.bufferedMessages).toBeLessThanOrEqual(200 + 64);
      const bytesOut = (await env.running.broker.metrics.bytesOut.get()).values.reduce((sum, v) => sum + v.value, 0) - bytesOutBefore;
      // Flow control held the broker: the HTTP/2 receive window (4 MiB) plus grpc-js's
      // 16-message buffer (16 x 64 KiB) and the prefetch, not all 16 MiB.
      expect(bytesOut).toBeLessThan(CONNECTION_DEFAULTS.receiveWindowBytes + 16 * 64 * 1024 + 1024 * 1024);
      const reader = new Reader(consumer);
      const all = await reader.take(256 * 64);
      expect(all.at(-1)!.offset).toBe(256 * 64 - 1);
    });
  });
}

// ---- where to start ---------------------------------------------------------------------------

describe('Consumer start positions and seek', () => {
  it("starts at 'earliest', 'latest' (new records only), an offset mid-batch, or a time", async () => {
    const env = await setup();
    await env.admin.createTopic('t');
    // Offsets 0..49, timestamps T0 + i * 1000, batches of 10.
    await produceValues(env, 't', 0, 50, { stepMs: 1000 });
    const make = async (from: any): Promise<Reader> => {
      const c = consumerOf(env);
      await c.assign([{ topic: 't', partition: 0, from }]);
      return new Reader(c);
    };
    const earliest = await make('earliest');
    const latest = await make('latest');
    const mid = await make(23);
    const byTime = await make({ timestampMs: T0 + 25_500 });
    expect(offsets(await earliest.take(50))).toEqual(range(0, 50));
    expect(offsets(await mid.take(27))).toEqual(range(23, 50));
    const timed = await byTime.take(24);
    expect(offsets(timed)).toEqual(range(26, 50));
    expect(timed.every((m) => m.timestampMs >= T0 + 25_500)).toBe(true);
    expect(await latest.next(300)).toBe('idle');
    await produceValues(env, 't', 0, 3, { tag: 'new' });
    expect(values(await latest.take(3))).toEqual(['new-0', 'new-1', 'new-2']);
    expect(offsets(await earliest.take(3))).toEqual([50, 51, 52]);
  });

  it('seeks to an offset, a time, the start and the end', async () => {
    const env = await setup();
    await env.admin.createTopic('t');
    await produceValues(env, 't', 0, 40, { stepMs: 1000 });
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    expect(offsets(await reader.take(12))).toEqual(range(0, 12));
    expect(consumer.position('t', 0)).toBe(12);
    await consumer.seek('t', 0, 3);
    expect(consumer.position('t', 0)).toBe(3);
    expect(offsets(await reader.take(3))).toEqual([3, 4, 5]);
    await consumer.seek('t', 0, { timestampMs: T0 + 30_000 });
    expect(offsets(await reader.take(2))).toEqual([30, 31]);
    await consumer.seek('t', 0, 'earliest');
    expect(offsets(await reader.take(1))).toEqual([0]);
    await consumer.seek('t', 0, 'latest');
    expect(consumer.position('t', 0)).toBe(40);
    expect(await reader.next(200)).toBe('idle');
    await produceValues(env, 't', 0, 1, { tag: 'end' });
    expect(values(await reader.take(1))).toEqual(['end-0']);
    expect(() => consumer.position('t', 5)).toThrow(/not assigned/);
    await expect(consumer.seek('t', 0, -1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('replaces the assignment; a partition kept without `from` keeps its position', async () => {
    const env = await setup();
    await env.admin.createTopic('t', { partitions: 2 });
    await produceValues(env, 't', 0, 20, { tag: 'a' });
    await produceValues(env, 't', 1, 20, { tag: 'b' });
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `a-${i}`));
    await consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1, from: 15 }]);
    const rest = await reader.take(15 + 5);
    expect(values(rest.filter((m) => m.partition === 0))).toEqual(range(5, 20).map((i) => `a-${i}`));
    expect(values(rest.filter((m) => m.partition === 1))).toEqual(range(15, 20).map((i) => `b-${i}`));
    await consumer.assign([{ topic: 't', partition: 1 }]);
    expect(consumer.assignment()).toEqual([{ topic: 't', partition: 1 }]);
    await expect(consumer.assign([{ topic: 't', partition: 1 }, { topic: 't', partition: 1 }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('breaking out of a loop keeps the position; the next loop goes on from there', async () => {
    const env = await setup();
    await env.admin.createTopic('t');
    await produceValues(env, 't', 0, 30);
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    const seen: number[] = [];
    for await (const m of consumer) {
      seen.push(m.offset);
      if (seen.length === 7) break;
    }
    for await (const m of consumer) {
      seen.push(m.offset);
      if (seen.length === 30) break;
    }
    expect(seen).toEqual(range(0, 30));
  });
});

// ---- flow ---------------------------------------------------------------------------------------

describe('Consumer flow', () => {
  it('pauses and resumes partitions', async () => {
    const env = await setup();
    await env.admin.createTopic('t', { partitions: 2 });
    const consumer = consumerOf(env);
    await consumer.assign([
      { topic: 't', partition: 0, from: 'earliest' },
      { topic: 't', partition: 1, from: 'earliest' },
    ]);
    consumer.pause([{ topic: 't', partition: 0 }]);
    expect(consumer.paused()).toEqual([{ topic: 't', partition: 0 }]);
    await produceValues(env, 't', 0, 5, { tag: 'a' });
    await produceValues(env, 't', 1, 5, { tag: 'b' });
    const reader = new Reader(consumer);
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `b-${i}`));
    expect(await reader.next(300)).toBe('idle');
    consumer.resume([{ topic: 't' }]);
    expect(consumer.paused()).toEqual([]);
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `a-${i}`));
    expect(() => consumer.pause([{ topic: 'other' }])).toThrow(/no partition of other/);
  });

  it('delivers records produced after it started promptly (live tailing)', async () => {
    const env = await setup();
    await env.admin.createTopic('live');
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 'live', partition: 0, from: 'latest' }]);
    const reader = new Reader(consumer);
    const latenciesMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sentAt = performance.now();
      await produce(env, 'live', 0, makeBatch({ records: 1, tag: `live${i}` }));
      const [m] = await reader.take(1, 2000);
      latenciesMs.push(performance.now() - sentAt);
      expect(m.offset).toBe(i);
      await sleep(10);
    }
    latenciesMs.sort((a, b) => a - b);
    // Produce round trip plus the push: milliseconds; bounds loose for a loaded test machine.
    expect(latenciesMs[10]).toBeLessThan(250);
    expect(latenciesMs.at(-1)).toBeLessThan(1000);
  });

  it('leaves no stream behind on the broker through rapid changes and close', async () => {
    const env = await setup();
    await env.admin.createTopic('t', { partitions: 2 });
    await produceValues(env, 't', 0, 50);
    const consumer = consumerOf(env);
    await consumer.assign([
      { topic: 't', partition: 0, from: 'earliest' },
      { topic: 't', partition: 1, from: 'earliest' },
    ]);
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 20; i++) {
      consumer.pause([{ topic: 't', partition: 0 }]);
      await tick();
      await tick();
      consumer.resume([{ topic: 't', partition: 0 }]);
      await consumer.seek('t', 1, 0);
      await tick();
    }
    expect(offsets(await new Reader(consumer).take(50))).toEqual(range(0, 50));
    await sleep(300);
    expect(env.running.broker.openSubscriptions).toBe(1);
    await consumer.close();
    await sleep(300);
    expect(env.running.broker.openSubscriptions).toBe(0);
  });

  it('falls back to Fetch when the broker refuses Subscribe', async () => {
    const env = await setup({ set: ['limits.maxSubscribeStreams=1'] });
    await env.admin.createTopic('t');
    const first = consumerOf(env);
    await first.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    await sleep(100); // the first stream holds the broker's only slot
    const second = consumerOf(env);
    await second.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    await produceValues(env, 't', 0, 10);
    expect(offsets(await new Reader(second).take(10))).toEqual(range(0, 10));
    expect(offsets(await new Reader(first).take(10))).toEqual(range(0, 10));
    expect(first.transport).toBe('subscribe');
    expect(second.transport).toBe('fetch');
  });

  it('carries on after the broker restarts', async () => {
    const port = await freePort();
    const set = [`listen=127.0.0.1:${port}`];
    const env = await setup({ set, connection: { reconnectBackoffMs: 50, reconnectBackoffMsMax: 200 } });
    await env.admin.createTopic('t');
    await produceValues(env, 't', 0, 5, { tag: 'before' });
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `before-${i}`));
    await stopTestBroker(env.running);
    await sleep(300);
    await startTestBroker({ dataDir: env.dataDir, set });
    // The connection may answer the first call after the restart with BROKER_UNAVAILABLE
    // (retriable), as grpc-js does when a call races the reconnect: retry as a producer would.
    for (let attempt = 1; ; attempt++) {
      const sent = await produceValues(env, 't', 0, 5, { tag: 'after' }).then(
        () => true,
        (err: unknown) => {
          if (!(err instanceof RunnelError) || !err.retriable || attempt === 20) throw err;
          return false;
        },
      );
      if (sent) break;
      await sleep(100);
    }
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `after-${i}`));
  });
});

// ---- errors, lag, close ---------------------------------------------------------------------

describe('Consumer errors', () => {
  /** A topic whose offsets 0..19 were deleted: the log holds 20..29. */
  async function truncated(env: Env): Promise<void> {
    await env.admin.createTopic('t');
    await produceValues(env, 't', 0, 30);
    await env.admin.deleteRecords('t', 0, 20);
  }

  it("OFFSET_OUT_OF_RANGE with autoOffsetReset 'earliest' moves to the log start", async () => {
    const env = await setup();
    await truncated(env);
    const consumer = consumerOf(env, { autoOffsetReset: 'earliest' });
    await consumer.assign([{ topic: 't', partition: 0, from: 5 }]);
    expect(offsets(await new Reader(consumer).take(10))).toEqual(range(20, 30));
  });

  it("OFFSET_OUT_OF_RANGE with autoOffsetReset 'latest' moves to the log end", async () => {
    const env = await setup();
    await truncated(env);
    const consumer = consumerOf(env, { autoOffsetReset: 'latest' });
    await consumer.assign([{ topic: 't', partition: 0, from: 5 }]);
    const reader = new Reader(consumer);
    expect(await reader.next(300)).toBe('idle');
    expect(consumer.position('t', 0)).toBe(30);
    await produceValues(env, 't', 0, 2, { tag: 'new' });
    expect(offsets(await reader.take(2))).toEqual([30, 31]);
  });

  it("OFFSET_OUT_OF_RANGE with autoOffsetReset 'none' is thrown, and a seek restarts the partition", async () => {
    const env = await setup();
    await truncated(env);
    const consumer = consumerOf(env, { autoOffsetReset: 'none', transport: 'fetch' });
    await consumer.assign([{ topic: 't', partition: 0, from: 5 }]);
    const reader = new Reader(consumer);
    const err = await reader.rejection();
    expect(err.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(err.context).toMatchObject({ topic: 't', partition: 0 });
    await consumer.seek('t', 0, 'earliest');
    expect(offsets(await new Reader(consumer).take(10))).toEqual(range(20, 30));
    // Past the end is out of range too.
    await consumer.seek('t', 0, 100);
    expect((await new Reader(consumer).rejection()).code).toBe('OFFSET_OUT_OF_RANGE');
  });

  it('surfaces UNKNOWN_TOPIC at assign and when the topic is deleted while read', async () => {
    const env = await setup();
    const consumer = consumerOf(env);
    await expect(consumer.assign([{ topic: 'nope', partition: 0, from: 'earliest' }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC', context: { topic: 'nope', partition: 0 } });
    expect(consumer.assignment()).toEqual([]);
    await env.admin.createTopic('t');
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    await produceValues(env, 't', 0, 3);
    await reader.take(3);
    await env.admin.deleteTopic('t');
    const err = await reader.rejection();
    expect(err.code).toBe('UNKNOWN_TOPIC');
    expect(err.context).toMatchObject({ topic: 't', partition: 0 });
  });

  it('throws a value the deserializer refuses, keeps it as the next record, and goes on after a seek', async () => {
    const env = await setup();
    await env.admin.createTopic('j');
    await produce(env, 'j', 0, encodeRecordBatch({ records: ['{"a":1}', 'not json', '{"a":3}', null].map((v) => ({ key: null, value: v === null ? null : Buffer.from(v) })) }));
    const consumer = consumerOf(env, { deserializer: json });
    await consumer.assign([{ topic: 'j', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    expect((await reader.take(1))[0].value).toEqual({ a: 1 });
    const err = await reader.rejection();
    expect(err.context).toMatchObject({ topic: 'j', partition: 0, offset: 1 });
    expect(consumer.position('j', 0)).toBe(1);
    await consumer.seek('j', 0, 2);
    expect((await new Reader(consumer).take(2)).map((m) => m.value)).toEqual([{ a: 3 }, null]);
  });

  it('hands out the records before a batch corrupted on disk, then throws CORRUPT_BATCH for that partition', async () => {
    // No cache of recent batches: reads come from the segment file that is damaged here.
    const env = await setup({ set: ['limits.recentBatchCacheBytes=0'] });
    await env.admin.createTopic('damaged');
    const batches = [0, 1, 2].map((b) => encodeRecordBatch({ records: range(0, 5).map((i) => ({ key: null, value: Buffer.from(`batch${b}-record${i}`) })) }));
    await produce(env, 'damaged', 0, ...batches);
    const segment = path.join(env.dataDir, 'damaged-0', fs.readdirSync(path.join(env.dataDir, 'damaged-0')).find((f) => f.endsWith('.log'))!);
    const stored = fs.readFileSync(segment);
    const second = stored.indexOf('batch1-record2');
    expect(second, 'the second batch is in the segment').toBeGreaterThan(0);
    const fd = fs.openSync(segment, 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, second);
    fs.closeSync(fd);
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 'damaged', partition: 0, from: 'earliest' }]);
    const reader = new Reader(consumer);
    expect(values(await reader.take(5))).toEqual(range(0, 5).map((i) => `batch0-record${i}`));
    const err = await reader.rejection();
    expect(err.code).toBe('CORRUPT_BATCH');
    expect(err.context).toMatchObject({ topic: 'damaged', partition: 0 });
    expect(consumer.position('damaged', 0), 'the position stays at the damaged batch').toBe(5);
  });

  it('refuses bad options', async () => {
    const env = await setup();
    expect(() => new Consumer(env.connection, { bufferedMessagesMax: 0 })).toThrow(/bufferedMessagesMax/);
    expect(() => new Consumer(env.connection, { autoOffsetReset: 'smallest' as any })).toThrow(/autoOffsetReset/);
    expect(() => new Consumer(env.connection, { groupID: 'g' } as any)).toThrow(/unknown consumer option groupID/);
    expect(() => new Consumer(env.connection, { retryBackoffMs: 500, retryBackoffMsMax: 100 })).toThrow(/retryBackoffMsMax/);
    expect(() => new Consumer(env.connection, { deserializer: {} as any })).toThrow(/deserialize/);
  });
});

describe('Consumer lag and close', () => {
  it('reports lag per partition', async () => {
    const env = await setup();
    await env.admin.createTopic('t', { partitions: 2 });
    await produceValues(env, 't', 0, 100);
    await produceValues(env, 't', 1, 10);
    const consumer = consumerOf(env);
    await consumer.assign([
      { topic: 't', partition: 0, from: 'earliest' },
      { topic: 't', partition: 1, from: 'latest' },
    ]);
    consumer.pause([{ topic: 't', partition: 1 }]);
    await new Reader(consumer).take(30);
    expect(await consumer.lag()).toEqual([
      { topic: 't', partition: 0, position: 30, highWatermark: 100, lag: 70 },
      { topic: 't', partition: 1, position: 10, highWatermark: 10, lag: 0 },
    ]);
    await produceValues(env, 't', 1, 5);
    expect((await consumer.lag())[1]).toMatchObject({ position: 10, highWatermark: 15, lag: 5 });
  });

  it('close ends the iterators, is idempotent, and refuses later calls', async () => {
    const env = await setup();
    await env.admin.createTopic('t');
    const consumer = consumerOf(env);
    await consumer.assign([{ topic: 't', partition: 0, from: 'earliest' }]);
    await produceValues(env, 't', 0, 3);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const m of consumer) seen.push(m.offset);
      return 'ended';
    })();
    const batches = (async () => {
      for await (const b of consumer.batches()) seen.push(-b.messages.length);
      return 'ended';
    })();
    await sleep(300);
    await consumer.close();
    await consumer.close();
    expect(await loop).toBe('ended');
    expect(await batches).toBe('ended');
    expect(seen.filter((o) => o >= 0).length + seen.filter((o) => o < 0).reduce((n, o) => n - o, 0)).toBe(3);
    await expect(consumer.assign([])).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(() => consumer.position('t', 0)).toThrow(/closed/);
    expect(consumer.assignment()).toEqual([]);
    expect(await consumer.messages().next()).toEqual({ done: true, value: undefined });
  });
});

describe('Consumer over a compacted log with an emptied batch', () => {
  it.each(['subscribe', 'fetch'] as const)('%s: reads past the header-only batch compaction kept for a producer, to the log end', async (transport) => {
    // No recent-batch cache: it would serve the batches as appended, before compaction.
    const env = await setup({ set: ['limits.recentBatchCacheBytes=0'] });
    await env.admin.createTopic('compacted', { partitions: 1, configs: { cleanupPolicy: 'compact', segmentBytes: '1024', maxMessageBytes: '1024' } });
    const ids = await Promise.all([0, 1].map(() => env.connection.unary<any>('broker', 'initProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 })));
    const [first, second] = ids.map((r) => Number(r.producerId));
    const batch = (producerId: number, baseSequence: number, keys: string[]): Buffer =>
      encodeRecordBatch({ producerId, producerEpoch: 0, baseSequence, records: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(`${k}-${producerId}-${baseSequence}`), timestampMs: T0 })) });
    await produce(env, 'compacted', 0, batch(first, 0, ['a', 'b']));
    for (let i = 0; i < 40; i++) await produce(env, 'compacted', 0, batch(second, i * 2, ['a', 'b']));
    const results = await env.running.broker.logs.runCompaction({ force: true });
    expect(results[0].recordsRemoved).toBeGreaterThan(0);
    const log = env.running.broker.partition('compacted', 0).log;
    const head = decodeRecordBatches((await log.read(0, 1024)).bytes)[0];
    expect([head.baseOffset, head.records.length, head.producerId]).toEqual([0, 0, first]);
    const consumer = consumerOf(env, { transport, maxBytes: 1024 });
    await consumer.assign([{ topic: 'compacted', partition: 0, from: 'earliest' }]);
    const offsets: number[] = [];
    for await (const m of consumer) {
      offsets.push(m.offset);
      if (m.offset === log.logEndOffset - 1) break;
    }
    // Offsets 0-1 (the first producer's emptied batch) are passed, never delivered.
    expect(offsets[0]).toBeGreaterThan(1);
    expect(offsets.at(-1)).toBe(log.logEndOffset - 1);
  });
});
