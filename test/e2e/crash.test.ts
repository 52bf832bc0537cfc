/**
 * Durable appends survive process crashes: a child process (fixtures/crash-writer.mjs, on the
 * compiled code) appends batches with `{ durable: true }` from several loops at once (group
 * commit), printing each acknowledgement; the test SIGKILLs it after a random number of them,
 * reopens the data directory (in this process, or in a fresh child) and checks the log against
 * what was acknowledged and against the recomputed bytes of every batch. Many kill cycles run on
 * the same directory, so recovery runs again and again on an already recovered, growing log,
 * sometimes after a clean close and sometimes not.
 *
 * The seed is in the test name; RUNNEL_CRASH_SEED=<seed> replays the test's own choices (kill
 * points, close modes, read offsets) and the batch contents; the child's timing is the machine's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeBaseOffset } from '../../src/format/batch-header.js';
import { decodeRecordBatch, decodeRecordBatches, encodeRecordBatch, type RecordBatchInput } from '../../src/format/record-batch.js';
import type { LogConfig } from '../../src/storage/log-config.js';
import { LogManager } from '../../src/storage/log-manager.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { rng, tempDir } from '../storage/helpers.js';
import { EventWaits } from './event-waits.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));

/** What the fixture exports: the shared content recipe and log settings. */
interface CrashWriter {
  TOPIC: string;
  PARTITION: number;
  LOG_CONFIG: Partial<LogConfig>;
  batchContent(seed: number, id: number): RecordBatchInput;
  batchId(stored: Buffer): number;
}
const writer = (await import(pathToFileURL(FIXTURE).href).catch((err: unknown) => {
  throw new Error(`cannot load ${FIXTURE}: it runs on dist/, so build first (npm run build)`, { cause: err });
})) as CrashWriter;

const SEED = Number(process.env.RUNNEL_CRASH_SEED ?? Math.floor(Math.random() * 1e9));
const CYCLES = 24;
const CONCURRENCY = 4;
/** Each cycle's writer numbers its batches from cycle * ID_STRIDE + 1. */
const ID_STRIDE = 1_000_000;
const CHILD_WAIT_MS = 20_000;

interface Ack {
  id: number;
  baseOffset: number;
  lastOffset: number;
  fsyncCount: number;
}

interface OpenLine {
  cleanShutdown: boolean;
  repairs: number;
  logStartOffset: number;
  logEndOffset: number;
}

/** One batch found in the log. */
interface Found {
  baseOffset: number;
  lastOffset: number;
  id: number;
}

/** What the test knows to be in the log: the layout the last verification found, plus every ack. */
interface Model {
  batches: Found[];
  logEndOffset: number;
  acked: Map<number, Ack>;
  /** Whether the last process to open the directory closed it cleanly. */
  closedCleanly: boolean;
}

/** A child running the fixture, its stdout as lines, and a way to wait for a condition on them. */
class Child {
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly process: ChildProcess;
  private readonly waits = new EventWaits();
  private readonly closed: Promise<void>;

  constructor(args: string[]) {
    this.process = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    readline.createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.notify();
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.closed = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.exit ??= { code, signal };
        this.notify();
        resolve();
      };
      // 'close' comes after the exit and after stdout ended, so every printed line has been seen.
      this.process.on('close', done);
      this.process.on('error', (err) => {
        this.stderr += String(err);
        done(null, null);
      });
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  private notify(): void {
    this.waits.notify();
  }

  private describe(): string {
    const exit = this.exit === null ? 'running' : `exit code ${this.exit.code}, signal ${this.exit.signal}`;
    return `${exit}; last lines: ${JSON.stringify(this.lines.slice(-3))}; stderr: ${this.stderr.slice(-2000)}`;
  }

  /** Resolves when `done()` holds (checked on every line); rejects if the child ends first or time runs out. */
  until(done: () => boolean, what: string, timeoutMs = CHILD_WAIT_MS): Promise<void> {
    return this.waits.until(
      done,
      () => (this.exit === null ? null : new Error(`${what}: the child ended first (${this.describe()})`)),
      () => new Error(`${what}: not within ${timeoutMs} ms (${this.describe()})`),
      timeoutMs,
    );
  }

  /** Waits until the process is gone and its output is read; bounded. */
  async ended(what: string): Promise<void> {
    await this.until(() => this.exit !== null, what);
    await this.closed;
  }

