/**
 * Bad input against a real broker: every malformed, out-of-range or over-limit request gets its
 * error code (a gRPC status plus the `runnel-error-code` trailer for a request-level failure, the
 * `error.code` field for a per-partition or per-topic one), stores nothing, and the broker goes on
 * serving: after each group of bad inputs a second client produces and fetches, and every
 * partition holds exactly the batches good produces sent (checked byte for byte, with its log
 * end offset and size). Clients that vanish mid-stream leave no subscription, parked fetch or
 * listener behind, and 1,000 dropped subscribe streams leave no heap behind.
 */
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server.js';
import { loadPackageDefinition } from '../../src/common/proto.js';
import { Attr, BATCH_HEADER_BYTES, Pos, readBatchSize } from '../../src/format/batch-header.js';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch, rng } from '../storage/helpers.js';
import { connect, startTestBroker, type Clients } from './helpers.js';

const SEED = 0x5eed_ba7;
const TOPIC = 'target';
const TRAILER = 'runnel-error-code';
const UINT32_MAX = 4_294_967_295;

// ---- clean-up of what the tests open besides startTestBroker's own client ----------------------

const extraClients: Clients[] = [];
const openCalls: { cancel(): void }[] = [];
const rawSessions: http2.ClientHttp2Session[] = [];

// Registered after helpers.ts's hook, so (hooks run as a stack) it runs first: streams and
// sessions are gone before the broker's graceful shutdown waits for in-flight calls.
afterEach(() => {
  for (const call of openCalls.splice(0)) call.cancel();
  for (const session of rawSessions.splice(0)) session.destroy();
  for (const clients of extraClients.splice(0)) clients.close();
});

// ---- small helpers ----------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns true; fails after `timeoutMs` (every wait here is bounded). */
async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs`. */
function within<T>(promise: Promise<T>, what: string, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next 'data' event of a stream, bounded. */
const nextData = (stream: { once(event: 'data', listener: (m: any) => void): unknown }, what: string): Promise<any> =>
  within(new Promise((resolve) => stream.once('data', resolve)), what);

/** Awaits a call that must fail with `status`, and with `code` in the runnel-error-code trailer. */
async function expectRpcError(call: Promise<unknown>, status: grpc.status, code: string | null): Promise<grpc.ServiceError> {
  const err = await call.then(
    (response) => {
      throw new Error(`expected ${grpc.status[status]}, got a response: ${JSON.stringify(response).slice(0, 300)}`);
    },
    (e: unknown) => e as grpc.ServiceError,
  );
  expect(err.code, err.details).toBe(status);
  if (code !== null) expect(err.metadata.get(TRAILER)).toEqual([code]);
  return err;
}

function expectErrorField(result: any, code: string): void {
  expect(result.error, JSON.stringify(result).slice(0, 300)).not.toBeNull();
  expect(result.error.code).toBe(code);
  expect(typeof result.error.message).toBe('string');
}

function produceRequest(topic: string, partition: number, records: Buffer, correlationId = 0, acks = 'ACKS_ALL'): object {
  return { correlationId, acks, topics: [{ topic, partitions: [{ partition, records }] }] };
}

async function produceOne(c: Clients, topic: string, partition: number, records: Buffer): Promise<any> {
  const response = await c.call('broker', 'produce', produceRequest(topic, partition, records));
  expect(response.topics).toHaveLength(1);
  expect(response.topics[0].partitions).toHaveLength(1);
  return response.topics[0].partitions[0];
}

/** A fetch that does not wait; int64 fields may be strings, to reach past 2^53. */
async function fetchOne(c: Clients, topic: string, partition: number, fetchOffset: number | string): Promise<any> {
  const response = await c.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: 0 }] }] });
  return response.topics[0].partitions[0];
}

async function latestOffset(c: Clients, topic: string, partition: number): Promise<number> {
  const response = await c.call('broker', 'listOffsets', { partitions: [{ topic, partition, spec: 'OFFSET_SPEC_LATEST' }] });
  expect(response.partitions[0].error).toBeNull();
  return response.partitions[0].offset;
}

/** Sends the requests on one ProduceStream, half-closes, and returns every answer in order. */
function produceStream(c: Clients, requests: object[], timeoutMs = 10_000): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const call = (c.broker as any).produceStream({ deadline: Date.now() + timeoutMs });
    const answers: any[] = [];
    call.on('data', (answer: any) => answers.push(answer));
    call.on('error', reject);
    call.on('end', () => resolve(answers));
    for (const request of requests) call.write(request);
    call.end();
  });
}

function subscribeCall(c: Clients, request: object): any {
  const call = (c.broker as any).subscribe(request);
  call.on('error', () => {}); // cancellations surface as CANCELLED errors; read through collect()
  openCalls.push(call);
  return call;
}

/** Reads a server stream to its end: the messages, and its error (null when it ended OK). */
function collect(call: any, timeoutMs = 5_000): Promise<{ messages: any[]; error: grpc.ServiceError | null }> {
  return new Promise((resolve, reject) => {
    const messages: any[] = [];
    const timer = setTimeout(() => reject(new Error(`stream still open after ${timeoutMs} ms (${messages.length} messages)`)), timeoutMs);
    call.on('data', (m: any) => messages.push(m));
    call.on('error', (error: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve({ messages, error });
    });
    call.on('end', () => {
      clearTimeout(timer);
      resolve({ messages, error: null });
    });
  });
}

/** Starts a unary fetch that can be cancelled; `result` settles with the response or the error. */
function startFetch(c: Clients, request: object, deadlineMs = 20_000): { call: grpc.ClientUnaryCall; result: Promise<any> } {
  let call!: grpc.ClientUnaryCall;
  const result = new Promise<any>((resolve, reject) => {
    call = (c.broker as any).fetch(request, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, response: any) => (err ? reject(err) : resolve(response)));
  });
  openCalls.push(call);
  return { call, result };
}

/** Splits fetched bytes into their stored batches. */
function splitStored(bytes: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const size = readBatchSize(bytes, pos);
    batches.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return batches;
}

/** Every stored batch of a partition, from offset 0 to its log end. */
async function readPartitionBatches(c: Clients, topic: string, partition: number): Promise<Buffer[]> {
  const end = await latestOffset(c, topic, partition);
  const batches: Buffer[] = [];
  for (let offset = 0; offset < end; ) {
    const result = await fetchOne(c, topic, partition, offset);
    expect(result.error).toBeNull();
    expect(result.nextOffset).toBeGreaterThan(offset);
    batches.push(...splitStored(result.records));
    offset = result.nextOffset;
  }
  return batches;
}

const recordCountOf = (batch: Buffer): number => batch.readInt32BE(Pos.recordCount);

// ---- the ledger: what good produces sent, and so exactly what each partition must hold ---------

class Ledger {
  private readonly sent = new Map<string, { topic: string; partition: number; batches: Buffer[] }>();
  private tags = 0;

  track(topic: string, partitions: number): void {
    for (let partition = 0; partition < partitions; partition++) this.sent.set(`${topic}/${partition}`, { topic, partition, batches: [] });
  }

  untrack(topic: string): void {
    for (const [key, entry] of this.sent) if (entry.topic === topic) this.sent.delete(key);
  }

  private entry(topic: string, partition: number): { batches: Buffer[] } {
    const entry = this.sent.get(`${topic}/${partition}`);
    if (entry === undefined) throw new Error(`untracked partition ${topic}/${partition}`);
    return entry;
  }

  /** A batch the broker acknowledged. */
  good(topic: string, partition: number, batch: Buffer): void {
    this.entry(topic, partition).batches.push(batch);
  }

  leo(topic: string, partition: number): number {
    return this.entry(topic, partition).batches.reduce((n, b) => n + recordCountOf(b), 0);
  }

  /**
   * For a stream cut off mid-way: the partition holds the known batches followed by some prefix
   * of `candidates` (in order, nothing partial, nothing else). Adopts that prefix; returns its length.
   */
  async adoptPrefix(c: Clients, topic: string, partition: number, candidates: Buffer[]): Promise<number> {
    const known = this.entry(topic, partition).batches.length;
    const stored = await readPartitionBatches(c, topic, partition);
    const extra = stored.length - known;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(candidates.length);
    for (let i = 0; i < extra; i++) this.good(topic, partition, candidates[i]);
    return extra;
  }

  /** A produce and a fetch from `c` (a second client) that must work, appended where expected. */
  async produceGood(c: Clients, topic = TOPIC, partition = 0): Promise<void> {
    const tag = `good${++this.tags}`;
    const batch = makeBatch({ records: 2, tag });
    const base = this.leo(topic, partition);
    const produced = await produceOne(c, topic, partition, batch);
    expect(produced).toMatchObject({ error: null, baseOffset: base, lastOffset: base + 1, duplicate: false });
    this.good(topic, partition, batch);
    const fetched = await fetchOne(c, topic, partition, base);
    expect(fetched.error).toBeNull();
    expect(fetched.nextOffset).toBe(base + 2);
    const records = decodeRecordBatches(fetched.records).flatMap((b) => b.records);
    expect(records.map((r) => r.offset)).toEqual([base, base + 1]);
    records.forEach((r, i) => expect(r.value?.toString().startsWith(`${tag}-${i}-`)).toBe(true));
  }

  /**
   * Every tracked partition holds exactly the acknowledged batches, byte for byte (the broker
   * stamps only baseOffset, the first 8 bytes); log start 0, log end and size as they imply.
   */
  async verify(c: Clients): Promise<void> {
    const topics = [...new Set([...this.sent.values()].map((e) => e.topic))];
    const described = await c.call('admin', 'describeTopics', { names: topics });
    for (const entry of this.sent.values()) {
      const topic = described.topics.find((t: any) => t.name === entry.topic);
      expect(topic.error).toBeNull();
      const partition = topic.partitions.find((p: any) => p.partition === entry.partition);
      const where = `${entry.topic}/${entry.partition}`;
      const { durableHighWatermark, ...offsets } = partition.offsets;
      expect(offsets, where).toEqual({ logStartOffset: 0, highWatermark: this.leo(entry.topic, entry.partition), logEndOffset: this.leo(entry.topic, entry.partition) });
      // Where the fsync stands depends on acks and the flush timer: only its range is known.
      expect(durableHighWatermark, where).toBeGreaterThanOrEqual(0);
      expect(durableHighWatermark, where).toBeLessThanOrEqual(this.leo(entry.topic, entry.partition));
      expect(partition.sizeBytes, where).toBe(entry.batches.reduce((n, b) => n + b.length, 0));
      const stored = await readPartitionBatches(c, entry.topic, entry.partition);
      expect(stored.length, where).toBe(entry.batches.length);
      let offset = 0;
      stored.forEach((batch, i) => {
        expect(Number(batch.readBigInt64BE(Pos.baseOffset)), where).toBe(offset);
        expect(Buffer.compare(batch.subarray(8), entry.batches[i].subarray(8)), `${where} batch ${i}`).toBe(0);
        offset += recordCountOf(batch);
      });
    }
  }
}

interface Harness {
  running: RunningBroker;
  dataDir: string;
  /** Sends the bad input. */
  bad: Clients;
  /** The second client: its good produce and fetch must keep working. */
  good: Clients;
  ledger: Ledger;
}

async function harness(set: string[] = [], topics: { name: string; partitions: number; configs?: object[] }[] = [{ name: TOPIC, partitions: 4 }]): Promise<Harness> {
  const { running, clients, dataDir } = await startTestBroker({ set });
  const good = connect(`127.0.0.1:${running.port}`);
  extraClients.push(good);
  const ledger = new Ledger();
  const created = await clients.call('admin', 'createTopics', { topics: topics.map((t) => ({ configs: [], ...t })) });
  for (const t of created.topics) expect(t.error).toBeNull();
  for (const t of topics) ledger.track(t.name, t.partitions);
  return { running, dataDir, bad: clients, good, ledger };
}

/** After a group of bad inputs: nothing stored but good batches, and a second client is served. */
async function checkpoint(h: Harness, topic = TOPIC, partition = 0): Promise<void> {
  await h.ledger.verify(h.good);
  await h.ledger.produceGood(h.good, topic, partition);
  await h.ledger.verify(h.good);
}

// ---- raw HTTP/2: a client that can vanish without a goodbye -----------------------------------

const serviceOf = (name: string): any => (loadPackageDefinition() as any)[`runnel.v1.${name}`];

function rawSession(running: RunningBroker): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${running.port}`);
  session.on('error', () => {});
  rawSessions.push(session);
  return session;
}

