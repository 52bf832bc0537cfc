/**
 * Seeded random damage to the files of a cleanly closed, multi-segment partition log, then a
 * reopen. Whatever the damage, opening never throws. When the damage is a torn tail (in the last
 * segment, from an offset at or beyond the recovery point), the log keeps a byte-exact prefix of
 * what was appended (cut at the first batch whose damage the CRC, length, magic or offset checks
 * can see), reads and timestamp lookups agree with a brute-force model of that prefix, and
 * appends continue at the log end offset. Any other visible damage (a middle segment, or below
 * the recovery point: hardening #11) keeps every byte and takes the partition offline, serving
 * the same prefix, and a clean reopen keeps it offline.
 *
 * Each case's seed is in its name. Set RUNNEL_CORRUPTION_SEED to move every seed (a different
 * set of cases), or run one case with `-t "seed 1234"`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Codec, Pos, readBatchSize } from '../../src/format/batch-header.js';
import { decodeRecordBatch } from '../../src/format/record-batch.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { offsetForTimestamp } from '../../src/storage/timestamp-lookup.js';
import { makeBatch, openLog, rng, tempDir } from './helpers.js';

const CASES_PER_KIND = 32;
const SEED_BASE = Number(process.env.RUNNEL_CORRUPTION_SEED ?? 20_240_601);
/** The partitionLeaderEpoch field: outside the CRC, so damage there is legitimately invisible. */
const EPOCH_START = Pos.partitionLeaderEpoch;
const EPOCH_END = Pos.partitionLeaderEpoch + 4;
const T0_MS = 1_700_000_000_000;

interface StoredBatch {
  /** The bytes as stored (baseOffset stamped). */
  bytes: Buffer;
  baseOffset: number;
  lastOffset: number;
  /** Index into BuiltLog.segments, and byte position inside that segment's .log. */
  segment: number;
  position: number;
  records: { offset: number; timestampMs: number }[];
}

interface SegmentFiles {
  baseOffset: number;
  log: string;
  index: string;
  timeIndex: string;
  sizeBytes: number;
}

interface BuiltLog {
  dir: string;
  config: { segmentBytes: number; indexIntervalBytes: number };
  batches: StoredBatch[];
  segments: SegmentFiles[];
}

/** What the reopened log must hold: the first `keep` batches, with these exact bytes. */
interface Expectation {
  description: string;
  keep: number;
  /** Stored bytes of kept batches whose damage is invisible by design (partitionLeaderEpoch). */
  changed: Map<number, Buffer>;
  /** True when the damage is visible to recovery, so a repair must be reported. */
  repairExpected: boolean;
  /** Index damage is what can mislead a lookup by time: those cases check every timestamp. */
  indexesDamaged?: boolean;
}

interface OpenPlan {
  recover: boolean;
  recoveryPointOffset: number;
}

function int(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function randomBytes(random: () => number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = Math.floor(random() * 256);
  return buf;
}

/** Record timestamps rise by batch, with some out-of-order ones (producers' clocks disagree). */
function timestampsFor(random: () => number, index: number, count: number): number[] {
  return Array.from({ length: count }, () => {
    const skewMs = random() < 0.15 ? -int(random, 1, 40_000) : int(random, 0, 3_000);
    return T0_MS + index * 1_000 + skewMs;
  });
}

async function buildLog(random: () => number): Promise<BuiltLog> {
  const dir = tempDir('runnel-corruption-');
  const config = { segmentBytes: pick(random, [4096, 8192]), indexIntervalBytes: pick(random, [128, 300, 700]) };
  const { log } = openLog(dir, {}, config);
  const count = int(random, 30, 70);
  const batches: StoredBatch[] = [];
  for (let i = 0; i < count || log.segmentCount < 3; i++) {
    const records = random() < 0.2 ? 1 : int(random, 1, 8);
    const batch = makeBatch({
      timestamps: timestampsFor(random, i, records),
      valueBytes: int(random, 8, 400),
      codec: random() < 0.3 ? Codec.Lz4 : Codec.None,
      tag: `b${i}`,
    });
    const { baseOffset, lastOffset } = log.appendSync(batch);
    const bytes = Buffer.from(batch);
    const decoded = decodeRecordBatch(bytes);
    const stamped = decoded.records.map((r) => ({ offset: r.offset, timestampMs: r.timestampMs }));
    batches.push({ bytes, baseOffset, lastOffset, segment: -1, position: -1, records: stamped });
  }
  const bases = log.segmentBaseOffsets();
  await log.close();
  const segments = bases.map((baseOffset) => ({
    baseOffset,
    log: path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX)),
    index: path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX)),
    timeIndex: path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX)),
    sizeBytes: 0,
  }));
  for (const batch of batches) {
    batch.segment = bases.findLastIndex((base) => base <= batch.baseOffset);
    const segment = segments[batch.segment];
    batch.position = segment.sizeBytes;
    segment.sizeBytes += batch.bytes.length;
  }
  for (const segment of segments) expect(fs.statSync(segment.log).size).toBe(segment.sizeBytes);
  return { dir, config, batches, segments };
}

