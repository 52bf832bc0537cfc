/**
 * One client process of the benchmark suite (bench/suite/suite.ts): runs one job against one
 * system and prints one JSON line with its figures. Producer and consumer are always separate
 * processes (as in the OpenMessaging Benchmark), and every system gets the same payloads:
 * `recordBytes` bytes, the first half random, the second half a repeated pattern, so that
 * compression has something realistic to do; the first 8 bytes of a latency record carry its
 * send time (performance.timeOrigin + now(), ms, comparable between processes on one machine).
 *
 * Systems: runnel (the SDK), redis (Streams: pipelined XADD, XREAD COUNT; ioredis), nats
 * (JetStream, file storage: publish with a window of pending acks, ordered consumer; nats.js),
 * relay (latency jobs only: the raw grpc-js relay of relay-server.ts, the floor under Runnel).
 *
 * Usage: node dist/bench/suite/client.js '<job JSON>'
 */
import { randomFillSync } from 'node:crypto';
import { build } from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import * as grpc from '@grpc/grpc-js';
import { connect as natsConnect, AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JsMsg, type NatsConnection } from 'nats';
import { CONNECTION_DEFAULTS } from '../../src/client/connection.js';
import { Runnel, type ConsumerBatch } from '../../src/client/index.js';
import { RelayClientConstructor, type RelayClient } from './relay-service.js';

export interface Job {
  system: 'runnel' | 'redis' | 'nats' | 'relay';
  kind: 'produce' | 'consume' | 'latency-produce' | 'latency-consume' | 'group-consume';
  /** group-consume: the consumer group this process joins (one member). */
  groupId?: string;
  /** host:port of the system. */
  target: string;
  /** Topic, stream key or JetStream stream/subject. */
  name: string;
  records: number;
  recordBytes: number;
  /** runnel: 'leader' | 'all'; others: the server's own setting decides (see peers.sh). */
  acks: 'leader' | 'all';
  compression: 'none' | 'lz4';
  partitions: number;
  /** Records per second for the latency jobs. */
  rate: number;
  /** Latency jobs: the first records, sent at the rate like the rest but not recorded. */
  warmupRecords?: number;
}