/**
 * Opens a gRPC call by hand and writes length-prefixed messages; `end` half-closes. The stream
 * starts paused: attach a 'data' listener before anything can arrive, or nothing is lost anyway.
 */
function rawCall(session: http2.ClientHttp2Session, method: string, messages: object[], end: boolean): http2.ClientHttp2Stream {
  const stream = session.request({ ':method': 'POST', ':path': `/runnel.v1.Broker/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  for (const message of messages) {
    const body: Buffer = serviceOf('Broker')[method].requestSerialize(message);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    stream.write(frame);
  }
  if (end) stream.end();
  return stream;
}

// ---- batch surgery ----------------------------------------------------------------------------

const valid = (tag = 'bad', records = 2): Buffer => makeBatch({ records, tag });

function withLength(batch: Buffer, batchLength: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeInt32BE(batchLength, Pos.batchLength);
  return copy;
}

function withAttributes(batch: Buffer, bits: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeInt16BE(copy.readInt16BE(Pos.attributes) | bits, Pos.attributes);
  return fixCrc(copy);
}

function withProducer(batch: Buffer, producerId: bigint, producerEpoch: number, baseSequence: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeBigInt64BE(producerId, Pos.producerId);
  copy.writeInt16BE(producerEpoch, Pos.producerEpoch);
  copy.writeInt32BE(baseSequence, Pos.baseSequence);
  return fixCrc(copy);
}

/** A header-only batch claiming zero records (lastOffsetDelta -1), CRC fixed. */
function zeroRecordBatch(): Buffer {
  const batch = Buffer.from(valid().subarray(0, BATCH_HEADER_BYTES));
  batch.writeInt32BE(BATCH_HEADER_BYTES - 12, Pos.batchLength);
  batch.writeInt32BE(-1, Pos.lastOffsetDelta);
  batch.writeInt32BE(0, Pos.recordCount);
  return fixCrc(batch);
}

/** The batch with its length field `delta` bytes short, CRC fixed over what that length covers. */
function lengthShort(delta: number): Buffer {
  const batch = valid();
  const lied = withLength(batch, batch.length - 12 - delta);
  fixCrc(lied.subarray(0, lied.length - delta));
  return lied;
}

// ---- memory -----------------------------------------------------------------------------------

/**
 * A full GC without --expose-gc: V8 flags may be set at run time, and `gc` then exists in new
 * contexts. Measuring heapUsed right after a full collection makes the comparison about live
 * objects, not about when V8 last happened to collect. Undefined if the trick is unavailable.
 */
function fullGc(): (() => void) | undefined {
  const global = globalThis as { gc?: () => void };
  if (typeof global.gc === 'function') return global.gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** heapUsed once settled: timers and sockets closed, then (when possible) several full GCs. */
async function settledHeap(gc: (() => void) | undefined): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    await sleep(60);
    gc?.();
    best = Math.min(best, process.memoryUsage().heapUsed);
  }
  return best;
}

// ---- the tests --------------------------------------------------------------------------------

describe('broker: bad input', () => {
  it('random bytes as batches: CORRUPT_BATCH (INVALID_ARGUMENT when empty), nothing stored, while a second client produces', async () => {
    const h = await harness();
    const random = rng(SEED);
    const int = (n: number): number => Math.floor(random() * n);
    const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
    const cases: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const kind = i % 5;
      if (kind === 0) cases.push(randomBytes(int(12))); // shorter than the length prefix (0 too)
      else if (kind === 1) cases.push(randomBytes(12 + int(188)));
      else if (kind === 2) cases.push(randomBytes(200 + int(8000)));
      else if (kind === 3) {
        // random bytes behind a plausible prefix (baseOffset 0, true length, magic 2): the CRC must catch them
        const bytes = randomBytes(BATCH_HEADER_BYTES + int(2000));
        bytes.fill(0, 0, 8);
        bytes.writeInt32BE(bytes.length - 12, Pos.batchLength);
        bytes.writeInt8(2, Pos.magic);
        cases.push(bytes);
      } else {
        // a valid batch with 1-4 bytes changed anywhere the broker checks (all but baseOffset and leader epoch)
        const bytes = valid(`r${i}`, 1 + int(5));
        for (let n = 1 + int(4); n > 0; n--) {
          let pos = 8 + int(bytes.length - 8);
          if (pos >= Pos.partitionLeaderEpoch && pos < Pos.magic) pos = Pos.magic;
          bytes[pos] ^= 1 + int(255);
        }
        cases.push(bytes);
      }
    }
    const expected = (bytes: Buffer): string => (bytes.length === 0 ? 'INVALID_ARGUMENT' : 'CORRUPT_BATCH');

    // The second client produces good batches to the same partitions all along.
    let stop = false;
    const goodLoop = (async () => {
      for (let n = 0; !stop || n < 5; n++) await h.ledger.produceGood(h.good, TOPIC, n % 4);
    })();
    try {
      // 150 as unary Produce, ten at a time, across the four partitions.
      for (let i = 0; i < 150; i += 10) {
        const results = await Promise.all(cases.slice(i, i + 10).map((bytes, j) => produceOne(h.bad, TOPIC, (i + j) % 4, bytes)));
        results.forEach((result, j) => {
          expectErrorField(result, expected(cases[i + j]));
          expect(result).toMatchObject({ baseOffset: -1, lastOffset: -1 });
        });
      }
      // 50 pipelined on one ProduceStream: answered in order, per partition, and the stream goes on.
      const rest = cases.slice(150);
      const answers = await produceStream(h.bad, rest.map((bytes, i) => produceRequest(TOPIC, i % 4, bytes, 1000 + i)));
      expect(answers.map((a) => a.correlationId)).toEqual(rest.map((_, i) => 1000 + i));
      answers.forEach((a, i) => expectErrorField(a.topics[0].partitions[0], expected(rest[i])));
    } finally {
      stop = true;
      await within(goodLoop, 'the good producer loop', 15_000);
    }
    await checkpoint(h);
  });

  it('crafted malformed batches get their codes; a bad batch anywhere in the bytes stores nothing', async () => {
    const h = await harness([], [
      { name: TOPIC, partitions: 4 },
      { name: 'small', partitions: 1, configs: [{ name: 'maxMessageBytes', value: '1024' }] },
    ]);
    const crcFlipped = valid();
    crcFlipped[Pos.crc + 2] ^= 0xff;
    const recordFlipped = valid();
    recordFlipped[recordFlipped.length - 3] ^= 0x01;
    const magic = (m: number): Buffer => {
      const b = valid();
      b.writeInt8(m, Pos.magic);
      return fixCrc(b);
    };
    const codec = (c: number): Buffer => {
      const b = valid();
      b.writeInt16BE((b.readInt16BE(Pos.attributes) & ~Attr.codecMask) | c, Pos.attributes);
      return fixCrc(b);
    };
    const countMismatch = valid('cm', 2);
    countMismatch.writeInt32BE(3, Pos.recordCount);
    fixCrc(countMismatch);
    const cases: [string, Buffer, string][] = [
      ['empty records (no bytes)', Buffer.alloc(0), 'INVALID_ARGUMENT'],
      ['flipped CRC byte', crcFlipped, 'CORRUPT_BATCH'],
      ['flipped record byte (CRC kept)', recordFlipped, 'CORRUPT_BATCH'],
      ['magic 0 (CRC fixed)', magic(0), 'CORRUPT_BATCH'],
      ['magic 1 (CRC fixed)', magic(1), 'CORRUPT_BATCH'],
      ['magic 3 (CRC fixed)', magic(3), 'CORRUPT_BATCH'],
      ['magic -1 (CRC fixed)', magic(-1), 'CORRUPT_BATCH'],
      ['unknown codec 5 (CRC fixed)', codec(5), 'CORRUPT_BATCH'],
      ['unknown codec 7 (CRC fixed)', codec(7), 'CORRUPT_BATCH'],
      ['zero records (CRC fixed)', zeroRecordBatch(), 'CORRUPT_BATCH'],
      ['recordCount != lastOffsetDelta + 1 (CRC fixed)', countMismatch, 'CORRUPT_BATCH'],
      ['length 1 byte longer than sent', withLength(valid(), valid().length - 12 + 1), 'CORRUPT_BATCH'],
      ['length 1000 bytes longer than sent', withLength(valid(), valid().length - 12 + 1000), 'CORRUPT_BATCH'],
      ['length 2^31-1', withLength(valid(), 0x7fffffff), 'CORRUPT_BATCH'],
      ['length 1 byte short (CRC fixed over it)', lengthShort(1), 'CORRUPT_BATCH'],
      ['length 11 bytes short (CRC fixed over it)', lengthShort(11), 'CORRUPT_BATCH'],
      ['length 20 bytes short (CRC fixed over it)', lengthShort(20), 'CORRUPT_BATCH'],
      ['length below a header (48)', withLength(valid(), BATCH_HEADER_BYTES - 13), 'CORRUPT_BATCH'],
      ['length 0', withLength(valid(), 0), 'CORRUPT_BATCH'],
      ['length -1', withLength(valid(), -1), 'CORRUPT_BATCH'],
      ['length -2^31', withLength(valid(), -0x80000000), 'CORRUPT_BATCH'],
      ...Array.from({ length: 11 }, (_, i): [string, Buffer, string] => [`${i + 1} bytes`, valid().subarray(0, i + 1), 'CORRUPT_BATCH']),
      ['12 bytes (length prefix only)', valid().subarray(0, 12), 'CORRUPT_BATCH'],
      ['40 bytes of header', valid().subarray(0, 40), 'CORRUPT_BATCH'],
      ['all but the last byte', valid().subarray(0, valid().length - 1), 'CORRUPT_BATCH'],
      ['good batch then a flipped-CRC batch', Buffer.concat([valid('first'), crcFlipped]), 'CORRUPT_BATCH'],
      ['good batch then a truncated batch', Buffer.concat([valid('first'), valid().subarray(0, 30)]), 'CORRUPT_BATCH'],
      ['good batch then a wrong-magic batch', Buffer.concat([valid('first'), magic(1)]), 'CORRUPT_BATCH'],
      ['two good batches then a zero-record batch', Buffer.concat([valid('first'), valid('second'), zeroRecordBatch()]), 'CORRUPT_BATCH'],
      ['good batch then a transactional batch', Buffer.concat([valid('first'), withAttributes(valid(), Attr.transactional)]), 'INVALID_PRODUCER_FIELDS'],
      ['good batch then producerId -1 with sequence 5', Buffer.concat([valid('first'), withProducer(valid(), -1n, -1, 5)]), 'INVALID_PRODUCER_FIELDS'],
      ['trailing byte after a good batch', Buffer.concat([valid(), Buffer.from([0])]), 'CORRUPT_BATCH'],
      ['11 trailing bytes after a good batch', Buffer.concat([valid(), Buffer.alloc(11, 0xab)]), 'CORRUPT_BATCH'],
      ['12 trailing zero bytes after a good batch', Buffer.concat([valid(), Buffer.alloc(12)]), 'CORRUPT_BATCH'],
      ['100 trailing 0xff bytes after a good batch', Buffer.concat([valid(), Buffer.alloc(100, 0xff)]), 'CORRUPT_BATCH'],
      ['transactional bit (CRC fixed)', withAttributes(valid(), Attr.transactional), 'INVALID_PRODUCER_FIELDS'],
      ['control bit (CRC fixed)', withAttributes(valid(), Attr.control), 'INVALID_PRODUCER_FIELDS'],
      ['transactional and control bits (CRC fixed)', withAttributes(valid(), Attr.transactional | Attr.control), 'INVALID_PRODUCER_FIELDS'],
      ['producerId -1, sequence 5', withProducer(valid(), -1n, -1, 5), 'INVALID_PRODUCER_FIELDS'],
      ['producerId -1, sequence 0', withProducer(valid(), -1n, -1, 0), 'INVALID_PRODUCER_FIELDS'],
      ['producerId -1, epoch 3', withProducer(valid(), -1n, 3, -1), 'INVALID_PRODUCER_FIELDS'],
      ['producerId -5', withProducer(valid(), -5n, 0, 0), 'INVALID_PRODUCER_FIELDS'],
      ['producerId 1, epoch -2', withProducer(valid(), 1n, -2, 0), 'INVALID_PRODUCER_FIELDS'],
      ['producerId 1, sequence -7', withProducer(valid(), 1n, 0, -7), 'INVALID_PRODUCER_FIELDS'],
      ['producerId never allocated', withProducer(valid(), 999_999n, 0, 0), 'UNKNOWN_PRODUCER_ID'],
    ];
    for (const [name, bytes, code] of cases) {
      const partition = cases.findIndex((c) => c[0] === name) % 4;
      const result = await produceOne(h.bad, TOPIC, partition, bytes);
      expect(result.error?.code, name).toBe(code);
      expect(result.baseOffset, name).toBe(-1);
    }
    // A batch over the topic's maxMessageBytes (1024 here), alone and after a good one.
    const big = makeBatch({ records: 1, valueBytes: 2000 });
    expect(big.length).toBeGreaterThan(1024);
    expectErrorField(await produceOne(h.bad, 'small', 0, big), 'BATCH_TOO_LARGE');
    expectErrorField(await produceOne(h.bad, 'small', 0, Buffer.concat([valid('ok'), big])), 'BATCH_TOO_LARGE');
    // The same cases on one ProduceStream get the same answers.
    const answers = await produceStream(h.bad, cases.map(([, bytes], i) => produceRequest(TOPIC, i % 4, bytes, i)));
    answers.forEach((a, i) => expect(a.topics[0].partitions[0].error?.code, cases[i][0]).toBe(cases[i][2]));
    await checkpoint(h);
    await checkpoint(h, 'small', 0);

    // One bad partition does not fail the others of the request, and only the good one is stored.
    const ok = valid('mixed-ok');
    const mixed = await h.bad.call('broker', 'produce', {
      acks: 'ACKS_ALL',
      topics: [{ topic: TOPIC, partitions: [{ partition: 1, records: crcFlipped }, { partition: 2, records: ok }, { partition: 3, records: Buffer.alloc(5) }] }],
    });
    const [p1, p2, p3] = mixed.topics[0].partitions;
    expectErrorField(p1, 'CORRUPT_BATCH');
    expect(p2).toMatchObject({ partition: 2, error: null, baseOffset: h.ledger.leo(TOPIC, 2) });
    h.ledger.good(TOPIC, 2, ok);
    expectErrorField(p3, 'CORRUPT_BATCH');
    await checkpoint(h);
  });

  it('unknown topics and partitions in produce, fetch, list offsets, subscribe, delete records and admin', async () => {
    const h = await harness();
    const good = valid('known');
    const produced = await h.bad.call('broker', 'produce', {
      acks: 'ACKS_ALL',
      topics: [
        { topic: 'nope', partitions: [{ partition: 0, records: valid() }] },
        { topic: TOPIC, partitions: [{ partition: UINT32_MAX, records: valid() }, { partition: 4, records: valid() }, { partition: 0, records: good }] },
      ],
    });
    expect(produced.topics.map((t: any) => t.topic)).toEqual(['nope', TOPIC]);
    expectErrorField(produced.topics[0].partitions[0], 'UNKNOWN_TOPIC');
    const [huge, four, zero] = produced.topics[1].partitions;
    expect(huge.partition).toBe(UINT32_MAX);
    expectErrorField(huge, 'UNKNOWN_PARTITION');
    expectErrorField(four, 'UNKNOWN_PARTITION');
    expect(zero).toMatchObject({ partition: 0, error: null, baseOffset: 0 });
    h.ledger.good(TOPIC, 0, good);
    const streamed = await produceStream(h.bad, [produceRequest('nope', 0, valid(), 1), produceRequest(TOPIC, UINT32_MAX, valid(), 2)]);
    expectErrorField(streamed[0].topics[0].partitions[0], 'UNKNOWN_TOPIC');
    expectErrorField(streamed[1].topics[0].partitions[0], 'UNKNOWN_PARTITION');

    const fetched = await h.bad.call('broker', 'fetch', {
      maxWaitMs: 1000,
      minBytes: 1_000_000,
      maxBytes: 0,
      topics: [
        { topic: 'nope', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] },
        { topic: TOPIC, partitions: [{ partition: UINT32_MAX, fetchOffset: 0, maxBytes: 0 }, { partition: 0, fetchOffset: 0, maxBytes: 0 }] },
      ],
    });
    expectErrorField(fetched.topics[0].partitions[0], 'UNKNOWN_TOPIC');
    expectErrorField(fetched.topics[1].partitions[0], 'UNKNOWN_PARTITION');
    expect(fetched.topics[1].partitions[1].error).toBeNull();
    expect(splitStored(fetched.topics[1].partitions[1].records)).toHaveLength(1);

    const listed = await h.bad.call('broker', 'listOffsets', {
      partitions: [
        { topic: 'nope', partition: 0, spec: 'OFFSET_SPEC_LATEST' },
        { topic: TOPIC, partition: UINT32_MAX, spec: 'OFFSET_SPEC_EARLIEST' },
        { topic: TOPIC, partition: 4, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: 0 },
        { topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_LATEST' },
      ],
    });
    expectErrorField(listed.partitions[0], 'UNKNOWN_TOPIC');
    expectErrorField(listed.partitions[1], 'UNKNOWN_PARTITION');
    expectErrorField(listed.partitions[2], 'UNKNOWN_PARTITION');
    expect(listed.partitions[3]).toMatchObject({ error: null, offset: 2 });

    // Subscribe: each bad partition gets one message with its error; with none left the stream ends OK.
    const onlyBad = await collect(
      subscribeCall(h.bad, {
        partitions: [
          { topic: 'nope', partition: 0, startOffset: 0 },
          { topic: TOPIC, partition: UINT32_MAX, startOffset: -2 },
          { topic: TOPIC, partition: 4, startOffset: -1 },
        ],
      }),
    );
    expect(onlyBad.error).toBeNull();
    expect(onlyBad.messages.map((m) => [m.topic, m.partition, m.error?.code])).toEqual([
      ['nope', 0, 'UNKNOWN_TOPIC'],
      [TOPIC, UINT32_MAX, 'UNKNOWN_PARTITION'],
      [TOPIC, 4, 'UNKNOWN_PARTITION'],
    ]);
    // ...and a good partition beside a bad one keeps streaming.
    const mixed = subscribeCall(h.bad, { partitions: [{ topic: 'nope', partition: 0, startOffset: 0 }, { topic: TOPIC, partition: 0, startOffset: -2 }] });
    const seen: any[] = [];
    mixed.on('data', (m: any) => seen.push(m));
    await waitFor('the good partition to stream', () => seen.some((m) => m.topic === TOPIC && m.records.length > 0));
    expectErrorField(seen.find((m) => m.topic === 'nope'), 'UNKNOWN_TOPIC');
    mixed.cancel();
    await waitFor('subscriptions to close', () => h.running.broker.openSubscriptions === 0);

    const deleted = await h.bad.call('admin', 'deleteRecords', {
      partitions: [
        { topic: 'nope', partition: 0, beforeOffset: 0 },
        { topic: TOPIC, partition: UINT32_MAX, beforeOffset: 0 },
        { topic: TOPIC, partition: 4, beforeOffset: -1 },
      ],
    });
    expectErrorField(deleted.partitions[0], 'UNKNOWN_TOPIC');
    expectErrorField(deleted.partitions[1], 'UNKNOWN_PARTITION');
    expectErrorField(deleted.partitions[2], 'UNKNOWN_PARTITION');

    const described = await h.bad.call('admin', 'describeTopics', { names: ['nope'] });
    expectErrorField(described.topics[0], 'UNKNOWN_TOPIC');
    const dropped = await h.bad.call('admin', 'deleteTopics', { names: ['nope'] });
    expectErrorField(dropped.topics[0], 'UNKNOWN_TOPIC');
    await expectRpcError(h.bad.call('admin', 'alterTopicConfigs', { name: 'nope', configs: [{ name: 'retentionMs', value: '1' }] }), grpc.status.NOT_FOUND, 'UNKNOWN_TOPIC');
    // Naming any producer id is refused (issue 11, finding 5), known or not.
    await expectRpcError(h.bad.call('broker', 'initProducerId', { producerId: 123_456, producerEpoch: 0 }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await checkpoint(h);
  });

  it('offsets and sizes out of range: negative, 2^53, 2^63-1, 4294967295 (clamped), and bad timestamps', async () => {
    const h = await harness(['limits.fetchWaitMsMax=300']);
    await h.ledger.produceGood(h.good, TOPIC, 0);
    const end = h.ledger.leo(TOPIC, 0);

    for (const offset of [-1, -2, end + 1, 2 ** 53, '9223372036854775807', '-9223372036854775808']) {
      const result = await fetchOne(h.bad, TOPIC, 0, offset);
      expectErrorField(result, 'OFFSET_OUT_OF_RANGE');
      expect(result.offsets, String(offset)).toEqual({ logStartOffset: 0, highWatermark: end, durableHighWatermark: end, logEndOffset: end });
      expect(result.records).toHaveLength(0);
    }
    // Sizes of 4294967295 are clamped to the broker's limits, not refused.
    const wide = await h.bad.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: UINT32_MAX, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: UINT32_MAX }] }] });
    expect(wide.topics[0].partitions[0]).toMatchObject({ error: null, nextOffset: end });
    // maxWaitMs 4294967295 is clamped to fetchWaitMsMax (300 ms): the long poll answers on time.
    for (const minBytes of [1, UINT32_MAX]) {
      const started = Date.now();
      const waited = await h.bad.call('broker', 'fetch', { maxWaitMs: UINT32_MAX, minBytes, maxBytes: UINT32_MAX, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: end, maxBytes: 0 }] }] });
      const elapsed = Date.now() - started;
      expect(waited.topics[0].partitions[0]).toMatchObject({ error: null, nextOffset: end });
      expect(waited.topics[0].partitions[0].records).toHaveLength(0);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2_000);
    }
    expect(h.running.broker.parkedFetches).toBe(0);

    for (const beforeOffset of [-5, -2, end + 1, 2 ** 53, '9223372036854775807']) {
      const deleted = await h.bad.call('admin', 'deleteRecords', { partitions: [{ topic: TOPIC, partition: 0, beforeOffset }] });
      expectErrorField(deleted.partitions[0], 'OFFSET_OUT_OF_RANGE');
    }
    const listed = await h.bad.call('broker', 'listOffsets', {
      partitions: [
        { topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: -7 },
        { topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: '-9223372036854775808' },
        { topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: '9223372036854775807' },
      ],
    });
    expectErrorField(listed.partitions[0], 'INVALID_ARGUMENT');
    expectErrorField(listed.partitions[1], 'INVALID_ARGUMENT');
    expectErrorField(listed.partitions[2], 'INVALID_ARGUMENT');

    // Subscribe from an offset outside the log: that partition stops with OFFSET_OUT_OF_RANGE.
    for (const startOffset of [-3, end + 1, 2 ** 53]) {
      const { messages, error } = await collect(subscribeCall(h.bad, { maxBytes: UINT32_MAX, partitions: [{ topic: TOPIC, partition: 0, startOffset }] }));
      expect(error).toBeNull();
      expect(messages).toHaveLength(1);
      expectErrorField(messages[0], 'OFFSET_OUT_OF_RANGE');
    }
    expect(h.running.broker.openSubscriptions).toBe(0);
    await checkpoint(h);
  });

  it('invalid topic names: INVALID_TOPIC_NAME per topic in create topics and per partition in produce, nothing created', async () => {
    const h = await harness(['autoCreateTopics=true']);
    const escape = `runnel-escape-${process.pid}-${Date.now()}`;
    const names = ['a/b', `../${escape}`, '/abs', '..', '.', 'nul\u0000byte', 'x'.repeat(10_000), 'y'.repeat(250), '', 'tôpic', '日本語', 'emoji😀', 'has space', 'tab\tname', 'back\\slash', 'colon:name'];
    const topicsBefore = await h.bad.call('admin', 'listTopics', { includeInternal: true });
    // Partition directories and topic files (checkpoint files come and go on their own timers).
    const layout = (): string[] => [
      ...fs.readdirSync(h.dataDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name),
      ...fs.readdirSync(path.join(h.dataDir, 'meta', 'topics')).filter((name) => name.endsWith('.json')),
    ].sort();
    const layoutBefore = layout();

    const created = await h.bad.call('admin', 'createTopics', { topics: names.map((name) => ({ name, partitions: 1, configs: [] })) });
    expect(created.topics).toHaveLength(names.length);
    created.topics.forEach((t: any, i: number) => {
      expect(t.name).toBe(names[i]);
      expectErrorField(t, 'INVALID_TOPIC_NAME');
    });
    const validateOnly = await h.bad.call('admin', 'createTopics', { topics: [{ name: '..', partitions: 1, configs: [] }], validateOnly: true });
    expectErrorField(validateOnly.topics[0], 'INVALID_TOPIC_NAME');
    // 249 characters is the longest valid name (validated only, not created).
    const longest = await h.bad.call('admin', 'createTopics', { topics: [{ name: 'z'.repeat(249), partitions: 1, configs: [] }], validateOnly: true });
    expect(longest.topics[0].error).toBeNull();

    // Produce, with auto-creation on: refused per partition before any topic is made.
    const produced = await h.bad.call('broker', 'produce', { acks: 'ACKS_ALL', topics: names.map((topic) => ({ topic, partitions: [{ partition: 0, records: valid() }] })) });
    expect(produced.topics.map((t: any) => t.topic)).toEqual(names);
    for (const t of produced.topics) expectErrorField(t.partitions[0], 'INVALID_TOPIC_NAME');
    const streamed = await produceStream(h.bad, names.map((topic, i) => produceRequest(topic, 0, valid(), i)));
    streamed.forEach((a) => expectErrorField(a.topics[0].partitions[0], 'INVALID_TOPIC_NAME'));
    // Reads of such names find nothing (and break nothing).
    const fetched = await h.bad.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: names.map((topic) => ({ topic, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] })) });
    for (const t of fetched.topics) expect(['UNKNOWN_TOPIC', 'INVALID_TOPIC_NAME']).toContain(t.partitions[0].error?.code);

    expect(await h.bad.call('admin', 'listTopics', { includeInternal: true })).toEqual(topicsBefore);
    expect(layout()).toEqual(layoutBefore);
    expect(fs.existsSync(path.join(h.dataDir, '..', `${escape}-0`))).toBe(false);
    expect(fs.existsSync(path.join(h.dataDir, 'a'))).toBe(false);

    // Other bad creates: existing name, partitions 0 and above the maximum.
    const others = await h.bad.call('admin', 'createTopics', {
      topics: [
        { name: TOPIC, partitions: 1, configs: [] },
        { name: 'zero-partitions', partitions: 0, configs: [] },
        { name: 'too-many-partitions', partitions: 1001, configs: [] },
        { name: 'bad-config', partitions: 1, configs: [{ name: 'maxMessageBytes', value: '-1' }] },
      ],
    });
    expect(others.topics.map((t: any) => t.error?.code)).toEqual(['TOPIC_ALREADY_EXISTS', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_CONFIG']);
    expect(await h.bad.call('admin', 'listTopics', { includeInternal: true })).toEqual(topicsBefore);
    await checkpoint(h);
  });

  it('too many partitions in one request: RESOURCE_EXHAUSTED / LIMIT_EXCEEDED for every RPC, nothing done', async () => {
    const h = await harness(['limits.maxPartitionsPerRequest=5'], [
      { name: TOPIC, partitions: 8 },
      { name: 'other', partitions: 3 },
    ]);
    const six = [0, 1, 2, 3, 4, 5];
    const limited = (call: Promise<unknown>): Promise<grpc.ServiceError> => expectRpcError(call, grpc.status.RESOURCE_EXHAUSTED, 'LIMIT_EXCEEDED');

    await limited(h.bad.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: six.map((partition) => ({ partition, records: valid() })) }] }));
    await limited(
      h.bad.call('broker', 'produce', {
        acks: 'ACKS_ALL',
        topics: [
          { topic: TOPIC, partitions: [0, 1, 2].map((partition) => ({ partition, records: valid() })) },
          { topic: 'other', partitions: [0, 1, 2].map((partition) => ({ partition, records: valid() })) },
        ],
      }),
    );
    await expectRpcError(h.bad.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await limited(produceStream(h.bad, [{ correlationId: 1, acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: six.map((partition) => ({ partition, records: valid() })) }] }]));
    await limited(h.bad.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: TOPIC, partitions: six.map((partition) => ({ partition, fetchOffset: 0, maxBytes: 0 })) }] }));
    await limited(h.bad.call('broker', 'listOffsets', { partitions: six.map((partition) => ({ topic: TOPIC, partition, spec: 'OFFSET_SPEC_LATEST' })) }));
    const sub = await collect(subscribeCall(h.bad, { partitions: six.map((partition) => ({ topic: TOPIC, partition, startOffset: -2 })) }));
    expect(sub.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(sub.error?.metadata.get(TRAILER)).toEqual(['LIMIT_EXCEEDED']);
    await limited(h.bad.call('admin', 'deleteRecords', { partitions: six.map((partition) => ({ topic: TOPIC, partition, beforeOffset: 0 })) }));
    await limited(h.bad.call('admin', 'createTopics', { topics: six.map((i) => ({ name: `new-${i}`, partitions: 1, configs: [] })) }));
    await limited(h.bad.call('admin', 'describeTopics', { names: [TOPIC, 'other', 'a', 'b', 'c', 'd'] }));
    await limited(h.bad.call('admin', 'deleteTopics', { names: [TOPIC, 'other', 'a', 'b', 'c', 'd'] }));
    const topics = await h.bad.call('admin', 'listTopics', {});
    expect(topics.topics.map((t: any) => t.name)).toEqual(['other', TOPIC]);
    expect(h.running.broker.openSubscriptions).toBe(0);
    await checkpoint(h);

    // Exactly the limit is fine; a partition named twice is refused for its second mention only.
    const five = [0, 1, 2, 3, 4].map((partition) => ({ partition, records: valid(`five-${partition}`) }));
    const ok = await h.bad.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: five }] });
    ok.topics[0].partitions.forEach((p: any, i: number) => {
      expect(p.error).toBeNull();
      h.ledger.good(TOPIC, i, five[i].records);
    });
    const first = valid('twice-first');
    const twice = await h.bad.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: [{ partition: 6, records: first }, { partition: 6, records: valid('twice-second') }] }] });
    expect(twice.topics[0].partitions[0].error).toBeNull();
    h.ledger.good(TOPIC, 6, first);
    expectErrorField(twice.topics[0].partitions[1], 'INVALID_ARGUMENT');
    await checkpoint(h);
  });

  it('a request over limits.maxRequestBytes: RESOURCE_EXHAUSTED from gRPC, nothing stored, broker fine afterwards', async () => {
    const h = await harness(['limits.maxRequestBytes=65536', 'log.maxBatchBytes=32768']);
    const chunk = (tag: string): Buffer => makeBatch({ records: 1, valueBytes: 30_000, tag });
    const oversized = Buffer.concat([chunk('o1'), chunk('o2'), chunk('o3')]);
    expect(oversized.length).toBeGreaterThan(65536);
    const err = await expectRpcError(h.bad.call('broker', 'produce', produceRequest(TOPIC, 0, oversized)), grpc.status.RESOURCE_EXHAUSTED, null);
    expect(err.metadata.get(TRAILER).every((v) => v === 'REQUEST_TOO_LARGE')).toBe(true);
    // Under the request limit but over the batch limit: per partition.
    expectErrorField(await produceOne(h.bad, TOPIC, 1, makeBatch({ records: 1, valueBytes: 40_000 })), 'BATCH_TOO_LARGE');
    // On a stream: the good request before is stored, the oversized one ends the stream.
    const before = chunk('stream-ok');
    const call = (h.bad.broker as any).produceStream({ deadline: Date.now() + 10_000 });
    const outcome = collect(call);
    const answered = nextData(call, 'the answer to the first stream request');
    call.write(produceRequest(TOPIC, 2, before, 1));
    expect(await answered).toMatchObject({ correlationId: 1, topics: [{ partitions: [{ error: null, baseOffset: 0 }] }] });
    h.ledger.good(TOPIC, 2, before);
    call.write(produceRequest(TOPIC, 2, oversized, 2));
    const { messages, error } = await outcome;
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(messages.map((m) => m.correlationId)).toEqual([1]);
    // A fetch request over the limit (a topic name of 70,000 characters) is refused the same way.
    await expectRpcError(
      h.bad.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 'n'.repeat(70_000), partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] }),
      grpc.status.RESOURCE_EXHAUSTED,
      null,
    );
    // The bad client's own channel still works too.
    await h.ledger.produceGood(h.bad, TOPIC, 3);
    await checkpoint(h);
  });

  it('too many topics (limits.maxTopics=3): LIMIT_EXCEEDED per topic, for creates and auto-creates', async () => {
    const h = await harness(['limits.maxTopics=3', 'autoCreateTopics=true']);
    const made = await h.bad.call('admin', 'createTopics', { topics: [{ name: 'a', partitions: 1, configs: [] }, { name: 'b', partitions: 1, configs: [] }] });
    expect(made.topics.map((t: any) => t.error)).toEqual([null, null]);
    const refused = await h.bad.call('admin', 'createTopics', { topics: [{ name: 'c', partitions: 1, configs: [] }, { name: 'd', partitions: 2, configs: [] }] });
    expect(refused.topics.map((t: any) => t.error?.code)).toEqual(['LIMIT_EXCEEDED', 'LIMIT_EXCEEDED']);
    expect(refused.topics[0].error.retriable).toBe(true);
    const checked = await h.bad.call('admin', 'createTopics', { topics: [{ name: 'c', partitions: 1, configs: [] }], validateOnly: true });
    expectErrorField(checked.topics[0], 'LIMIT_EXCEEDED');
    expectErrorField(await produceOne(h.bad, 'auto-created', 0, valid()), 'LIMIT_EXCEEDED');
    const names = async (): Promise<string[]> => (await h.bad.call('admin', 'listTopics', { includeInternal: true })).topics.map((t: any) => t.name);
    expect(await names()).toEqual(['a', 'b', TOPIC]);
    for (const gone of ['c-0', 'd-0', 'd-1', 'auto-created-0']) expect(fs.existsSync(path.join(h.dataDir, gone))).toBe(false);
    await checkpoint(h);
    // Room made by a delete can be used again.
    expect((await h.bad.call('admin', 'deleteTopics', { names: ['b'] })).topics[0].error).toBeNull();
    expect((await h.bad.call('admin', 'createTopics', { topics: [{ name: 'c', partitions: 1, configs: [] }] })).topics[0].error).toBeNull();
    expect(await names()).toEqual(['a', 'c', TOPIC]);
    await checkpoint(h);
  });

  it('too many subscribe streams (limits.maxSubscribeStreams=3): LIMIT_EXCEEDED, the open ones keep streaming', async () => {
    const h = await harness(['limits.maxSubscribeStreams=3']);
    const broker = h.running.broker;
    const subscribers = [0, 1, 2].map(() => {
      const call = subscribeCall(h.bad, { partitions: [{ topic: TOPIC, partition: 0, startOffset: -1 }] });
      const messages: any[] = [];
      call.on('data', (m: any) => messages.push(m));
      return { call, messages };
    });
    await waitFor('three subscriptions', () => broker.openSubscriptions === 3);
    const fourth = await collect(subscribeCall(h.good, { partitions: [{ topic: TOPIC, partition: 1, startOffset: -2 }] }));
    expect(fourth.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(fourth.error?.metadata.get(TRAILER)).toEqual(['LIMIT_EXCEEDED']);
    expect(broker.openSubscriptions).toBe(3);
    await checkpoint(h);
    await waitFor('every subscriber to get the good batch', () => subscribers.every((s) => s.messages.some((m) => m.records.length > 0)));
    // Cancelling one frees its slot.
    subscribers[0].call.cancel();
    await waitFor('the cancelled subscription to close', () => broker.openSubscriptions === 2);
    const again = subscribeCall(h.good, { partitions: [{ topic: TOPIC, partition: 0, startOffset: -2 }] });
    const got: any[] = [];
    again.on('data', (m: any) => got.push(m));
    await waitFor('the new subscription to stream', () => got.some((m) => m.records.length > 0));
    expect(broker.openSubscriptions).toBe(3);
    for (const call of [again, subscribers[1].call, subscribers[2].call]) call.cancel();
    await waitFor('all subscriptions to close', () => broker.openSubscriptions === 0);
    expect(broker.activity.waiterCount).toBe(0);
    await checkpoint(h);
  });

  it('too many parked fetches (limits.maxParkedFetches=2): LIMIT_EXCEEDED, parked ones still answered', async () => {
    const h = await harness(['limits.maxParkedFetches=2']);
    const broker = h.running.broker;
    const parkAt = (offset: number): ReturnType<typeof startFetch> =>
      startFetch(h.bad, { maxWaitMs: 20_000, minBytes: 1, maxBytes: 0, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: offset, maxBytes: 0 }] }] });
    const first = parkAt(0);
    const second = parkAt(0);
    await waitFor('two parked fetches', () => broker.parkedFetches === 2);
    const started = Date.now();
    await expectRpcError(parkAt(0).result, grpc.status.RESOURCE_EXHAUSTED, 'LIMIT_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(2_000);
    // A fetch that does not wait is still served.
    expect((await fetchOne(h.good, TOPIC, 0, 0)).error).toBeNull();
    // A cancelled parked fetch frees its slot.
    first.call.cancel();
    await expectRpcError(within(first.result, 'the cancelled fetch'), grpc.status.CANCELLED, null);
    await waitFor('the cancelled fetch to unpark', () => broker.parkedFetches === 1);
    const third = parkAt(0);
    await waitFor('two parked fetches again', () => broker.parkedFetches === 2);
    // A good produce wakes both with its batch.
    await checkpoint(h);
    for (const woken of await within(Promise.all([second.result, third.result]), 'the parked fetches to wake')) {
      expect(woken.topics[0].partitions[0].error).toBeNull();
      expect(woken.topics[0].partitions[0].nextOffset).toBe(2);
    }
    expect(broker.parkedFetches).toBe(0);
    expect(broker.activity.waiterCount).toBe(0);
  });

  it('a ProduceStream with more requests in flight than limits.maxInFlightPerStream fails; what was stored is a prefix', async () => {
    const h = await harness(['limits.maxInFlightPerStream=4']);
    const batches = Array.from({ length: 200 }, (_, i) => valid(`inflight-${i}`, 1));
    const err = await expectRpcError(
      produceStream(h.bad, batches.map((b, i) => produceRequest(TOPIC, 1, b, i))),
      grpc.status.RESOURCE_EXHAUSTED,
      'LIMIT_EXCEEDED',
    );
    expect(err.details).toMatch(/in flight/);
    await sleep(100);
    const kept = await h.ledger.adoptPrefix(h.good, TOPIC, 1, batches);
    expect(kept).toBeLessThan(batches.length);
    await checkpoint(h);
  });

  it('clients that vanish mid-stream: no subscription, parked fetch or listener left, acknowledged data intact', async () => {
    const h = await harness();
    const broker = h.running.broker;
    const shutdownListeners = (): number => getEventListeners(broker.shutdownSignal, 'abort').length;
    const idleListeners = shutdownListeners();
    // Enough data on partition 2 that subscribers read from disk, not only from the recent-batch cache.
    const bulk = Array.from({ length: 48 }, (_, i) => makeBatch({ records: 4, valueBytes: 25_000, tag: `bulk${i}` }));
    const bulkAnswers = await produceStream(h.good, bulk.map((b, i) => produceRequest(TOPIC, 2, b, i, 'ACKS_LEADER')));
    bulkAnswers.forEach((a, i) => {
      expect(a.topics[0].partitions[0].error).toBeNull();
      h.ledger.good(TOPIC, 2, bulk[i]);
    });

    // 1. grpc-js ProduceStream: one request acknowledged, five more written, then cancel and close the channel.
    {
      const client = connect(`127.0.0.1:${h.running.port}`);
      extraClients.push(client);
      const call = (client.broker as any).produceStream();
      call.on('error', () => {});
      const answered = nextData(call, 'the first stream answer');
      const acked = valid('acked');
      call.write(produceRequest(TOPIC, 0, acked, 1));
      expect((await answered).topics[0].partitions[0].error).toBeNull();
      h.ledger.good(TOPIC, 0, acked);
      const unanswered = Array.from({ length: 5 }, (_, i) => valid(`cut${i}`));
      unanswered.forEach((b, i) => call.write(produceRequest(TOPIC, 0, b, 2 + i)));
      call.cancel();
      client.close();
      await waitFor('the stream to be gone on the broker', () => shutdownListeners() === idleListeners);
      await sleep(100);
      await h.ledger.adoptPrefix(h.good, TOPIC, 0, unanswered);
    }
    // 2. Raw HTTP/2 ProduceStream, connection torn down without RST_STREAM or GOAWAY.
    {
      const session = rawSession(h.running);
      const sent = Array.from({ length: 4 }, (_, i) => valid(`raw${i}`));
      const stream = rawCall(session, 'ProduceStream', sent.map((b, i) => produceRequest(TOPIC, 1, b, i)), false);
      const answered = nextData(stream, 'the first raw stream answer');
      await waitFor('the raw stream to be served', () => shutdownListeners() === idleListeners + 1);
      await answered;
      session.destroy();
      await waitFor('the raw stream to be gone on the broker', () => shutdownListeners() === idleListeners);
      await sleep(100);
      expect(await h.ledger.adoptPrefix(h.good, TOPIC, 1, sent)).toBeGreaterThanOrEqual(1);
    }
    // 3. Subscribe cancelled mid-stream, by fast readers (cancel while the broker reads the log)...
    for (let round = 0; round < 10; round++) {
      const call = subscribeCall(h.bad, { maxBytes: 64 * 1024, partitions: [{ topic: TOPIC, partition: 2, startOffset: -2 }] });
      let count = 0;
      await within(
        new Promise<void>((resolve) =>
          call.on('data', () => {
            if (++count === 1 + (round % 4)) {
              call.cancel();
              resolve();
            }
          }),
        ),
        `round ${round}'s messages`,
      );
      await waitFor(`subscription of round ${round} to close (a cancelled subscriber must not stay counted)`, () => broker.openSubscriptions === 0, 3_000);
    }
    // ...by a reader that stopped reading (the broker waits for the transport to drain)...
    {
      const call = subscribeCall(h.bad, { maxBytes: 64 * 1024, partitions: [{ topic: TOPIC, partition: 2, startOffset: -2 }] });
      call.pause();
      await waitFor('the slow subscription to open', () => broker.openSubscriptions === 1);
      await sleep(300);
      call.cancel();
      await waitFor('the slow subscription to close', () => broker.openSubscriptions === 0, 3_000);
    }
    // ...and by a raw HTTP/2 client whose connection just goes away.
    {
      const session = rawSession(h.running);
      const stream = rawCall(session, 'Subscribe', [{ maxBytes: 64 * 1024, partitions: [{ topic: TOPIC, partition: 2, startOffset: -2 }] }], true);
      await nextData(stream, "the raw subscription's first message");
      expect(broker.openSubscriptions).toBe(1);
      session.destroy();
      await waitFor('the raw subscription to close', () => broker.openSubscriptions === 0, 3_000);
    }
    // 4. Parked fetches whose clients leave: by cancel, and by a dropped connection.
    {
      const end = h.ledger.leo(TOPIC, 3);
      const request = { maxWaitMs: 20_000, minBytes: 1, maxBytes: 0, topics: [{ topic: TOPIC, partitions: [{ partition: 3, fetchOffset: end, maxBytes: 0 }] }] };
      const parked = startFetch(h.bad, request);
      const session = rawSession(h.running);
      rawCall(session, 'Fetch', [request], true);
      await waitFor('two parked fetches', () => broker.parkedFetches === 2);
      parked.call.cancel();
      session.destroy();
      await expectRpcError(within(parked.result, 'the cancelled fetch'), grpc.status.CANCELLED, null);
      await waitFor('parked fetches to be released', () => broker.parkedFetches === 0, 3_000);
    }
    expect(broker.openSubscriptions).toBe(0);
    expect(broker.parkedFetches).toBe(0);
    expect(broker.activity.waiterCount).toBe(0);
    expect(shutdownListeners()).toBe(idleListeners);
    await checkpoint(h);
  });

  it('1,000 subscribe streams opened then dropped at once: count back to 0, no heap left behind, broker serves', async () => {
    // 1,000 streams on few connections: more than the per-connection default of 100 subscribe streams.
    const h = await harness(['limits.maxSubscribeStreams=2000', 'limits.maxSubscribeStreamsPerConnection=1000']);
    const broker = h.running.broker;
    for (let p = 0; p < 4; p++) await h.ledger.produceGood(h.good, TOPIC, p);
    const gc = fullGc();
    const channels = [0, 1].map(() => {
      const c = connect(`127.0.0.1:${h.running.port}`);
      extraClients.push(c);
      return c;
    });

    /** Opens n streams, half on grpc-js channels, half on raw HTTP/2 sessions; each gets its first batch. */
    const openStreams = async (n: number): Promise<() => void> => {
      const calls: any[] = [];
      const sessions = [0, 1].map(() => rawSession(h.running));
      let received = 0;
      for (let i = 0; i < n; i++) {
        const request = { partitions: [{ topic: TOPIC, partition: i % 4, startOffset: -2 }] };
        if (i % 2 === 0) {
          const call = subscribeCall(channels[i % 4 === 0 ? 0 : 1], request);
          call.once('data', () => received++);
          calls.push(call);
        } else {
          rawCall(sessions[i % 4 === 1 ? 0 : 1], 'Subscribe', [request], true).once('data', () => received++);
        }
      }
      await waitFor(`${n} subscriptions`, () => broker.openSubscriptions === n && received === n, 15_000);
      // Drop them all in one go: cancel every grpc-js call, tear down every raw connection.
      return () => {
        for (const call of calls) call.cancel();
        for (const session of sessions) session.destroy();
        // Keep no references on the client side either: the heap is compared afterwards.
        calls.length = 0;
        openCalls.length = 0;
        rawSessions.length = 0;
      };
    };
    const dropped = async (what: string): Promise<void> => {
      await waitFor(`${what}: subscriptions to close`, () => broker.openSubscriptions === 0, 10_000);
      expect(broker.activity.waiterCount).toBe(0);
    };

    // Warm up (code paths, lazily built structures), then take the baseline.
    (await openStreams(100))();
    await dropped('warm-up');
    const baseline = await settledHeap(gc);

    const drop = await openStreams(1000);
    const open = await settledHeap(gc);
    drop();
    await dropped('1,000 streams');
    const after = await settledHeap(gc);
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    const info = `heap: baseline ${mib(baseline)}, 1,000 open ${mib(open)}, after ${mib(after)} (full GC ${gc ? 'forced' : 'unavailable'})`;
    if (gc !== undefined) {
      // Live objects only: what the streams leave behind must be a small fraction of what they held.
      expect(after - baseline, info).toBeLessThan(Math.min(8 * 2 ** 20, (open - baseline) / 4));
    } else {
      expect(after - baseline, info).toBeLessThan(50 * 2 ** 20);
    }

    await checkpoint(h);
    // A new subscription after the storm streams as usual.
    const fresh = subscribeCall(h.good, { partitions: [{ topic: TOPIC, partition: 0, startOffset: 0 }] });
    const got: any[] = [];
    fresh.on('data', (m: any) => got.push(m));
    await waitFor('a fresh subscription to stream', () => got.reduce((n, m) => n + splitStored(m.records).length, 0) === 2);
    fresh.cancel();
    await dropped('fresh');
  });
});
