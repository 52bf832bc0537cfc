/**
 * The producer against a real broker: in this process (startTestBroker, restarted on the same
 * port and data directory for the graceful restart and backpressure tests) or as a child process
 * of the CLI in dist/ that is SIGKILLed mid-stream. Every check reads the partitions back with
 * Fetch and decodes the stored batches; nothing is taken from the producer's word alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from '../../src/client/connection.js';
import { Producer, type MessageHeaders, type ProducerMessage, type RecordMetadata } from '../../src/client/producer/index.js';
import { msgpack } from '../../src/client/serialization.js';
import { Codec } from '../../src/format/batch-header.js';
import { partitionForKey } from '../../src/format/murmur2.js';
import { decodeRecordBatches, type DecodedBatch } from '../../src/format/record-batch.js';
import { startTestBroker, stopTestBroker } from '../broker/helpers.js';
import { rng, tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const FETCH_MAX_BYTES = 8 * 1024 * 1024;

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A connection that reconnects quickly after a broker restart; closed after the test. */
function connectTo(address: string): Connection {
  const connection = new Connection({ brokers: [address], reconnectBackoffMs: 50, reconnectBackoffMsMax: 200 });
  cleanups.push(() => connection.close());
  return connection;
}

function producerOn(connection: Connection, options: Record<string, unknown> = {}): Producer {
  const producer = new Producer(connection, options);
  // Bounded: after a failed test sends may wait for a broker that is gone.
  cleanups.push(() => Promise.race([producer.close(), new Promise<void>((resolve) => setTimeout(resolve, 2000))]));
  return producer;
}

async function createTopic(connection: Connection, name: string, partitions: number): Promise<void> {
  const created: any = await connection.unary('admin', 'createTopics', { topics: [{ name, partitions, configs: [] }], validateOnly: false });
  expect(created.topics[0].error, `create ${name}`).toBeNull();
}

/** Every stored batch of a partition, read with Fetch from offset 0 to the high watermark. */
async function readPartition(connection: Connection, topic: string, partition: number): Promise<DecodedBatch[]> {
  const batches: DecodedBatch[] = [];
  for (let offset = 0; ; ) {
    const request = { maxWaitMs: 0, minBytes: 0, maxBytes: FETCH_MAX_BYTES, topics: [{ topic, partitions: [{ partition, fetchOffset: offset, maxBytes: FETCH_MAX_BYTES }] }] };
    const response: any = await connection.unary('broker', 'fetch', request);
    const result = response.topics[0].partitions[0];
    expect(result.error, `fetch ${topic}/${partition} at ${offset}`).toBeNull();
    if (result.records.length === 0) return batches;
    batches.push(...decodeRecordBatches(result.records));
    offset = result.nextOffset;
    if (offset >= result.offsets.highWatermark) return batches;
  }
}

async function readTopic(connection: Connection, topic: string, partitions: number): Promise<DecodedBatch[][]> {
  return Promise.all(Array.from({ length: partitions }, (_, p) => readPartition(connection, topic, p)));
}

/** Sends `count` messages from `make`, `perSend` per send, with at most `window` sends in flight. */
async function sendAll(producer: Producer, topic: string, count: number, make: (i: number) => ProducerMessage, perSend: number, window: number): Promise<RecordMetadata[]> {
  const results: RecordMetadata[] = new Array(count);
  const inFlight = new Set<Promise<void>>();
  for (let first = 0; first < count; first += perSend) {
    const indexes = Array.from({ length: Math.min(perSend, count - first) }, (_, k) => first + k);
    const sending = producer.send({ topic, messages: indexes.map(make) }).then((metas) => {
      metas.forEach((meta, k) => (results[indexes[k]] = meta));
    });
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending)).catch(() => undefined);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return results;
}

// ---------------------------------------------------------------------------------------------
// The mixed message set of the round-trip tests: keys, values and headers of every kind.

interface Expected {
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
  timestampMs: number | null;
}