function batchesIn(built: BuiltLog, segment: number): StoredBatch[] {
  return built.batches.filter((b) => b.segment === segment);
}

/**
 * Flips 1-4 distinct bytes of one segment's .log: anywhere, or inside a batch header (so the
 * header fields, partitionLeaderEpoch included, get their share). The first batch with a flip
 * outside partitionLeaderEpoch and everything after it must go.
 */
function flipLogBytes(built: BuiltLog, random: () => number, segment: number): Expectation {
  const file = built.segments[segment].log;
  const bytes = fs.readFileSync(file);
  const inSegment = batchesIn(built, segment);
  const positions = new Set<number>();
  const flips = int(random, 1, 4);
  while (positions.size < flips) {
    const batch = pick(random, inSegment);
    positions.add(random() < 0.5 ? int(random, 0, bytes.length - 1) : batch.position + int(random, 0, 60));
  }
  for (const position of positions) bytes[position] ^= int(random, 1, 255);
  fs.writeFileSync(file, bytes);

  let keep = built.batches.length;
  const changed = new Map<number, Buffer>();
  for (const batch of inSegment) {
    const hits = [...positions].map((p) => p - batch.position).filter((at) => at >= 0 && at < batch.bytes.length);
    if (hits.some((at) => at < EPOCH_START || at >= EPOCH_END)) {
      keep = built.batches.indexOf(batch);
      break;
    }
    if (hits.length > 0) changed.set(built.batches.indexOf(batch), bytes.subarray(batch.position, batch.position + batch.bytes.length));
  }
  const at = [...positions].sort((a, b) => a - b).join(',');
  return { description: `flip bytes ${at} of segment ${segment}`, keep, changed, repairExpected: keep < built.batches.length };
}

/** Cuts the last .log at a random length (sometimes exactly at a batch boundary). */
function truncateLastLog(built: BuiltLog, random: () => number): Expectation {
  const last = built.segments.length - 1;
  const segment = built.segments[last];
  const boundaries = batchesIn(built, last).map((b) => b.position);
  const length = random() < 0.25 ? pick(random, boundaries) : int(random, 0, segment.sizeBytes - 1);
  fs.truncateSync(segment.log, length);
  const keep = built.batches.filter((b) => b.segment < last || b.position + b.bytes.length <= length).length;
  return { description: `truncate the last .log to ${length} of ${segment.sizeBytes} bytes`, keep, changed: new Map(), repairExpected: !boundaries.includes(length) };
}

/** Appends junk after the last batch: random bytes, zeros, a torn or repeated batch. */
function garbageAfterLastLog(built: BuiltLog, random: () => number): Expectation {
  const last = built.batches[built.batches.length - 1];
  const file = built.segments[last.segment].log;
  const kind = pick(random, ['random', 'zeros', 'torn-next-batch', 'repeated-batch', 'header-only'] as const);
  let junk: Buffer;
  if (kind === 'random') junk = randomBytes(random, int(random, 1, 3000));
  else if (kind === 'zeros') junk = Buffer.alloc(int(random, 1, 5000));
  else if (kind === 'repeated-batch') junk = Buffer.from(last.bytes);
  else {
    // What a crash in the middle of a write leaves: the next batch, correctly stamped, but cut.
    const next = makeBatch({ records: 3, valueBytes: 200, tag: 'torn' });
    next.writeBigInt64BE(BigInt(last.lastOffset + 1), Pos.baseOffset);
    junk = next.subarray(0, kind === 'header-only' ? int(random, 1, 61) : int(random, 61, next.length - 1));
  }
  fs.appendFileSync(file, junk);
  return { description: `append ${junk.length} bytes of ${kind} to the last .log`, keep: built.batches.length, changed: new Map(), repairExpected: true };
}

