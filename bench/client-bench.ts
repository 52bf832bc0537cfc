/**
 * Client benchmark: what the SDK costs on top of the wire. A broker runs as a child process;
 * this process is the client. Each repetition measures, on fresh topics, in alternating order:
 *
 *   produce   raw: prebuilt 64 KiB batches of 100-byte records on a ProduceStream (window 16)
 *             sdk: Producer.send of the same number of 100-byte records (lingerMs 5,
 *                  batchBytes 64 KiB, idempotent, acks leader), 1 and 8 partitions
 *   consume   raw: one Subscribe stream from the earliest offset, counting records from batch
 *                  headers (no decoding)
 *             sdk: Consumer async iterator from 'earliest' over every partition (decodes records);
 *                  also its batches() iterator (sdkBatches, for information)
 *
 * Targets (issue #4): sdk/raw >= 0.6 for producing, >= 0.7 for consuming. Ratios are medians of
 * per-repetition ratios; MB/s counts record values (100 B each) only.
 *
 * Usage: node dist/bench/client-bench.js [--quick] [--mib N] [--reps N] [--only produce] [--json FILE|-]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, type Runnel } from '../src/client/index.js';
import { buildBatchPool, countRecords, listeningAddress, type BatchPool } from './broker-bench-common.js';
import { comparisonTable, median, writeReport, type Comparison } from './report.js';

const RECORD_BYTES = 100;
const WINDOW = 16;
const SEND_CHUNK_RECORDS = 1000;
const TARGETS = { produce: 0.6, consume: 0.7 } as const;
const USAGE = 'usage: client-bench.js [--quick] [--mib N] [--reps N] [--only produce] [--json FILE|-]';
const CLI = fileURLToPath(new URL('../src/cli/index.js', import.meta.url));

interface Options {
  records: number;
  reps: number;
  jsonTarget: string | null;
  /** 'produce' skips the consume measurements (for a clean profile of the producer). */
  only: 'produce' | null;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const mib = Number(value('--mib') ?? (quick ? 16 : 128));
  const reps = Number(value('--reps') ?? (quick ? 1 : 3));
  const only = value('--only') ?? null;
  if (!(mib > 0) || !Number.isInteger(reps) || reps < 1 || (only !== null && only !== 'produce')) throw new Error(USAGE);
  return { records: Math.floor((mib * 1024 * 1024) / RECORD_BYTES), reps, jsonTarget: value('--json') ?? null, only };
}

async function startBroker(dataDir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const address = listeningAddress(line);
    if (address !== null) {
      clearTimeout(timeout);
      return { child, address };
    }
  }
  throw new Error('the broker exited before listening');
}

interface Figure {
  records: number;
  durationMs: number;
  recordsPerSec: number;
  valueMBPerSec: number;
}

function figure(records: number, startedMs: number): Figure {
  const durationMs = performance.now() - startedMs;
  const recordsPerSec = records / (durationMs / 1000);
  return { records, durationMs, recordsPerSec, valueMBPerSec: (recordsPerSec * RECORD_BYTES) / 1e6 };
}

/** Raw: prebuilt batches on one ProduceStream, WINDOW requests in flight, round-robin partitions. */
async function rawProduce(runnel: Runnel, topic: string, partitions: number, pool: BatchPool, records: number): Promise<Figure> {
  const batches = Math.ceil(records / pool.recordsPerBatch);
  const stream = runnel.connection.stub('broker').ProduceStream!() as NodeJS.ReadWriteStream & { end(): void; write(x: unknown): boolean };
  const started = performance.now();
  let sent = 0;
  let answered = 0;
  await new Promise<void>((resolve, reject) => {
    const sendMore = (): void => {
      while (sent < batches && sent - answered < WINDOW) {
        const records = Buffer.from(pool.batches[sent % pool.batches.length]!);
        stream.write({ correlationId: sent, acks: 'ACKS_LEADER', topics: [{ topic, partitions: [{ partition: sent % partitions, records }] }] });
        sent++;
      }
    };
    stream.on('data', (response: { topics: { partitions: { error: { message: string } | null }[] }[] }) => {
      const error = response.topics[0]?.partitions[0]?.error;
      if (error) return reject(new Error(error.message));
      if (++answered === batches) return resolve();
      sendMore();
    });
    stream.on('error', reject);
    sendMore();
  });
  stream.end();
  return figure(batches * pool.recordsPerBatch, started);
}

/** SDK: Producer.send in chunks of SEND_CHUNK_RECORDS, several chunks pending at once. */
async function sdkProduce(runnel: Runnel, topic: string, records: number): Promise<Figure> {
  const producer = runnel.producer({ acks: 'leader', lingerMs: 5, batchBytes: 64 * 1024 });
  const value = Buffer.alloc(RECORD_BYTES, 7);
  const started = performance.now();
  const pending = new Set<Promise<unknown>>();
  for (let done = 0; done < records; done += SEND_CHUNK_RECORDS) {
    const count = Math.min(SEND_CHUNK_RECORDS, records - done);
    const sent = producer.send({ topic, messages: Array.from({ length: count }, () => ({ value })) });
    pending.add(sent);
    void sent.finally(() => pending.delete(sent));
    if (pending.size >= WINDOW) await Promise.race(pending);
  }
  await Promise.all(pending);
  await producer.close();
  return figure(records, started);
}