function mixedMessage(i: number, random: () => number): { message: ProducerMessage; expected: Expected } {
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const keyKind = i % 6;
  const key = keyKind === 0 ? undefined : keyKind === 1 ? null : keyKind === 2 ? Buffer.from([i % 50, 0, 255, (i % 50) * 3]) : keyKind === 5 ? `клиент-${i % 40}-😀` : `user-${i % 40}`;
  const valueKind = i % 10;
  const object = { i, tags: ['a', 'ü'], nested: { half: i / 2, none: null } };
  const value =
    valueKind === 0 ? null : valueKind === 1 ? bytes(Math.floor(random() * 300)) : valueKind === 2 ? `日本語 ✓ ${i} 🚀` : valueKind === 3 ? object : valueKind === 4 ? '' : `value-${i}`;
  const headerKind = i % 4;
  const headers: MessageHeaders | undefined =
    headerKind === 1
      ? { trace: `t-${i}`, bin: Buffer.from([i & 255, 0, 255]) }
      : headerKind === 2
        ? [
            { key: 'dup', value: '1' },
            { key: 'dup', value: '2' },
            { key: 'null', value: null },
            { key: 'ключ', value: 'значение' },
          ]
        : headerKind === 3
          ? {}
          : undefined;
  const timestampMs = i % 9 === 0 ? 1_500_000_000_000 + i : undefined;
  const asBytes = (v: unknown): Buffer | null => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : msgpack.serialize(v));
  const headerList: { key: string; value: unknown }[] = headers === undefined ? [] : Array.isArray(headers) ? [...headers] : Object.entries(headers).map(([k, v]) => ({ key: k, value: v }));
  return {
    message: { ...(key === undefined ? {} : { key }), value, ...(headers === undefined ? {} : { headers }), ...(timestampMs === undefined ? {} : { timestampMs }) },
    expected: { key: asBytes(key), value: asBytes(value), headers: headerList.map((h) => ({ key: h.key, value: asBytes(h.value) })), timestampMs: timestampMs ?? null },
  };
}

/** Checks that every message is stored exactly once where its metadata says, byte for byte. */
function same(a: Buffer | null, b: Buffer | null): boolean {
  return a === null ? b === null : b !== null && a.equals(b);
}

function verifyRoundTrip(stored: DecodedBatch[][], results: RecordMetadata[], expected: Expected[], partitions: number): void {
  const byPosition = new Map<string, DecodedBatch['records'][number]>();
  let total = 0;
  stored.forEach((batches, partition) => {
    for (const batch of batches) for (const record of batch.records) byPosition.set(`${partition}:${record.offset}`, record);
    total += batches.reduce((n, b) => n + b.records.length, 0);
  });
  expect(total, 'records stored').toBe(expected.length);
  const lastOffsetOfKey = new Map<string, number>();
  for (let i = 0; i < expected.length; i++) {
    const meta = results[i];
    const want = expected[i];
    const record = byPosition.get(`${meta.partition}:${meta.offset}`);
    if (record === undefined) throw new Error(`message ${i}: nothing stored at ${meta.partition}:${meta.offset}`);
    const sameHeaders = record.headers.length === want.headers.length && record.headers.every((h, k) => h.key === want.headers[k].key && same(h.value, want.headers[k].value));
    const sameTimestamp = record.timestampMs === meta.timestampMs && (want.timestampMs === null || record.timestampMs === want.timestampMs);
    // One comparison per field without expect(): 100,000 expect() calls would take seconds.
    if (!same(record.key, want.key) || !same(record.value, want.value) || !sameHeaders || !sameTimestamp) {
      expect({ key: record.key, value: record.value, headers: record.headers, timestampMs: record.timestampMs }, `message ${i}`).toEqual({ ...want, timestampMs: meta.timestampMs });
    }
    if (want.key !== null) {
      if (meta.partition !== partitionForKey(want.key, partitions)) expect(meta.partition, `partition of keyed message ${i}`).toBe(partitionForKey(want.key, partitions));
      // Per-key order: a later message of the same key has a higher offset (same partition).
      const keyHex = want.key.toString('hex');
      const previous = lastOffsetOfKey.get(keyHex) ?? -1;
      if (meta.offset <= previous) throw new Error(`message ${i} of key ${keyHex} at offset ${meta.offset}, after ${previous}`);
      lastOffsetOfKey.set(keyHex, meta.offset);
    }
  }
}