/** Damages 1-3 index files (offset or time index, any segment). Indexes are a cache: nothing may be lost. */
function damageIndexes(built: BuiltLog, random: () => number): Expectation {
  const done: string[] = [];
  const damages = int(random, 1, 3);
  for (let d = 0; d < damages; d++) {
    const segment = int(random, 0, built.segments.length - 1);
    const files = built.segments[segment];
    const file = random() < 0.5 ? files.index : files.timeIndex;
    const entryBytes = file === files.index ? 8 : 12;
    const bytes = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    let kind = pick(random, ['flip', 'flip', 'truncate', 'truncate-entries', 'delete', 'garbage', 'garbage-longer', 'empty'] as const);
    if (bytes.length === 0 && (kind === 'flip' || kind === 'truncate' || kind === 'truncate-entries')) kind = 'garbage-longer';
    if (kind === 'flip') {
      const flips = int(random, 1, 3);
      for (let i = 0; i < flips; i++) bytes[int(random, 0, bytes.length - 1)] ^= int(random, 1, 255);
      fs.writeFileSync(file, bytes);
    } else if (kind === 'truncate') {
      fs.truncateSync(file, int(random, 0, bytes.length - 1));
    } else if (kind === 'truncate-entries') {
      fs.truncateSync(file, entryBytes * int(random, 0, bytes.length / entryBytes - 1));
    } else if (kind === 'delete') {
      fs.rmSync(file, { force: true });
    } else if (kind === 'garbage') {
      fs.writeFileSync(file, randomBytes(random, bytes.length));
    } else if (kind === 'garbage-longer') {
      fs.writeFileSync(file, randomBytes(random, bytes.length + entryBytes * int(random, 1, 4)));
    } else {
      fs.writeFileSync(file, Buffer.alloc(0));
    }
    done.push(`${kind} ${path.basename(file)} (${bytes.length} bytes)`);
  }
  return { description: done.join('; '), keep: built.batches.length, changed: new Map(), repairExpected: false, indexesDamaged: true };
}

function expectSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < Math.min(actual.length, expected.length) && actual[at] === expected[at]) at++;
  expect.fail(`${what}: ${actual.length} bytes where ${expected.length} were expected, first difference at byte ${at}`);
}

/** Splits a read result into whole batches. */
function splitBatches(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += readBatchSize(bytes, at)) out.push(bytes.subarray(at, at + readBatchSize(bytes, at)));
  return out;
}

/** The first record at or after `timestampMs`, in offset order: what offsetForTimestamp must find. */
function bruteForceTimestamp(batches: StoredBatch[], timestampMs: number): { offset: number; timestampMs: number } | null {
  for (const batch of batches) {
    for (const record of batch.records) if (record.timestampMs >= timestampMs) return record;
  }
  return null;
}

/**
 * The answer only changes between consecutive distinct record timestamps, so asking at each of
 * them, and past the newest, covers every case.
 */
function interestingTimestamps(batches: StoredBatch[]): number[] {
  const set = new Set<number>([0]);
  let maxMs = 0;
  for (const batch of batches) {
    for (const record of batch.records) {
      set.add(record.timestampMs);
      maxMs = Math.max(maxMs, record.timestampMs);
    }
  }
  set.add(maxMs + 1);
  return [...set].sort((a, b) => a - b);
}

/** How much of the read and lookup checks to run: everything costs about 50 µs per lookup. */
interface CheckDepth {
  /** Read at every offset, or only at every batch's first offset. */
  everyOffset: boolean;
  /** Ask offsetForTimestamp at every n-th of the timestamps where the answer changes. */
  timestampStride: number;
}