  kill(): void {
    process.kill(this.pid, 'SIGKILL');
  }
}

function parseOpen(line: string | undefined): OpenLine {
  const [tag, clean, repairs, start, end] = (line ?? '').split(' ');
  expect(tag, `first line of a child: ${line}`).toBe('open');
  return { cleanShutdown: clean === 'true', repairs: Number(repairs), logStartOffset: Number(start), logEndOffset: Number(end) };
}

function parseAcks(lines: string[]): Ack[] {
  return lines
    .filter((line) => line.startsWith('ack '))
    .map((line) => {
      const [id, baseOffset, lastOffset, fsyncCount] = line.slice(4).split(' ').map(Number);
      return { id, baseOffset, lastOffset, fsyncCount };
    });
}

const expectedCache = new Map<number, Buffer>();

/** The exact stored bytes of batch `id` at `baseOffset`: the fixture's content, encoded here, offset stamped. */
function expectedBytes(id: number, baseOffset: number): Buffer {
  let bytes = expectedCache.get(id);
  if (bytes === undefined) {
    bytes = encodeRecordBatch(writer.batchContent(SEED, id));
    writeBaseOffset(bytes, baseOffset);
    expectedCache.set(id, bytes);
  }
  return bytes;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function expectSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < Math.min(actual.length, expected.length) && actual[at] === expected[at]) at++;
  expect.fail(`${what}: ${actual.length} bytes where ${expected.length} were expected, first difference at byte ${at}`);
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/** Decoded records match the content recipe: keys, values, headers, timestamps, dense offsets. */
function expectRecordsOf(stored: Buffer, id: number, baseOffset: number, where: string): void {
  const decoded = decodeRecordBatch(stored);
  const { records } = writer.batchContent(SEED, id);
  expect(decoded.records.length, `${where}: records of batch ${id}`).toBe(records.length);
  decoded.records.forEach((record, i) => {
    const input = records[i];
    const headers = input.headers ?? [];
    const same =
      record.offset === baseOffset + i &&
      record.timestampMs === input.timestampMs &&
      sameBytes(record.key, input.key) &&
      sameBytes(record.value, input.value) &&
      record.headers.length === headers.length &&
      record.headers.every((h, j) => h.key === headers[j].key && sameBytes(h.value, headers[j].value));
    // Compared by hand (toEqual on Buffers is slow); on a mismatch, let toEqual show the difference.
    if (!same) {
      expect({ ...record }, `${where}: record ${i} of batch ${id}`).toEqual({ offset: baseOffset + i, timestampMs: input.timestampMs, key: input.key, value: input.value, headers });
    }
  });
}

/**
 * The structure every reopened log must have: dense offsets from 0; what an earlier
 * verification saw still there unchanged; every acknowledged batch at its acknowledged offsets;
 * and after that, exactly the batches this cycle's writer appended, in order, with none missing.
 */
function checkLayout(found: Found[], logEndOffset: number, model: Model, firstId: number, where: string): void {
  let next = 0;
  for (const batch of found) {
    expect(batch.baseOffset, `${where}: base offset of batch ${batch.id}`).toBe(next);
    expect(batch.lastOffset, `${where}: last offset of batch ${batch.id}`).toBeGreaterThanOrEqual(batch.baseOffset);
    next = batch.lastOffset + 1;
  }
  expect(logEndOffset, `${where}: log end offset`).toBe(next);
  expect(found.length, `${where}: batches since the last verification`).toBeGreaterThanOrEqual(model.batches.length);
  expect(found.slice(0, model.batches.length), `${where}: what earlier verifications saw`).toEqual(model.batches);
  const newIds = found.slice(model.batches.length).map((b) => b.id);
  expect(newIds, `${where}: ids appended by this cycle's writer`).toEqual(newIds.map((_, i) => firstId + i));
  const byBase = new Map(found.map((b) => [b.baseOffset, b]));
  for (const ack of model.acked.values()) {
    expect(byBase.get(ack.baseOffset), `${where}: acknowledged batch ${ack.id} at ${ack.baseOffset}`).toEqual({
      baseOffset: ack.baseOffset,
      lastOffset: ack.lastOffset,
      id: ack.id,
    });
  }
}