describe('producer round trip', () => {
  it('writes 100,000 mixed messages (keys, null keys and values, binary, unicode, headers) exactly, in per-key order', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    await createTopic(connection, 'mixed', 4);
    const random = rng(42);
    const generated = Array.from({ length: 100_000 }, (_, i) => mixedMessage(i, random));
    const producer = producerOn(connection);
    const started = Date.now();
    const results = await sendAll(producer, 'mixed', generated.length, (i) => generated[i].message, 250, 40);
    const sendMs = Date.now() - started;
    const stored = await readTopic(connection, 'mixed', 4);
    verifyRoundTrip(
      stored,
      results,
      generated.map((g) => g.expected),
      4,
    );
    expect(stored.every((batches) => batches.length > 0), 'every partition used').toBe(true);
    const stats = producer.stats();
    expect(stats).toMatchObject({ records: 100_000, retries: 0, bufferedBytes: 0, streamsOpened: 1 });
    console.info(`100,000 messages sent in ${sendMs} ms in ${stats.batches} batches, ${stats.requests} requests`);
  });

  it('round-trips with lz4 compression', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    await createTopic(connection, 'lz4', 3);
    const random = rng(7);
    const generated = Array.from({ length: 5000 }, (_, i) => mixedMessage(i, random));
    const producer = producerOn(connection, { compression: 'lz4' });
    const results = await sendAll(producer, 'lz4', generated.length, (i) => generated[i].message, 100, 10);
    const stored = await readTopic(connection, 'lz4', 3);
    verifyRoundTrip(
      stored,
      results,
      generated.map((g) => g.expected),
      3,
    );
    expect(stored.flat().every((batch) => batch.codec === Codec.Lz4)).toBe(true);
  });
});

describe('partitioning', () => {
  // Vectors of test/format/murmur2.test.ts (Kafka's Utils.murmur2 and its default partitioner).
  const vectors: [string, number, number][] = [
    ['21', 3, 0],
    ['21', 32, 12],
    ['foobar', 10, 6],
    ['a-little-bit-long-string', 3, 2],
    ['abc', 10, 7],
    ['abc', 1, 0],
  ];

  it('puts a keyed message where Kafka puts it', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    for (const count of [1, 3, 10, 32]) await createTopic(connection, `keyed-${count}`, count);
    const producer = producerOn(connection);
    for (const [key, count, partition] of vectors) {
      const [meta] = await producer.send({ topic: `keyed-${count}`, messages: [{ key, value: `${key} in ${count}` }] });
      expect(meta.partition, `key ${key} of ${count} partitions`).toBe(partition);
      const stored = (await readPartition(connection, `keyed-${count}`, partition)).flatMap((b) => b.records);
      expect(stored.some((r) => r.value!.toString() === `${key} in ${count}`)).toBe(true);
    }
    // Buffer keys hash their bytes; string keys their UTF-8.
    const [fromBuffer] = await producer.send({ topic: 'keyed-32', messages: [{ key: Buffer.from('21'), value: 'b' }] });
    expect(fromBuffer.partition).toBe(12);
  });

  it('sticks unkeyed messages to one partition per batch, then moves on (KIP-480)', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    await createTopic(connection, 'sticky', 4);
    const producer = producerOn(connection, { lingerMs: 0 });
    const partitionsOfSends: number[] = [];
    for (let s = 0; s < 40; s++) {
      const metas = await producer.send({ topic: 'sticky', messages: Array.from({ length: 50 }, (_, i) => ({ value: `s${s}-${i}` })) });
      const used = new Set(metas.map((m) => m.partition));
      expect(used.size, `send ${s} in one batch, one partition`).toBe(1);
      partitionsOfSends.push(metas[0].partition);
    }
    for (let s = 1; s < 40; s++) expect(partitionsOfSends[s], `send ${s} moved to another partition`).not.toBe(partitionsOfSends[s - 1]);
    expect(new Set(partitionsOfSends).size).toBe(4);
    // One big send spills over as batches fill: batchBytes-sized batches spread over the partitions.
    const small = producerOn(connection, { batchBytes: 4096, lingerMs: 0 });
    const metas = await small.send({ topic: 'sticky', messages: Array.from({ length: 1000 }, (_, i) => ({ value: Buffer.alloc(100, i) })) });
    expect(new Set(metas.map((m) => m.partition)).size).toBe(4);
  });
});