/** Raw: one Subscribe from the earliest offset; records counted from batch headers. */
async function rawConsume(runnel: Runnel, topic: string, partitions: number, records: number): Promise<Figure> {
  const request = { partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition, startOffset: -2 })), maxBytes: 1024 * 1024 };
  const call = runnel.connection.stub('broker').Subscribe!(request) as NodeJS.ReadableStream & { cancel(): void };
  const started = performance.now();
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    call.on('data', (message: { records: Buffer }) => {
      seen += countRecords(message.records);
      if (seen >= records) resolve();
    });
    call.on('error', (err: { code?: number }) => (err.code === 1 ? resolve() : reject(err as Error)));
  });
  call.cancel();
  return figure(seen, started);
}

/** SDK: the Consumer's async iterator from 'earliest' over every partition. */
async function sdkConsume(runnel: Runnel, topic: string, partitions: number, records: number): Promise<Figure> {
  const consumer = runnel.consumer();
  const started = performance.now();
  await consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, from: 'earliest' as const })));
  let seen = 0;
  for await (const message of consumer) {
    if (message.value !== null) seen++;
    if (seen >= records) break;
  }
  await consumer.close();
  return figure(seen, started);
}

/** SDK: the Consumer's batches() iterator (one item per received chunk of a partition). */
async function sdkConsumeBatches(runnel: Runnel, topic: string, partitions: number, records: number): Promise<Figure> {
  const consumer = runnel.consumer();
  const started = performance.now();
  await consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, from: 'earliest' as const })));
  let seen = 0;
  for await (const batch of consumer.batches()) {
    for (const message of batch.messages) if (message.value !== null) seen++;
    if (seen >= records) break;
  }
  await consumer.close();
  return figure(seen, started);
}

interface Rep {
  [name: string]: Figure;
}

async function runRep(runnel: Runnel, pool: BatchPool, opts: Options, rep: number): Promise<Rep> {
  const figures: Rep = {};
  const admin = runnel.admin();
  for (const partitions of [1, 8]) {
    const rawTopic = `raw-${partitions}p-${rep}`;
    const sdkTopic = `sdk-${partitions}p-${rep}`;
    await admin.createTopic(rawTopic, { partitions });
    await admin.createTopic(sdkTopic, { partitions });
    const order = rep % 2 === 0 ? ['raw', 'sdk'] : ['sdk', 'raw'];
    for (const side of order) {
      if (side === 'raw') figures[`rawProduce${partitions}p`] = await rawProduce(runnel, rawTopic, partitions, pool, opts.records);
      else figures[`sdkProduce${partitions}p`] = await sdkProduce(runnel, sdkTopic, opts.records);
    }
    const stored = figures[`rawProduce${partitions}p`]!.records;
    if (opts.only === 'produce') continue;
    for (const side of order) {
      if (side === 'raw') figures[`rawConsume${partitions}p`] = await rawConsume(runnel, rawTopic, partitions, stored);
      else {
        figures[`sdkConsume${partitions}p`] = await sdkConsume(runnel, rawTopic, partitions, stored);
        figures[`sdkBatches${partitions}p`] = await sdkConsumeBatches(runnel, rawTopic, partitions, stored);
      }
    }
  }
  for (const [name, f] of Object.entries(figures)) process.stderr.write(`rep ${rep + 1}: ${name} ${(f.recordsPerSec / 1e6).toFixed(2)} M records/s, ${f.valueMBPerSec.toFixed(0)} MB/s\n`);
  return figures;
}

function compare(reps: Rep[], subject: string, baseline: string, target: number | null): Comparison | null {
  if (reps[0]?.[subject] === undefined) return null;
  const ratioPerRep = reps.map((r) => r[subject]!.recordsPerSec / r[baseline]!.recordsPerSec);
  const ratio = median(ratioPerRep);
  return { name: `${subject} vs ${baseline}`, subject, baseline, ratio, ratioPerRep, target, pass: target === null ? null : ratio >= target };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-client-bench-'));
  const { child, address } = await startBroker(dataDir);
  const runnel = connect({ brokers: [address] });
  try {
    const pool = buildBatchPool();
    const reps: Rep[] = [];
    for (let rep = 0; rep < opts.reps; rep++) reps.push(await runRep(runnel, pool, opts, rep));
    const comparisons = [
      compare(reps, 'sdkProduce1p', 'rawProduce1p', TARGETS.produce),
      compare(reps, 'sdkProduce8p', 'rawProduce8p', TARGETS.produce),
      compare(reps, 'sdkConsume1p', 'rawConsume1p', TARGETS.consume),
      compare(reps, 'sdkConsume8p', 'rawConsume8p', TARGETS.consume),
      compare(reps, 'sdkBatches1p', 'rawConsume1p', null),
      compare(reps, 'sdkBatches8p', 'rawConsume8p', null),
    ].filter((c): c is Comparison => c !== null);
    const medians = Object.fromEntries(Object.keys(reps[0]!).map((name) => [name, median(reps.map((r) => r[name]!.recordsPerSec))]));
    const lines = Object.entries(medians).map(([name, perSec]) => `${name.padEnd(16)} ${(perSec / 1e6).toFixed(2).padStart(6)} M records/s  ${((perSec * RECORD_BYTES) / 1e6).toFixed(0).padStart(5)} MB/s`);
    const table = [...lines, '', ...comparisonTable(comparisons), '', `${opts.records} records of ${RECORD_BYTES} B per run; medians of ${opts.reps} reps`, ''].join('\n');
    const document = { command: ['node', ...process.argv.slice(1)].join(' '), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version }, reps, medians, comparisons };
    writeReport(`${document.command}\n`, table, document, opts.jsonTarget);
  } finally {
    await runnel.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`client-bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