/** Reads the whole log front to back, as stored batches. */
async function scanLog(log: PartitionLog, where: string): Promise<{ found: Found[]; bytes: Buffer[] }> {
  const found: Found[] = [];
  const bytes: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, 256 * 1024);
    expect(result.firstOffset, `${where}: scan at ${offset}`).toBe(offset);
    let at = 0;
    for (const batch of decodeRecordBatches(result.bytes)) {
      const stored = result.bytes.subarray(at, at + batch.sizeBytes);
      found.push({ baseOffset: batch.baseOffset, lastOffset: batch.baseOffset + batch.lastOffsetDelta, id: writer.batchId(stored) });
      bytes.push(stored);
      at += batch.sizeBytes;
    }
    expect(result.nextOffset, `${where}: scan progress at ${offset}`).toBeGreaterThan(offset);
    offset = result.nextOffset;
  }
  return { found, bytes };
}

/** Reopens in this process (src/ code), checks everything, then closes cleanly or abruptly. */
async function verifyInProcess(dataDir: string, model: Model, firstId: number, random: () => number, where: string): Promise<Found[]> {
  const manager = LogManager.open({ dataDir, background: false, defaultConfig: writer.LOG_CONFIG });
  let clean = false;
  try {
    expect(manager.report.cleanShutdown, `${where}: a killed writer leaves no clean-shutdown marker`).toBe(false);
    const log = manager.getLog(writer.TOPIC, writer.PARTITION);
    expect(log, `${where}: the log is found`).toBeDefined();
    expect(log!.logStartOffset, `${where}: log start`).toBe(0);
    const { found, bytes } = await scanLog(log!, where);
    checkLayout(found, log!.logEndOffset, model, firstId, where);
    for (const [i, batch] of found.entries()) {
      expectSameBytes(bytes[i], expectedBytes(batch.id, batch.baseOffset), `${where}: batch ${batch.id} at ${batch.baseOffset}`);
      if (i >= model.batches.length) expectRecordsOf(bytes[i], batch.id, batch.baseOffset, where);
    }
    for (const [i, batch] of found.entries()) {
      const inside = batch.baseOffset + Math.floor(random() * (batch.lastOffset - batch.baseOffset + 1));
      for (const offset of [batch.baseOffset, inside]) {
        const result = await log!.read(offset, 1);
        expect(result.firstOffset, `${where}: read at ${offset}`).toBe(batch.baseOffset);
        expect(result.nextOffset, `${where}: read at ${offset}`).toBe(batch.lastOffset + 1);
        expectSameBytes(result.bytes, bytes[i], `${where}: read at ${offset}`);
      }
    }
    clean = random() < 0.5;
    return found;
  } finally {
    if (clean) await manager.close();
    else manager.closeAbruptly();
    model.closedCleanly = clean;
  }
}

/** Reopens in a fresh child (dist/ code), which prints every batch's hash and every boundary read. */
async function verifyInChild(dataDir: string, model: Model, firstId: number, random: () => number, where: string): Promise<Found[]> {
  const clean = random() < 0.5;
  const child = new Child(['dump', dataDir, clean ? 'close' : 'abrupt']);
  try {
    await child.ended(`${where}: verifying child`);
  } finally {
    if (child.exit === null) child.kill();
  }
  expect(child.exit, `${where}: verifying child (${child.stderr})`).toEqual({ code: 0, signal: null });
  model.closedCleanly = clean;
  const open = parseOpen(child.lines[0]);
  expect(open.cleanShutdown, `${where}: a killed writer leaves no clean-shutdown marker`).toBe(false);
  expect(open.logStartOffset, `${where}: log start`).toBe(0);
  const found: Found[] = [];
  const hashes = new Map<number, string>();
  for (const line of child.lines.filter((l) => l.startsWith('batch '))) {
    const [baseOffset, lastOffset, id, hash] = line.slice(6).split(' ');
    found.push({ baseOffset: Number(baseOffset), lastOffset: Number(lastOffset), id: Number(id) });
    hashes.set(Number(baseOffset), hash);
  }
  checkLayout(found, open.logEndOffset, model, firstId, where);
  for (const batch of found) {
    expect(hashes.get(batch.baseOffset), `${where}: sha256 of batch ${batch.id} at ${batch.baseOffset}`).toBe(sha256(expectedBytes(batch.id, batch.baseOffset)));
  }
  const reads = child.lines.filter((l) => l.startsWith('at '));
  expect(reads.length, `${where}: boundary reads`).toBe(found.length);
  for (const [i, line] of reads.entries()) {
    const [at, firstOffset, nextOffset, hash] = line.slice(3).split(' ');
    const batch = found[i];
    expect([Number(at), Number(firstOffset), Number(nextOffset), hash], `${where}: read at ${batch.baseOffset}`).toEqual([
      batch.baseOffset,
      batch.baseOffset,
      batch.lastOffset + 1,
      hashes.get(batch.baseOffset),
    ]);
  }
  expect(child.lines[child.lines.length - 1], `${where}: verifying child finished`).toBe('closed');
  return found;
}