/** Checks the reopened log against the kept prefix; `where` names the case in failures. */
async function checkLog(log: PartitionLog, kept: StoredBatch[], bytesOf: (i: number) => Buffer, where: string, depth: CheckDepth): Promise<void> {
  const logEndOffset = kept.length === 0 ? 0 : kept[kept.length - 1].lastOffset + 1;
  expect(log.logStartOffset, `${where}: log start`).toBe(0);
  expect(log.logEndOffset, `${where}: log end`).toBe(logEndOffset);
  // Segments after a cut one cannot follow the gap: they are gone from the log and the disk.
  const onDisk = fs.readdirSync(log.dir).filter((name) => /^\d{20}\.log$/.test(name)).sort();
  expect(onDisk.map((name) => Number(name.slice(0, 20))), `${where}: segment files`).toEqual(log.segmentBaseOffsets());
  expect(Math.max(...log.segmentBaseOffsets()), `${where}: no segment starts past the log end`).toBeLessThanOrEqual(logEndOffset);

  // A sequential scan returns exactly the kept batches, dense and in order.
  let offset = 0;
  let i = 0;
  while (offset < logEndOffset) {
    const result = await log.read(offset, 16 * 1024);
    expect(result.firstOffset, `${where}: scan at ${offset}`).toBe(offset);
    for (const batch of splitBatches(result.bytes)) {
      expect(i, `${where}: scan returned more batches than were kept`).toBeLessThan(kept.length);
      expectSameBytes(batch, bytesOf(i), `${where}: batch ${i} (offset ${kept[i].baseOffset})`);
      i++;
    }
    expect(result.nextOffset, `${where}: scan progress`).toBeGreaterThan(offset);
    offset = result.nextOffset;
  }
  expect(i, `${where}: batches found by a scan`).toBe(kept.length);

  // A read at any offset returns the whole batch holding it.
  for (const [index, batch] of kept.entries()) {
    for (let at = batch.baseOffset; at <= (depth.everyOffset ? batch.lastOffset : batch.baseOffset); at++) {
      const result = await log.read(at, 1);
      expect(result.firstOffset, `${where}: read at ${at}`).toBe(batch.baseOffset);
      expectSameBytes(result.bytes, bytesOf(index), `${where}: read at ${at}`);
    }
  }
  const atEnd = await log.read(logEndOffset, 1024);
  expect(atEnd.bytes.length, `${where}: read at the log end`).toBe(0);

  for (const [i, timestampMs] of interestingTimestamps(kept).entries()) {
    if (i % depth.timestampStride !== 0) continue;
    const found = await offsetForTimestamp(log, timestampMs);
    const wanted = bruteForceTimestamp(kept, timestampMs);
    // Compared by hand first: thousands of toEqual calls per file cost seconds.
    if (found?.offset !== wanted?.offset || found?.timestampMs !== wanted?.timestampMs) {
      expect(found, `${where}: offsetForTimestamp(${timestampMs})`).toEqual(wanted);
    }
  }
}

/** Random recovery settings: a clean-shutdown open, or recovery from a random recovery point. */
function openPlan(random: () => number, built: BuiltLog, forceRecover = false): OpenPlan {
  const recover = forceRecover || random() < 0.5;
  const logEndOffset = built.batches[built.batches.length - 1].lastOffset + 1;
  const recoveryPointOffset = !recover ? 0 : pick(random, [0, logEndOffset, int(random, 0, logEndOffset), pick(random, built.segments).baseOffset]);
  return { recover, recoveryPointOffset };
}