describe('batching', () => {
  it('gathers many small sends into few batches by lingerMs and cuts them at batchBytes', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    await createTopic(connection, 'linger', 1);
    await createTopic(connection, 'cut', 1);
    const lingering = producerOn(connection, { lingerMs: 50 });
    await lingering.send({ topic: 'linger', messages: [{ value: 'warm-up' }] });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => lingering.send({ topic: 'linger', messages: [{ value: `m${i}` }] })));
    const lingered = await readPartition(connection, 'linger', 0);
    expect(lingered.reduce((n, b) => n + b.records.length, 0)).toBe(2001);
    expect(lingered.length, 'batches for 2,001 one-message sends').toBeLessThanOrEqual(5);

    const cutting = producerOn(connection, { lingerMs: 1000, batchBytes: 2048 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => cutting.send({ topic: 'cut', messages: [{ value: Buffer.alloc(100, i) }] })));
    const cut = await readPartition(connection, 'cut', 0);
    expect(cut.reduce((n, b) => n + b.records.length, 0)).toBe(1000);
    for (const batch of cut.slice(0, -1)) expect(batch.sizeBytes, 'a full batch stays within batchBytes').toBeLessThanOrEqual(2048);
    expect(cut.length, 'batches of about 2 KiB for 1,000 x 100 bytes').toBeGreaterThanOrEqual(50);
    expect(cut.length).toBeLessThanOrEqual(80);
    // Only the last, partial batch waited for lingerMs.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('with lingerMs 0 writes a send on the next turn of the event loop, not after a timer', async () => {
    const { running } = await startTestBroker();
    const connection = connectTo(`127.0.0.1:${running.port}`);
    await createTopic(connection, 'no-linger', 1);
    const producer = producerOn(connection, { lingerMs: 0 });
    await producer.send({ topic: 'no-linger', messages: [{ value: 'warm-up' }] });
    // The answer's own wake-up of the sender has run: it is idle now.
    await new Promise((resolve) => setImmediate(resolve));
    const before = producer.stats().requests;
    const sent = producer.send({ topic: 'no-linger', messages: [{ value: 'now' }] });
    // Two setImmediate turns take microseconds; a setTimeout(0) (clamped to 1 ms by Node) fires
    // only after them, so a request written by then was not held back by a timer.
    let timerFired = false;
    const timer = setTimeout(() => (timerFired = true), 0);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    clearTimeout(timer);
    if (!timerFired) expect(producer.stats().requests, 'request written before any 1 ms timer fired').toBe(before + 1);
    await sent;
    expect(producer.stats().requests).toBe(before + 1);
  });
});