/** How many acknowledgements to wait for before the kill: sometimes none, mostly a few dozen. */
function killPoint(random: () => number): number {
  const r = random();
  if (r < 0.1) return 0;
  if (r < 0.35) return 1 + Math.floor(random() * 8);
  return 9 + Math.floor(random() * 140);
}

/** Runs one writer until `target` acks have arrived, kills it, and returns what it acknowledged. */
async function runWriter(dataDir: string, model: Model, firstId: number, target: number, where: string): Promise<Ack[]> {
  const child = new Child(['write', dataDir, String(SEED), String(firstId), String(CONCURRENCY)]);
  try {
    await child.until(() => child.lines.length > 0, `${where}: writer opens the log`);
    const open = parseOpen(child.lines[0]);
    expect(open.cleanShutdown, `${where}: the writer sees the last close as clean`).toBe(model.closedCleanly);
    if (model.closedCleanly) expect(open.repairs, `${where}: repairs after a clean close`).toBe(0);
    expect([open.logStartOffset, open.logEndOffset], `${where}: the writer continues at the log end`).toEqual([0, model.logEndOffset]);
    await child.until(() => child.lines.length > target, `${where}: ${target} acknowledgements`);
  } finally {
    if (child.exit === null) child.kill();
    await child.ended(`${where}: killed writer exits`);
  }
  expect(child.exit, `${where}: the writer died of the kill (${child.stderr})`).toEqual({ code: null, signal: 'SIGKILL' });
  model.closedCleanly = false;
  const acks = parseAcks(child.lines);
  expect(acks.length, `${where}: acknowledgements`).toBeGreaterThanOrEqual(target);
  for (const ack of acks) {
    expect(ack.baseOffset, `${where}: ack of ${ack.id} is past the log end at open`).toBeGreaterThanOrEqual(model.logEndOffset);
    expect(ack.id, `${where}: ack ids are this writer's`).toBeGreaterThanOrEqual(firstId);
  }
  if (acks.length >= 8) {
    // Several appends in flight share an fdatasync: fewer fsync rounds than acknowledgements.
    expect(Math.max(...acks.map((a) => a.fsyncCount)), `${where}: fsync rounds for ${acks.length} acks`).toBeLessThan(acks.length);
  }
  return acks;
}

describe('crash consistency of durable appends', () => {
  it(`keeps every acknowledged batch through ${CYCLES} SIGKILLs of a writer, seed ${SEED}`, async () => {
    const random = rng(SEED);
    const dataDir = tempDir('runnel-crash-');
    const model: Model = { batches: [], logEndOffset: 0, acked: new Map(), closedCleanly: true }; // a new, empty data directory counts as cleanly shut down
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const firstId = cycle * ID_STRIDE + 1;
      const target = killPoint(random);
      const where = `seed ${SEED}, cycle ${cycle} (kill after ${target} acks)`;
      const acks = await runWriter(dataDir, model, firstId, target, where);
      for (const ack of acks) model.acked.set(ack.id, ack);
      // Every fourth reopen runs in a fresh child, on the compiled code.
      const inChild = cycle % 4 === 2;
      const found = await (inChild ? verifyInChild : verifyInProcess)(dataDir, model, firstId, random, `${where}, verified in ${inChild ? 'a child' : 'process'}`);
      model.batches = found;
      model.logEndOffset = found.length === 0 ? 0 : found[found.length - 1].lastOffset + 1;
    }
    const segments = fs.readdirSync(path.join(dataDir, `${writer.TOPIC}-${writer.PARTITION}`)).filter((name) => name.endsWith('.log'));
    expect(model.acked.size, 'acknowledged batches in all').toBeGreaterThan(CYCLES);
    expect(segments.length, 'segments: rolls happened').toBeGreaterThan(3);
  }, 120_000);
});