async function reopenAndCheck(built: BuiltLog, expectation: Expectation, plan: OpenPlan, seed: number, random: () => number): Promise<void> {
  const where = `seed ${seed}, ${expectation.description}, recover ${plan.recover} from ${plan.recoveryPointOffset}`;
  const kept = built.batches.slice(0, expectation.keep);
  const bytesOf = (i: number): Buffer => expectation.changed.get(i) ?? kept[i].bytes;

  const damaged = built.batches[expectation.keep] as StoredBatch | undefined;
  const lastSegment = built.segments.length - 1;
  // (A last segment cut exactly at a batch boundary shows no damage: it reads as a shorter log.)
  const visible = damaged !== undefined && expectation.repairExpected;
  if (visible && (damaged.segment !== lastSegment || damaged.baseOffset < plan.recoveryPointOffset)) {
    await checkQuarantined(built, kept, bytesOf, damaged, plan, where);
    return;
  }
  const { log, repairs } = openLog(built.dir, plan, built.config);
  if (expectation.repairExpected) expect(repairs.length, `${where}: repairs reported`).toBeGreaterThan(0);
  await checkLog(log, kept, bytesOf, where, { everyOffset: true, timestampStride: expectation.indexesDamaged === true ? 1 : 2 });

  // Appends continue at the log end, and what was repaired stays repaired after a clean close.
  const logEndOffset = log.logEndOffset;
  const next = makeBatch({ records: int(random, 1, 5), timestampMs: T0_MS + 10_000_000, tag: 'after' });
  const appended = await log.append(next, { durable: true });
  expect(appended.baseOffset, `${where}: offset of the first append after the repair`).toBe(logEndOffset);
  const stored = Buffer.from(next);
  const records = decodeRecordBatch(stored).records.map((r) => ({ offset: r.offset, timestampMs: r.timestampMs }));
  const after = [...kept, { bytes: stored, baseOffset: appended.baseOffset, lastOffset: appended.lastOffset, segment: -1, position: -1, records }];
  const bytesAfter = (i: number): Buffer => (i < kept.length ? bytesOf(i) : stored);
  await log.close();

  const reopened = openLog(built.dir, { recover: false }, built.config);
  expect(reopened.repairs, `${where}: repairs at the open after the repair`).toEqual([]);
  await checkLog(reopened.log, after, bytesAfter, `${where}, reopened`, { everyOffset: false, timestampStride: 3 });
  await reopened.log.close();
}

function logSizes(built: BuiltLog): number[] {
  return built.segments.map((segment) => (fs.existsSync(segment.log) ? fs.statSync(segment.log).size : -1));
}

/**
 * Damage that is not a torn tail: every byte stays, the partition is offline from the damaged
 * batch (appends and reads there fail with STORAGE_ERROR), the batches before it read back
 * exactly, and a clean reopen keeps it offline.
 */
async function checkQuarantined(built: BuiltLog, kept: StoredBatch[], bytesOf: (i: number) => Buffer, damaged: StoredBatch, plan: OpenPlan, where: string): Promise<void> {
  const sizes = logSizes(built);
  for (const open of [plan, { recover: false, recoveryPointOffset: 0 }]) {
    const { log, repairs } = openLog(built.dir, open, built.config);
    const at = `${where}, reopened with ${JSON.stringify(open)}`;
    expect(repairs.join('\n'), `${at}: repairs`).not.toMatch(/truncated|deleted/);
    expect(log.offline?.code, `${at}: offline`).toBe('STORAGE_ERROR');
    expect(logSizes(built), `${at}: every byte kept`).toEqual(sizes);
    for (const [index, batch] of kept.entries()) {
      const result = await log.read(batch.baseOffset, 1);
      expect(result.firstOffset, `${at}: read at ${batch.baseOffset}`).toBe(batch.baseOffset);
      expectSameBytes(result.bytes, bytesOf(index), `${at}: read at ${batch.baseOffset}`);
    }
    await expect(log.read(damaged.baseOffset, 1 << 20), `${at}: read of the damaged batch`).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
    expect(() => log.appendSync(makeBatch()), `${at}: append`).toThrow(/offline/);
    await log.close();
  }
}

function seeds(kind: number): number[] {
  return Array.from({ length: CASES_PER_KIND }, (_, i) => SEED_BASE + kind * 1000 + i);
}