describe('backpressure', () => {
  it('makes send wait when bufferBytes are used, fails it with BUFFER_FULL after maxBlockMs, and resumes after a restart', async () => {
    const first = await startTestBroker();
    const port = first.running.port;
    const connection = connectTo(`127.0.0.1:${port}`);
    await createTopic(connection, 'pressure', 2);
    const bufferBytes = 64 * 1024;
    const producer = producerOn(connection, { bufferBytes, batchBytes: 16 * 1024, maxBlockMs: 1000, retryBackoffMs: 20, retryBackoffMsMax: 200, lingerMs: 0 });
    await producer.send({ topic: 'pressure', messages: [{ value: 'metadata is cached now' }] });
    await stopTestBroker(first.running);

    // 60 sends of 1 KiB fit; they wait for the broker inside the buffer.
    const value = Buffer.alloc(1000, 1);
    const accepted = Array.from({ length: 60 }, (_, i) => producer.send({ topic: 'pressure', messages: [{ key: `k${i}`, value }] }));
    for (const sending of accepted) sending.catch(() => undefined);
    expect(producer.stats().bufferedBytes).toBeGreaterThan(60 * 1000);
    expect(producer.stats().bufferedBytes).toBeLessThanOrEqual(bufferBytes);

    // The next one waits, then fails after maxBlockMs.
    let started = Date.now();
    const blocked = producer.send({ topic: 'pressure', messages: [{ value: Buffer.alloc(8000) }] });
    expect(producer.stats().waitingBytes).toBeGreaterThan(8000);
    const err: any = await blocked.catch((e: unknown) => e);
    expect(err.code).toBe('BUFFER_FULL');
    expect(err.message).toMatch(/maxBlockMs \(1000 ms\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);

    // However fast the application sends, memory stays bounded: beyond the buffer and one
    // buffer's worth of queued sends, sends fail at once; the queued ones after maxBlockMs.
    const outcomes: string[] = new Array(5000).fill('pending');
    const flood = Array.from({ length: 5000 }, (_, i) =>
      producer.send({ topic: 'pressure', messages: [{ value }] }).then(
        () => void (outcomes[i] = 'sent'),
        (e: any) => void (outcomes[i] = e.code),
      ),
    );
    const stats = producer.stats();
    expect(stats.bufferedBytes).toBeLessThanOrEqual(bufferBytes);
    expect(stats.waitingBytes).toBeGreaterThan(bufferBytes / 2);
    expect(stats.waitingBytes).toBeLessThanOrEqual(bufferBytes);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    // The few that still fit in the buffer wait there for the broker; every other one failed.
    const placed = outcomes.filter((o) => o === 'pending').length;
    expect(placed).toBeLessThanOrEqual(5);
    expect(outcomes.filter((o) => o === 'BUFFER_FULL').length).toBe(5000 - placed);
    expect(producer.stats().waitingBytes).toBe(0);

    // A waiting send goes through once the broker is back and the buffer drains.
    started = Date.now();
    const waiting = producer.send({ topic: 'pressure', messages: [{ value: Buffer.alloc(8000) }] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await startTestBroker({ dataDir: first.dataDir, set: [`listen=127.0.0.1:${port}`] });
    const [meta] = await waiting;
    expect(meta.offset).toBeGreaterThanOrEqual(0);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await Promise.all(accepted)).length).toBe(60);
    await Promise.all(flood);
    expect(outcomes.filter((o) => o === 'sent').length).toBe(placed);
    expect(producer.stats().bufferedBytes).toBe(0);
    const stored = (await readTopic(connection, 'pressure', 2)).flat().reduce((n, b) => n + b.records.length, 0);
    expect(stored).toBe(1 + 60 + placed + 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Restarts during a long send loop: every message exactly once, in order per partition.

const LOOP_MESSAGES = 30_000;
const LOOP_PARTITIONS = 3;

/** Values of ~300 bytes make batches big enough that a kill often lands between append and answer. */
function loopMessage(i: number): ProducerMessage {
  return { key: `key-${i % 60}`, value: `${i}:${'x'.repeat(300)}` };
}

function sendLoop(producer: Producer): Promise<RecordMetadata[]> {
  return sendAll(producer, 'loop', LOOP_MESSAGES, loopMessage, 25, 40);
}

async function verifyLoop(connection: Connection, results: RecordMetadata[]): Promise<void> {
  const stored = await readTopic(connection, 'loop', LOOP_PARTITIONS);
  const seen = new Uint8Array(LOOP_MESSAGES);
  stored.forEach((batches, partition) => {
    let previous = -1;
    for (const batch of batches) {
      for (const record of batch.records) {
        const i = parseInt(record.value!.toString(), 10);
        if (seen[i] !== 0) throw new Error(`message ${i} stored twice`);
        seen[i] = 1;
        if (i <= previous) throw new Error(`partition ${partition}: message ${i} after ${previous}`);
        previous = i;
        if (results[i].partition !== partition || results[i].offset !== record.offset) {
          expect(results[i], `metadata of message ${i}`).toMatchObject({ partition, offset: record.offset });
        }
      }
    }
  });
  expect(seen.every((s) => s === 1), 'every message stored').toBe(true);
}

describe('retries through broker restarts', () => {
  it('loses and duplicates nothing when the broker is stopped and restarted mid-stream', async () => {
    const first = await startTestBroker();
    const port = first.running.port;
    const connection = connectTo(`127.0.0.1:${port}`);
    await createTopic(connection, 'loop', LOOP_PARTITIONS);
    const producer = producerOn(connection, { retryBackoffMs: 20, retryBackoffMsMax: 200 });
    const restart = (async () => {
      while (producer.stats().records < LOOP_MESSAGES / 3) await new Promise((resolve) => setTimeout(resolve, 5));
      await stopTestBroker(first.running);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await startTestBroker({ dataDir: first.dataDir, set: [`listen=127.0.0.1:${port}`] });
    })();
    const results = await sendLoop(producer);
    await restart;
    await verifyLoop(connection, results);
    expect(producer.stats().streamsOpened).toBeGreaterThan(1);
  });

  it('loses and duplicates nothing when a broker process is SIGKILLed three times mid-stream', async () => {
    expect(fs.existsSync(CLI), `${CLI} exists (build first: npx tsc -p tsconfig.build.json)`).toBe(true);
    const dataDir = tempDir('runnel-producer-kill-');
    let broker = await BrokerChild.start(dataDir, 0);
    const port = broker.port;
    const connection = connectTo(`127.0.0.1:${port}`);
    await createTopic(connection, 'loop', LOOP_PARTITIONS);
    const producer = producerOn(connection, { retryBackoffMs: 20, retryBackoffMsMax: 200 });
    const kills = (async () => {
      for (const at of [LOOP_MESSAGES / 5, (LOOP_MESSAGES * 2) / 5, (LOOP_MESSAGES * 3) / 5]) {
        while (producer.stats().records < at) await new Promise((resolve) => setTimeout(resolve, 2));
        await broker.kill();
        await new Promise((resolve) => setTimeout(resolve, 200));
        broker = await BrokerChild.start(dataDir, port);
      }
    })();
    const results = await sendLoop(producer);
    await kills;
    await verifyLoop(connection, results);
    const stats = producer.stats();
    expect(stats.retries).toBeGreaterThan(0);
    console.info(`SIGKILL loop: ${stats.retries} batches re-sent, ${stats.duplicates} answered as duplicates, ${stats.streamsOpened} streams`);
  });
});

/** A broker process of the CLI in dist/, on a given port (0 = any), killed with SIGKILL by PID. */
class BrokerChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly exited: Promise<void>,
  ) {}

  static async start(dataDir: string, port: number): Promise<BrokerChild> {
    const args = [CLI, 'broker', '--data', dataDir, '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'off', '--log-level', 'warn'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const listening = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not start within 20 s: ${stderr}`)), 20_000);
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        const match = /listening on \S+:(\d+)\s*$/.exec(line);
        if (match === null) return;
        clearTimeout(timer);
        resolve(Number(match[1]));
      });
      void exited.then(() => reject(new Error(`broker exited before listening: ${stderr}`)));
    });
    const broker = new BrokerChild(child, listening, exited);
    cleanups.push(() => broker.kill());
    return broker;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, 'SIGKILL');
    await this.exited;
  }
}