export interface JobResult {
  records: number;
  durationMs: number;
  rssBytesMax: number;
  /** RSS when the job began, the modules (SDK or peer client) loaded: what Node itself takes. */
  rssBytesAtStart: number;
  latencyMs?: { p50: number; p99: number; p999: number; max: number };
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const CHUNK_RECORDS = 1000;
const WINDOW = 16;

function payloads(recordBytes: number, count: number): Buffer[] {
  const pattern = Buffer.from('runnel-bench-');
  return Array.from({ length: count }, () => {
    const b = Buffer.alloc(recordBytes);
    randomFillSync(b, 0, recordBytes >> 1);
    for (let i = recordBytes >> 1; i < recordBytes; i++) b[i] = pattern[i % pattern.length]!;
    return b;
  });
}

const rssBytesAtStart = process.memoryUsage.rss();
let rssBytesMax = rssBytesAtStart;
const sampleRss = (): number => (rssBytesMax = Math.max(rssBytesMax, process.memoryUsage.rss()));
// Sampled every 100 ms and once more at the end, so a job shorter than that has a figure too.
const rssTimer = setInterval(sampleRss, 100);
rssTimer.unref();

/** Runs `send(i)` for every chunk of records with WINDOW chunks in flight. */
async function windowed(chunks: number, send: (chunk: number) => Promise<unknown>): Promise<void> {
  const pending = new Set<Promise<unknown>>();
  for (let i = 0; i < chunks; i++) {
    const p = send(i);
    pending.add(p);
    void p.finally(() => pending.delete(p));
    if (pending.size >= WINDOW) await Promise.race(pending);
  }
  await Promise.all(pending);
}

// ---- Runnel -------------------------------------------------------------------------------

async function runnelProduce(job: Job, pool: Buffer[]): Promise<number> {
  const runnel = new Runnel({ brokers: [job.target] });
  const producer = runnel.producer({ acks: job.acks, lingerMs: 5, batchBytes: 64 * 1024, compression: job.compression });
  const started = nowMs();
  await windowed(Math.ceil(job.records / CHUNK_RECORDS), (chunk) => {
    const count = Math.min(CHUNK_RECORDS, job.records - chunk * CHUNK_RECORDS);
    return producer.send({ topic: job.name, messages: Array.from({ length: count }, (_, i) => ({ value: pool[(chunk + i) % pool.length]! })) });
  });
  await producer.flush();
  const durationMs = nowMs() - started;
  await runnel.close();
  return durationMs;
}

async function runnelConsume(job: Job, onRecord: ((value: Buffer) => void) | null): Promise<number> {
  const runnel = new Runnel({ brokers: [job.target] });
  const consumer = runnel.consumer();
  await consumer.assign(Array.from({ length: job.partitions }, (_, partition) => ({ topic: job.name, partition, from: 'earliest' as const })));
  return readBatches(runnel, consumer.batches(), job.records, onRecord);
}

/** Reads `records` messages from `batches`, timed from the first batch; closes `runnel`. */
async function readBatches(runnel: Runnel, batches: AsyncIterable<ConsumerBatch>, records: number, onRecord: ((value: Buffer) => void) | null): Promise<number> {
  let seen = 0;
  let started = 0;
  for await (const batch of batches) {
    if (started === 0) started = nowMs();
    if (onRecord !== null) for (const m of batch.messages) if (m.value !== null) onRecord(m.value);
    seen += batch.messages.length;
    if (seen >= records) break;
  }
  const durationMs = nowMs() - started;
  await runnel.close();
  return durationMs;
}

async function runnelLatencyProduce(job: Job, pool: Buffer[]): Promise<number> {
  const runnel = new Runnel({ brokers: [job.target] });
  const producer = runnel.producer({ acks: job.acks, lingerMs: 0 });
  const durationMs = await paced(job, pool, (value) => producer.send({ topic: job.name, messages: [{ value }] }));
  await producer.flush();
  await runnel.close();
  return durationMs;
}

/** Fan-out: one member of its own group reads `records` from the start; timed from its first record. */
async function runnelGroupConsume(job: Job): Promise<number> {
  const runnel = new Runnel({ brokers: [job.target] });
  const consumer = runnel.consumer({ groupId: job.groupId ?? 'bench', topics: [job.name], autoOffsetReset: 'earliest' });
  return readBatches(runnel, consumer.batches(), job.records, null);
}

// ---- Redis Streams ------------------------------------------------------------------------

async function redisProduce(job: Job, pool: Buffer[]): Promise<number> {
  const [host, port] = job.target.split(':');
  const redis = new Redis({ host, port: Number(port), lazyConnect: true, enableAutoPipelining: false });
  await redis.connect();
  const started = nowMs();
  await windowed(Math.ceil(job.records / CHUNK_RECORDS), (chunk) => {
    const pipeline = redis.pipeline();
    const count = Math.min(CHUNK_RECORDS, job.records - chunk * CHUNK_RECORDS);
    for (let i = 0; i < count; i++) pipeline.xadd(job.name, '*', 'v', pool[(chunk + i) % pool.length]!);
    return pipeline.exec();
  });
  const durationMs = nowMs() - started;
  redis.disconnect();
  return durationMs;
}

async function redisConsume(job: Job, onRecord: ((value: Buffer) => void) | null, blockMs = 0): Promise<number> {
  const [host, port] = job.target.split(':');
  const redis = new Redis({ host, port: Number(port), lazyConnect: true });
  await redis.connect();
  let lastId = '0-0';
  let seen = 0;
  let started = 0;
  while (seen < job.records) {
    const args: (string | number)[] = ['COUNT', 10_000];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    const reply = (await redis.xreadBuffer(...(args as ['COUNT', number]), 'STREAMS', job.name, lastId));
    if (started === 0) started = nowMs();
    if (reply === null) continue;
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) {
        lastId = id.toString();
        if (onRecord !== null && fields[1] !== undefined) onRecord(fields[1]);
        seen++;
      }
    }
  }
  const durationMs = nowMs() - started;
  redis.disconnect();
  return durationMs;
}

/**
 * Fan-out: one consumer group (XGROUP, from the stream's start) read by one consumer with
 * XREADGROUP; each batch is acknowledged with one XACK, as a Runnel group commits its offsets.
 */
async function redisGroupConsume(job: Job): Promise<number> {
  const [host, port] = job.target.split(':');
  const redis = new Redis({ host, port: Number(port), lazyConnect: true });
  await redis.connect();
  const group = job.groupId ?? 'bench';
  try {
    await redis.xgroup('CREATE', job.name, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!String(err).includes('BUSYGROUP')) throw err;
  }
  let seen = 0;
  let started = 0;
  while (seen < job.records) {
    const reply = (await redis.xreadgroup('GROUP', group, 'c1', 'COUNT', 10_000, 'BLOCK', 1000, 'STREAMS', job.name, '>')) as [string, [string, string[]][]][] | null;
    if (reply === null) continue;
    if (started === 0) started = nowMs();
    for (const [, entries] of reply) {
      if (entries.length === 0) continue;
      seen += entries.length;
      await redis.xack(job.name, group, ...entries.map(([id]) => id));
    }
  }
  const durationMs = nowMs() - started;
  redis.disconnect();
  return durationMs;
}