describe('a damaged log reopens as a clean prefix of what was written', () => {
  it.each(seeds(1))('random byte flips in the last segment, seed %i', async (seed) => {
    const random = rng(seed);
    const built = await buildLog(random);
    const expectation = flipLogBytes(built, random, built.segments.length - 1);
    await reopenAndCheck(built, expectation, openPlan(random, built), seed, random);
  });

  it.each(seeds(2))('the last segment cut at a random length, seed %i', async (seed) => {
    const random = rng(seed);
    const built = await buildLog(random);
    const expectation = truncateLastLog(built, random);
    await reopenAndCheck(built, expectation, openPlan(random, built), seed, random);
  });

  it.each(seeds(3))('damaged, truncated, deleted or garbage index files lose nothing, seed %i', async (seed) => {
    const random = rng(seed);
    const built = await buildLog(random);
    const expectation = damageIndexes(built, random);
    await reopenAndCheck(built, expectation, openPlan(random, built), seed, random);
  });

  it.each(seeds(4))('garbage after the last batch, seed %i', async (seed) => {
    const random = rng(seed);
    const built = await buildLog(random);
    const expectation = garbageAfterLastLog(built, random);
    await reopenAndCheck(built, expectation, openPlan(random, built), seed, random);
  });

  it.each(seeds(5))('byte flips in any segment at or after the recovery point, with recovery, seed %i', async (seed) => {
    const random = rng(seed);
    const built = await buildLog(random);
    const plan = openPlan(random, built, true);
    const firstRecovered = Math.max(0, built.segments.findLastIndex((s) => s.baseOffset <= plan.recoveryPointOffset));
    const segment = int(random, firstRecovered, built.segments.length - 1);
    const expectation = flipLogBytes(built, random, segment);
    await reopenAndCheck(built, expectation, plan, seed, random);
  });
});

/**
 * The smallest cases of the damage above that a load-time check of "entries increase" lets
 * through: the .timeindex of a segment that is not re-validated (not the last one, after a clean
 * shutdown) still increases, but no longer tells the truth about the log.
 */
describe('a .timeindex that still increases but lies', () => {
  async function twoSegments(timestampsMs: number[]): Promise<{ dir: string; timeIndex: string }> {
    const dir = tempDir('runnel-corruption-');
    const { log } = openLog(dir, {}, { indexIntervalBytes: 0 });
    for (const timestampMs of timestampsMs) log.appendSync(makeBatch({ timestampMs }));
    log.rollLocked(); // so the damaged segment is not the last one, which is always re-validated
    log.appendSync(makeBatch({ timestampMs: T0_MS + 9_000 }));
    await log.close();
    return { dir, timeIndex: path.join(dir, segmentFileName(0, TIME_INDEX_SUFFIX)) };
  }

  it('cut to fewer whole entries: the segment still answers for its newest timestamp', async () => {
    // Entries (T0+1000, 0), (T0+5000, 1): cut to the first, the segment's max is taken as T0+1000
    // plus the tail after the last offset-index entry (T0+3000), hiding the record at T0+5000.
    const { dir, timeIndex } = await twoSegments([1_000, 5_000, 2_000, 3_000].map((ms) => T0_MS + ms));
    fs.truncateSync(timeIndex, 12);
    const { log } = openLog(dir, {}, { indexIntervalBytes: 0 });
    expect(await offsetForTimestamp(log, T0_MS + 4_000)).toEqual({ offset: 1, timestampMs: T0_MS + 5_000 });
    await log.close();
  });

  it('a relative offset raised past later batches: a lookup does not skip them', async () => {
    // Entries pair with the offset index: (T0+1000, 1), (T0+2000, 2), (T0+3000, 3), each the max
    // of the batches before its offset. The last becomes (T0+3000, 5), past the segment's end,
    // which if trusted would start a lookup for T0+3500 after the batch at offset 3 (T0+4000).
    const { dir, timeIndex } = await twoSegments([1_000, 2_000, 3_000, 4_000].map((ms) => T0_MS + ms));
    const bytes = fs.readFileSync(timeIndex);
    expect(bytes.readUInt32BE(bytes.length - 4)).toBe(3);
    bytes[bytes.length - 1] ^= 0x06;
    fs.writeFileSync(timeIndex, bytes);
    const { log } = openLog(dir, {}, { indexIntervalBytes: 0 });
    expect(await offsetForTimestamp(log, T0_MS + 3_500)).toEqual({ offset: 3, timestampMs: T0_MS + 4_000 });
    await log.close();
  });
});
