/**
 * Storage benchmark: PartitionLog against raw file I/O on the same machine, directory and bytes,
 * in one run, reported as ratios (machines are shared and noisy; absolute numbers drift).
 *
 *   append    raw fs.writeSync of prebuilt 64 KiB batches at increasing positions (baseline)
 *             vs `await log.append(batch)` of the same buffers (page cache, no fsync), which
 *             checks each batch (CRC-32C included) before writing it; and, as context,
 *             `log.appendCheckedSync` of batches checked before the clock starts (what the log
 *             costs when its caller, the broker's produce path, has already checked them)
 *   durable   16 writers looping `await log.append(batch, { durable: true })` (group commit)
 *             vs the non-durable log append of the same repetition; plus fsyncs per 1,000
 *             appends, and, as context, raw write + fdatasync per batch (no group commit)
 *   read      raw sequential async fs.read of the log's files in 1 MiB chunks (baseline)
 *             vs `log.read(offset, 1 MiB)` following nextOffset, both from the page cache
 *
 * Every figure is the median of `--reps` repetitions; baseline and subject alternate inside
 * each repetition (and swap order every repetition). Ratios are medians of per-repetition
 * ratios. MB/s means 10^6 bytes per second. See bench/README.md.
 *
 * Usage: node dist/bench/storage-bench.js [--quick] [--gib N] [--append-gib N] [--sync-mib N]
 *        [--reps N] [--writers N] [--dir DIR] [--json [FILE]]
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeRecordBatch, type RecordInput } from '../src/format/record-batch.js';
import { resolveLogConfig, type LogConfig } from '../src/storage/log-config.js';
import { CheckedBatch } from '../src/storage/checked-batch.js';
import { PartitionLog } from '../src/storage/partition-log.js';
import { comparisonTable, machine, median, row, writeReport, type Comparison } from './report.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const BATCH_BYTES = 64 * KIB;
const RECORDS_PER_BATCH = 64;
/** Distinct prebuilt batches, cycled (4 MiB of source data, more than the CPU caches hold). */
const BATCH_POOL_SIZE = 64;
const READ_CHUNK_BYTES = 1 * MIB;
const WARMUP_BYTES = 32 * MIB;

const TARGETS = {
  appendVsRaw: 0.8,
  durableVsNonDurable: 0.5,
  readVsRaw: 0.8,
} as const;

const readAsync = promisify(fs.read);
const fdatasyncAsync = promisify(fs.fdatasync);

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  appendBytes: number;
  readBytes: number;
  syncBaselineBytes: number;
  reps: number;
  writers: number;
  baseDir: string;
  quick: boolean;
  /** null: no JSON; '-': JSON to stdout (the table goes to stderr); else a file. */
  jsonTarget: string | null;
}

const USAGE = `usage: node dist/bench/storage-bench.js [options]
  --gib N          volume of the sequential read test, GiB (default 1; --quick 0.25)
  --append-gib N   volume of each append test (raw, log, durable log), GiB (default 1; --quick 0.25)
  --sync-mib N     volume of the raw write+fdatasync-per-batch context test, MiB (default 64; --quick 16)
  --reps N         repetitions, the median is reported (default 3)
  --writers N      concurrent durable writers (default 16)
  --dir DIR        parent of the temp directory (default os.tmpdir())
  --quick          small volumes, finishes in well under 30 s
  --json [FILE]    write every figure as JSON to FILE, or to stdout without FILE`;

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') exitWithUsage(0);
    if (!arg.startsWith('--')) exitWithUsage(2, `unexpected argument ${arg}`);
    const next = argv[i + 1];
    const takesValue = arg !== '--quick' && next !== undefined && !next.startsWith('--');
    flags.set(arg, takesValue ? next : '');
    if (takesValue) i++;
  }
  return optionsFromFlags(flags);
}

function optionsFromFlags(flags: Map<string, string>): Options {
  const known = new Set(['--gib', '--append-gib', '--sync-mib', '--reps', '--writers', '--dir', '--quick', '--json']);
  for (const flag of flags.keys()) if (!known.has(flag)) exitWithUsage(2, `unknown option ${flag}`);
  const quick = flags.has('--quick');
  const json = flags.get('--json');
  return {
    readBytes: Math.round(numberFlag(flags, '--gib', quick ? 0.25 : 1) * GIB),
    appendBytes: Math.round(numberFlag(flags, '--append-gib', quick ? 0.25 : 1) * GIB),
    syncBaselineBytes: Math.round(numberFlag(flags, '--sync-mib', quick ? 16 : 64) * MIB),
    reps: Math.round(numberFlag(flags, '--reps', 3)),
    writers: Math.round(numberFlag(flags, '--writers', 16)),
    baseDir: flags.get('--dir') || os.tmpdir(),
    quick,
    jsonTarget: json === undefined ? null : json === '' ? '-' : json,
  };
}