// ---- NATS JetStream -----------------------------------------------------------------------

async function natsSetup(job: Job): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
  const nc = await natsConnect({ servers: job.target });
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(job.name);
  } catch {
    await jsm.streams.add({ name: job.name, subjects: [`${job.name}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits });
  }
  return { nc, js: nc.jetstream() };
}

async function natsProduce(job: Job, pool: Buffer[]): Promise<number> {
  const { nc, js } = await natsSetup(job);
  const started = nowMs();
  await windowed(Math.ceil(job.records / CHUNK_RECORDS), (chunk) => {
    const count = Math.min(CHUNK_RECORDS, job.records - chunk * CHUNK_RECORDS);
    return Promise.all(Array.from({ length: count }, (_, i) => js.publish(`${job.name}.r`, pool[(chunk + i) % pool.length])));
  });
  const durationMs = nowMs() - started;
  await nc.drain();
  return durationMs;
}

/**
 * Reads `job.records` from the stream's start through a durable consumer of its own, calling
 * `onMessage` for each with its running count; timed from the first message.
 */
async function natsRead(job: Job, durable: string, ackPolicy: AckPolicy, onMessage: (m: JsMsg, seen: number) => void): Promise<number> {
  const { nc, js } = await natsSetup(job);
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(job.name, { durable_name: durable, ack_policy: ackPolicy, deliver_policy: DeliverPolicy.All, max_ack_pending: 100_000 });
  const consumer = await js.consumers.get(job.name, durable);
  let seen = 0;
  let started = 0;
  const messages = await consumer.consume({ max_messages: 10_000 });
  for await (const m of messages) {
    if (started === 0) started = nowMs();
    onMessage(m, ++seen);
    if (seen >= job.records) break;
  }
  const durationMs = nowMs() - started;
  await jsm.consumers.delete(job.name, durable);
  await nc.drain();
  return durationMs;
}

function natsConsume(job: Job, onRecord: ((value: Buffer) => void) | null): Promise<number> {
  return natsRead(job, `bench-${process.pid}`, AckPolicy.None, (m) => {
    if (onRecord !== null) onRecord(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  });
}

/**
 * Fan-out: one durable consumer per group (JetStream's unit of shared progress), read by one
 * process; AckPolicy.All with an ack every 1,000 records and at the end, as a group commits.
 */
function natsGroupConsume(job: Job): Promise<number> {
  return natsRead(job, job.groupId ?? 'bench', AckPolicy.All, (m, seen) => {
    if (seen % 1000 === 0 || seen >= job.records) m.ack();
  });
}

// ---- the raw grpc-js relay (latency floor) -------------------------------------------------

/** The channel options that matter for latency, as the SDK sets them (HTTP/2 window). */
function relayClient(job: Job): RelayClient {
  return new RelayClientConstructor(job.target, grpc.credentials.createInsecure(), { 'grpc-node.flow_control_window': CONNECTION_DEFAULTS.receiveWindowBytes });
}

async function relayLatencyProduce(job: Job, pool: Buffer[]): Promise<number> {
  const client = relayClient(job);
  const call = client.push();
  // Answers come in order, one per message.
  const waiting: (() => void)[] = [];
  let head = 0;
  call.on('data', () => waiting[head++]?.());
  const failed = new Promise<never>((_, reject) => call.on('error', reject));
  const durationMs = await Promise.race([failed, paced(job, pool, (value) => new Promise<void>((resolve) => waiting.push(resolve) && call.write(value)))]);
  call.end();
  client.close();
  return durationMs;
}

async function relayConsume(job: Job, onRecord: (value: Buffer) => void): Promise<number> {
  const client = relayClient(job);
  const call = client.tail(Buffer.alloc(0));
  let seen = 0;
  let started = 0;
  await new Promise<void>((resolve, reject) => {
    call.on('data', (value: Buffer) => {
      if (started === 0) started = nowMs();
      onRecord(value);
      if (++seen >= job.records) resolve();
    });
    call.on('error', reject);
  });
  const durationMs = nowMs() - started;
  call.cancel();
  client.close();
  return durationMs;
}

// ---- latency --------------------------------------------------------------------------------

/** At most this many sends of a latency run wait for their answer; the pacer then waits too. */
const PACED_IN_FLIGHT_MAX = 10_000;

/** Sends `job.records` records at `job.rate` per second, each stamped with its send time. */
async function paced(job: Job, pool: Buffer[], send: (value: Buffer) => Promise<unknown>): Promise<number> {
  const started = nowMs();
  const intervalMs = 1000 / job.rate;
  // A count and one waiter, not a Promise.race over every pending send: a system that falls
  // behind would otherwise have the pacer attach thousands of handlers per record.
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  const settled = (): void => {
    inFlight--;
    wake?.();
    wake = null;
  };
  const nextSettled = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
  for (let i = 0; i < job.records && failure === null; i++) {
    const dueMs = started + i * intervalMs;
    const waitMs = dueMs - nowMs();
    if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const value = Buffer.from(pool[i % pool.length]!);
    value.writeDoubleBE(nowMs(), 0);
    inFlight++;
    send(value).then(settled, (err: unknown) => {
      failure ??= err;
      settled();
    });
    while (inFlight >= PACED_IN_FLIGHT_MAX) await nextSettled();
  }
  while (inFlight > 0) await nextSettled();
  if (failure !== null) throw failure instanceof Error ? failure : new Error(`a send failed: ${JSON.stringify(failure)}`);
  return nowMs() - started;
}

async function latencyConsume(job: Job): Promise<JobResult> {
  const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  // The first records warm the path (JIT, connections, caches) on every system alike; a run of a
  // few seconds otherwise measures mostly V8's tiering up, on 2 cores shared by three processes.
  const warmup = job.warmupRecords ?? Math.floor(job.records / 10);
  let n = 0;
  const onRecord = (value: Buffer): void => {
    if (n++ < warmup) return;
    histogram.recordValue(Math.max(1, Math.round((nowMs() - value.readDoubleBE(0)) * 1000)));
  };
  const consume = { runnel: () => runnelConsume(job, onRecord), redis: () => redisConsume(job, onRecord, 1000), nats: () => natsConsume(job, onRecord), relay: () => relayConsume(job, onRecord) }[job.system];
  const durationMs = await consume();
  const us = (p: number): number => histogram.getValueAtPercentile(p) / 1000;
  return { records: job.records, durationMs, rssBytesMax: sampleRss(), rssBytesAtStart, latencyMs: { p50: us(50), p99: us(99), p999: us(99.9), max: histogram.maxValue / 1000 } };
}

async function latencyProduce(job: Job, pool: Buffer[]): Promise<number> {
  if (job.system === 'runnel') return runnelLatencyProduce(job, pool);
  if (job.system === 'relay') return relayLatencyProduce(job, pool);
  if (job.system === 'redis') {
    const [host, port] = job.target.split(':');
    const redis = new Redis({ host, port: Number(port) });
    const durationMs = await paced(job, pool, (value) => redis.xadd(job.name, '*', 'v', value));
    redis.disconnect();
    return durationMs;
  }
  const { nc, js } = await natsSetup(job);
  const durationMs = await paced(job, pool, (value) => js.publish(`${job.name}.r`, value));
  await nc.drain();
  return durationMs;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job;
  // The suite keeps our stdin open while it runs; when it goes away (Ctrl-C, a crash) so do we.
  process.stdin.on('end', () => process.exit(1));
  process.stdin.on('error', () => process.exit(1));
  process.stdin.resume();
  const pool = payloads(job.recordBytes, 1024);
  let result: JobResult;
  if (job.kind === 'latency-consume') {
    result = await latencyConsume(job);
  } else {
    const unsupported = (what: string) => () => Promise.reject(new Error(`no ${what} for ${job.system} here`));
    const run = {
      produce: { runnel: () => runnelProduce(job, pool), redis: () => redisProduce(job, pool), nats: () => natsProduce(job, pool), relay: unsupported('produce') },
      consume: { runnel: () => runnelConsume(job, null), redis: () => redisConsume(job, null), nats: () => natsConsume(job, null), relay: unsupported('consume') },
      'latency-produce': { runnel: () => latencyProduce(job, pool), redis: () => latencyProduce(job, pool), nats: () => latencyProduce(job, pool), relay: () => latencyProduce(job, pool) },
      'group-consume': { runnel: () => runnelGroupConsume(job), redis: () => redisGroupConsume(job), nats: () => natsGroupConsume(job), relay: unsupported('groups') },
    }[job.kind][job.system];
    const durationMs = await run();
    result = { records: job.records, durationMs, rssBytesMax: sampleRss(), rssBytesAtStart };
  }
  process.stdout.write(`${JSON.stringify({ event: 'result', ...result })}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ event: 'error', message: err instanceof Error ? err.message : String(err) })}\n`);
  process.exit(1);
});