function numberFlag(flags: Map<string, string>, name: string, fallback: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || value <= 0) exitWithUsage(2, `${name} needs a positive number, got "${raw}"`);
  return value;
}

function exitWithUsage(code: number, problem?: string): never {
  if (problem !== undefined) process.stderr.write(`${problem}\n`);
  (code === 0 ? process.stdout : process.stderr).write(`${USAGE}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Batches

/** One RecordBatch v2 of exactly `sizeBytes` bytes: 64 records, 16-byte keys, random values. */
function encodeBatchOfSize(sizeBytes: number): Buffer {
  const valueBytes = Math.floor(sizeBytes / RECORDS_PER_BATCH) - 32;
  let lastValueBytes = valueBytes;
  for (let attempt = 0; attempt < 8; attempt++) {
    const batch = encodeRecordBatch({ records: makeRecords(valueBytes, lastValueBytes) });
    if (batch.length === sizeBytes) return batch;
    lastValueBytes += sizeBytes - batch.length;
  }
  throw new Error(`cannot encode a batch of exactly ${sizeBytes} bytes`);
}

function makeRecords(valueBytes: number, lastValueBytes: number): RecordInput[] {
  const records: RecordInput[] = [];
  for (let i = 0; i < RECORDS_PER_BATCH; i++) {
    const size = i === RECORDS_PER_BATCH - 1 ? lastValueBytes : valueBytes;
    records.push({ key: randomFillSync(Buffer.alloc(16)), value: randomFillSync(Buffer.alloc(size)) });
  }
  return records;
}

function buildBatchPool(): Buffer[] {
  return Array.from({ length: BATCH_POOL_SIZE }, () => encodeBatchOfSize(BATCH_BYTES));
}

function batchCount(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / BATCH_BYTES));
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Measurement {
  bytes: number;
  /** Appends (batches) or read calls. */
  operations: number;
  durationMs: number;
  fsyncs?: number;
}

interface Figures extends Measurement {
  bytesPerSec: number;
  operationsPerSec: number;
  fsyncsPer1000Appends?: number;
}

function figures(m: Measurement): Figures {
  const seconds = m.durationMs / 1000;
  const result: Figures = { ...m, bytesPerSec: m.bytes / seconds, operationsPerSec: m.operations / seconds };
  if (m.fsyncs !== undefined) result.fsyncsPer1000Appends = (m.fsyncs / m.operations) * 1000;
  return result;
}

function benchConfig(): LogConfig {
  // The defaults (segmentBytes 1 GiB, indexIntervalBytes 4 KiB), retention off so nothing is deleted mid-run.
  return resolveLogConfig({ retentionMs: -1 });
}

function openLog(dir: string): PartitionLog {
  return PartitionLog.openSync({ dir, topic: 'bench', partition: 0, config: benchConfig() }).log;
}

/** Baseline: the same buffers written with fs.writeSync at increasing positions to a plain file. */
function rawAppend(file: string, batches: Buffer[], count: number): Measurement {
  const fd = fs.openSync(file, 'w+');
  try {
    let position = 0;
    const start = performance.now();
    for (let i = 0; i < count; i++) position += writeAt(fd, batches[i % batches.length]!, position);
    return { bytes: position, operations: count, durationMs: performance.now() - start };
  } finally {
    fs.closeSync(fd);
  }
}

function writeAt(fd: number, buf: Buffer, position: number): number {
  const written = fs.writeSync(fd, buf, 0, buf.length, position);
  if (written !== buf.length) throw new Error(`short write: ${written} of ${buf.length} bytes`);
  return written;
}

/** Context: what a durable append costs without group commit (one fdatasync per batch). */
async function rawAppendFdatasync(file: string, batches: Buffer[], count: number): Promise<Measurement> {
  const fd = fs.openSync(file, 'w+');
  try {
    let position = 0;
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      position += writeAt(fd, batches[i % batches.length]!, position);
      await fdatasyncAsync(fd);
    }
    return { bytes: position, operations: count, durationMs: performance.now() - start, fsyncs: count };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Context: the device's durable write bandwidth, the ceiling of any durable append: the same
 * bytes written to the page cache and made durable by one fdatasync at the end, all timed.
 */
async function rawDurableCeiling(file: string, batches: Buffer[], count: number): Promise<Measurement> {
  const fd = fs.openSync(file, 'w+');
  try {
    let position = 0;
    const start = performance.now();
    for (let i = 0; i < count; i++) position += writeAt(fd, batches[i % batches.length]!, position);
    await fdatasyncAsync(fd);
    return { bytes: position, operations: count, durationMs: performance.now() - start, fsyncs: 1 };
  } finally {
    fs.closeSync(fd);
  }
}

/** Subject: PartitionLog appends to the page cache (no fsync), one writer. */
async function logAppend(dir: string, batches: Buffer[], count: number): Promise<Measurement> {
  const log = openLog(dir);
  try {
    const startSize = log.sizeBytes;
    const start = performance.now();
    for (let i = 0; i < count; i++) await log.append(batches[i % batches.length]!);
    const durationMs = performance.now() - start;
    return { bytes: log.sizeBytes - startSize, operations: count, durationMs };
  } finally {
    log.closeAbruptly(); // the directory is deleted next: flushing 1 GiB would only wear the disk
  }
}

/** Context: appends of batches whose check (CRC-32C) ran before the clock started. */
function logAppendChecked(dir: string, batches: Buffer[], count: number): Measurement {
  const log = openLog(dir);
  try {
    const checked = batches.map((batch) => CheckedBatch.check(batch, log.config.maxBatchBytes));
    const startSize = log.sizeBytes;
    const start = performance.now();
    for (let i = 0; i < count; i++) log.appendCheckedSync(checked[i % checked.length]!);
    const durationMs = performance.now() - start;
    return { bytes: log.sizeBytes - startSize, operations: count, durationMs };
  } finally {
    log.closeAbruptly();
  }
}

/** Subject: `writers` concurrent durable appenders sharing one log (group commit). */
async function logDurableAppend(dir: string, batches: Buffer[], count: number, writers: number): Promise<Measurement> {
  const log = openLog(dir);
  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < count) await log.append(batches[next++ % batches.length]!, { durable: true });
  };
  try {
    const start = performance.now();
    await Promise.all(Array.from({ length: writers }, writer));
    const durationMs = performance.now() - start;
    return { bytes: log.sizeBytes, operations: count, durationMs, fsyncs: log.fsyncCount };
  } finally {
    await log.close();
  }
}

/** Writes the log for the read test and fdatasyncs it, so the timed reads find clean cached pages. */
async function buildReadLog(dir: string, batches: Buffer[], bytes: number): Promise<PartitionLog> {
  const log = openLog(dir);
  const count = batchCount(bytes);
  for (let i = 0; i < count; i++) log.appendSync(batches[i % batches.length]!);
  await log.flush();
  return log;
}

/** Subject: read the whole log from offset 0, following nextOffset. */
async function logRead(log: PartitionLog, chunkBytes: number): Promise<Measurement> {
  let offset = log.logStartOffset;
  let bytes = 0;
  let operations = 0;
  const start = performance.now();
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, chunkBytes);
    bytes += result.bytes.length;
    offset = result.nextOffset;
    operations++;
  }
  return { bytes, operations, durationMs: performance.now() - start };
}

/**
 * Baseline: the log's own segment files read sequentially with async fs.read in chunks of the
 * same size, each into a fresh Buffer (as log.read hands its caller a buffer it may keep).
 */
async function rawRead(files: string[], chunkBytes: number): Promise<Measurement> {
  const fds = files.map((file) => fs.openSync(file, 'r'));
  try {
    let bytes = 0;
    let operations = 0;
    const start = performance.now();
    for (const fd of fds) {
      const sizeBytes = fs.fstatSync(fd).size;
      for (let position = 0; position < sizeBytes; operations++) {
        const { bytesRead } = await readAsync(fd, Buffer.allocUnsafe(chunkBytes), 0, chunkBytes, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        bytes += bytesRead;
      }
    }
    return { bytes, operations, durationMs: performance.now() - start };
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => path.join(dir, name));
}

// ---------------------------------------------------------------------------------------------
// Runner

interface RepFigures {
  rawAppend: Figures;
  logAppend: Figures;
  logAppendChecked: Figures;
  logDurableAppend: Figures;
  rawAppendFdatasync: Figures;
  rawDurableCeiling: Figures;
}

interface ReadRepFigures {
  rawRead: Figures;
  logRead: Figures;
}

class Workspace {
  private serial = 0;
  constructor(readonly root: string) {}

  /** A fresh path under the workspace root. */
  next(name: string): string {
    return path.join(this.root, `${String(this.serial++).padStart(3, '0')}-${name}`);
  }

  remove(target: string): void {
    fs.rmSync(target, { recursive: true, force: true });
  }
}

/** Runs `measure` on a fresh path and deletes what it wrote, outside the timing. */
async function onFreshPath(ws: Workspace, name: string, measure: (target: string) => Measurement | Promise<Measurement>): Promise<Figures> {
  const target = ws.next(name);
  try {
    return figures(await measure(target));
  } finally {
    ws.remove(target);
  }
}

async function runAppendRep(ws: Workspace, opts: Options, batches: Buffer[], rep: number): Promise<RepFigures> {
  const count = batchCount(opts.appendBytes);
  const raw = (): Promise<Figures> => onFreshPath(ws, 'raw.dat', (file) => rawAppend(file, batches, count));
  const log = (): Promise<Figures> => onFreshPath(ws, 'log', (dir) => logAppend(dir, batches, count));
  const [rawFigures, logFigures] = await alternate(rep, raw, log);
  const checked = await onFreshPath(ws, 'log-checked', (dir) => logAppendChecked(dir, batches, count));
  const syncCount = batchCount(opts.syncBaselineBytes);
  const durable = (): Promise<Figures> => onFreshPath(ws, 'durable', (dir) => logDurableAppend(dir, batches, count, opts.writers));
  const rawSync = (): Promise<Figures> => onFreshPath(ws, 'raw-sync.dat', (file) => rawAppendFdatasync(file, batches, syncCount));
  const [durableFigures, rawSyncFigures] = await alternate(rep, durable, rawSync);
  const ceiling = await onFreshPath(ws, 'raw-durable.dat', (file) => rawDurableCeiling(file, batches, count));
  return { rawAppend: rawFigures, logAppend: logFigures, logAppendChecked: checked, logDurableAppend: durableFigures, rawAppendFdatasync: rawSyncFigures, rawDurableCeiling: ceiling };
}

/** Runs both, first `a` on even repetitions and first `b` on odd ones; returns [a, b]. */
async function alternate<T>(rep: number, a: () => Promise<T>, b: () => Promise<T>): Promise<[T, T]> {
  if (rep % 2 === 0) {
    const first = await a();
    return [first, await b()];
  }
  const second = await b();
  return [await a(), second];
}

async function runReadReps(ws: Workspace, opts: Options, batches: Buffer[]): Promise<ReadRepFigures[]> {
  const dir = ws.next('read-log');
  const log = await buildReadLog(dir, batches, opts.readBytes);
  try {
    const files = segmentFiles(dir);
    const raw = async (): Promise<Figures> => figures(await rawRead(files, READ_CHUNK_BYTES));
    const subject = async (): Promise<Figures> => figures(await logRead(log, READ_CHUNK_BYTES));
    await alternate(0, raw, subject); // warm-up pass of both, not reported
    const reps: ReadRepFigures[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      const [rawFigures, logFigures] = await alternate(rep, raw, subject);
      checkSameBytes(rawFigures, logFigures, log.sizeBytes);
      reps.push({ rawRead: rawFigures, logRead: logFigures });
      progress(`read rep ${rep + 1}/${opts.reps}: raw ${mbps(rawFigures)}, log ${mbps(logFigures)}`);
    }
    return reps;
  } finally {
    await log.close();
    ws.remove(dir);
  }
}

function checkSameBytes(raw: Figures, subject: Figures, expected: number): void {
  if (raw.bytes !== expected || subject.bytes !== expected) {
    throw new Error(`read tests disagree: raw read ${raw.bytes} bytes, log read ${subject.bytes}, log holds ${expected}`);
  }
}

/**
 * Not reported: JIT warm-up of every path, then one raw append of the full volume, so that the
 * page-cache memory the measurements reuse is already backed (on a VM with free page reporting,
 * the first touch of freed memory costs a host fault per page and can halve the first figure).
 */
async function warmUpAppends(ws: Workspace, opts: Options, batches: Buffer[]): Promise<void> {
  const small = { ...opts, appendBytes: WARMUP_BYTES, syncBaselineBytes: Math.min(opts.syncBaselineBytes, WARMUP_BYTES / 8) };
  await runAppendRep(ws, small, batches, 0);
  await onFreshPath(ws, 'warmup.dat', (file) => rawAppend(file, batches, batchCount(opts.appendBytes)));
}

async function runAppendReps(ws: Workspace, opts: Options, batches: Buffer[]): Promise<RepFigures[]> {
  await warmUpAppends(ws, opts, batches);
  const reps: RepFigures[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const figs = await runAppendRep(ws, opts, batches, rep);
    reps.push(figs);
    progress(
      `append rep ${rep + 1}/${opts.reps}: raw ${mbps(figs.rawAppend)}, log ${mbps(figs.logAppend)}, ` +
        `durable ${mbps(figs.logDurableAppend)} (${figs.logDurableAppend.fsyncsPer1000Appends?.toFixed(1)} fsyncs/1000), ` +
        `raw+fdatasync ${mbps(figs.rawAppendFdatasync)}`,
    );
  }
  return reps;
}

// ---------------------------------------------------------------------------------------------
// Statistics and report


interface Summary {
  reps: Figures[];
  medianBytesPerSec: number;
  medianOperationsPerSec: number;
  medianDurationMs: number;
  medianFsyncsPer1000Appends?: number;
}

function summarize(reps: Figures[]): Summary {
  const summary: Summary = {
    reps,
    medianBytesPerSec: median(reps.map((r) => r.bytesPerSec)),
    medianOperationsPerSec: median(reps.map((r) => r.operationsPerSec)),
    medianDurationMs: median(reps.map((r) => r.durationMs)),
  };
  const fsyncs = reps.map((r) => r.fsyncsPer1000Appends).filter((v): v is number => v !== undefined);
  if (fsyncs.length > 0) summary.medianFsyncsPer1000Appends = median(fsyncs);
  return summary;
}


function compare(name: string, subject: string, baseline: string, subjectReps: Figures[], baselineReps: Figures[], target: number | null): Comparison {
  const ratioPerRep = subjectReps.map((s, i) => s.bytesPerSec / baselineReps[i]!.bytesPerSec);
  const ratio = median(ratioPerRep);
  return { name, subject, baseline, ratio, ratioPerRep, target, pass: target === null ? null : ratio >= target };
}

function comparisons(append: RepFigures[], read: ReadRepFigures[]): Comparison[] {
  const col = <K extends keyof RepFigures>(key: K): Figures[] => append.map((r) => r[key]);
  const readCol = <K extends keyof ReadRepFigures>(key: K): Figures[] => read.map((r) => r[key]);
  return [
    compare('append (page cache)', 'logAppend', 'rawAppend', col('logAppend'), col('rawAppend'), TARGETS.appendVsRaw),
    compare('append of pre-checked batches (context: storage without the CRC check)', 'logAppendChecked', 'rawAppend', col('logAppendChecked'), col('rawAppend'), null),
    compare('durable append (group commit)', 'logDurableAppend', 'logAppend', col('logDurableAppend'), col('logAppend'), TARGETS.durableVsNonDurable),
    compare('durable append vs the device (context)', 'logDurableAppend', 'rawDurableCeiling', col('logDurableAppend'), col('rawDurableCeiling'), null),
    compare('raw write+fdatasync per batch (context)', 'rawAppendFdatasync', 'logAppend', col('rawAppendFdatasync'), col('logAppend'), null),
    compare('sequential read (page cache)', 'logRead', 'rawRead', readCol('logRead'), readCol('rawRead'), TARGETS.readVsRaw),
  ];
}


function mb(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;
}

function mbps(f: Figures): string {
  return mb(f.bytesPerSec);
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}


function figuresTable(measurements: Record<string, Summary>): string[] {
  const widths = [22, 11, 14, 12, 13];
  const lines = [row(['measurement', 'MB/s', 'batches/s', 'ms (median)', 'fsyncs/1000'], widths)];
  for (const [name, s] of Object.entries(measurements)) {
    const opsLabel = name.endsWith('Read') ? `${s.medianOperationsPerSec.toFixed(0)} reads/s` : s.medianOperationsPerSec.toFixed(0);
    const fsyncs = s.medianFsyncsPer1000Appends?.toFixed(1) ?? '-';
    lines.push(row([name, (s.medianBytesPerSec / 1e6).toFixed(0), opsLabel, s.medianDurationMs.toFixed(0), fsyncs], widths));
  }
  return lines;
}


// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const root = fs.mkdtempSync(path.join(opts.baseDir, 'runnel-storage-bench-'));
  const removeRoot = (): void => fs.rmSync(root, { recursive: true, force: true });
  process.once('SIGINT', () => {
    removeRoot();
    process.exit(130);
  });
  const startedAt = new Date();
  try {
    const document = await runAll(new Workspace(root), opts, startedAt);
    emit(document, opts);
  } finally {
    removeRoot();
  }
}

async function runAll(ws: Workspace, opts: Options, startedAt: Date): Promise<Record<string, unknown>> {
  progress(`storage bench: temp dir ${ws.root}; append ${opts.appendBytes / GIB} GiB, read ${opts.readBytes / GIB} GiB, ${opts.reps} reps`);
  const batches = buildBatchPool();
  const append = await runAppendReps(ws, opts, batches);
  const read = await runReadReps(ws, opts, batches);
  const measurements: Record<string, Summary> = {
    rawAppend: summarize(append.map((r) => r.rawAppend)),
    logAppend: summarize(append.map((r) => r.logAppend)),
    logAppendChecked: summarize(append.map((r) => r.logAppendChecked)),
    logDurableAppend: summarize(append.map((r) => r.logDurableAppend)),
    rawDurableCeiling: summarize(append.map((r) => r.rawDurableCeiling)),
    rawAppendFdatasync: summarize(append.map((r) => r.rawAppendFdatasync)),
    rawRead: summarize(read.map((r) => r.rawRead)),
    logRead: summarize(read.map((r) => r.logRead)),
  };
  const list = comparisons(append, read);
  return {
    benchmark: 'storage',
    startedAt: startedAt.toISOString(),
    totalDurationMs: Date.now() - startedAt.getTime(),
    command: ['node', path.relative(process.cwd(), process.argv[1] ?? ''), ...process.argv.slice(2)].join(' '),
    argv: process.argv,
    machine: machine(),
    settings: settings(opts),
    measurements,
    comparisons: list,
    allTargetsMet: list.every((c) => c.pass !== false),
  };
}

function settings(opts: Options): Record<string, unknown> {
  const config = benchConfig();
  return {
    quick: opts.quick,
    appendBytes: opts.appendBytes,
    readBytes: opts.readBytes,
    syncBaselineBytes: opts.syncBaselineBytes,
    reps: opts.reps,
    durableWriters: opts.writers,
    idealFsyncsPer1000Appends: 1000 / opts.writers,
    batchBytes: BATCH_BYTES,
    recordsPerBatch: RECORDS_PER_BATCH,
    distinctPrebuiltBatches: BATCH_POOL_SIZE,
    readChunkBytes: READ_CHUNK_BYTES,
    segmentBytes: config.segmentBytes,
    indexIntervalBytes: config.indexIntervalBytes,
    tempDirParent: opts.baseDir,
    mbUnit: 'MB = 10^6 bytes',
    pageCache:
      'reads are from the page cache on both sides (the log is written and fdatasynced just before, then read once unmeasured by each ' +
      'side; no cache is dropped on a shared machine). Appends go to the page cache; each file is deleted after its measurement.',
    ratioMethod: 'median over repetitions of subject/baseline bytes-per-second; baseline and subject alternate order every repetition',
  };
}

function emit(document: Record<string, unknown>, opts: Options): void {
  const measurements = document.measurements as Record<string, Summary>;
  const list = document.comparisons as Comparison[];
  const notes = notesFor(document.settings as Record<string, unknown>);
  const table = [...figuresTable(measurements), '', ...comparisonTable(list), '', ...notes, ''].join('\n');
  const header = `${String(document.command)}\n${describeMachine(document.machine as Record<string, unknown>)}\n\n`;
  writeReport(header, table, document, opts.jsonTarget);
}

function notesFor(settings: Record<string, unknown>): string[] {
  const writers = Number(settings.durableWriters);
  return [
    `batches of ${Number(settings.batchBytes) / KIB} KiB; reads of ${Number(settings.readChunkBytes) / KIB} KiB; ` +
      `medians of ${String(settings.reps)} reps; MB = 10^6 bytes`,
    `durable: ${writers} writers, each with one append in flight; ideal group commit = ${(1000 / writers).toFixed(1)} fsyncs/1000 appends`,
    `page cache: ${String(settings.pageCache)}`,
  ];
}

function describeMachine(m: Record<string, unknown>): string {
  const memGiB = (Number(m.memoryBytes) / GIB).toFixed(1);
  return `machine: ${String(m.cpuModel)}, ${String(m.cores)} cores, ${memGiB} GiB RAM, Node ${String(m.node)}, ${String(m.platform)}`;
}

main().catch((err: unknown) => {
  process.stderr.write(`storage bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
