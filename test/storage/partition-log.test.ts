import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { isRunnelError, type RunnelError } from '../../src/common/errors.js';
import { Codec, Pos, readBaseOffset, readLastOffsetDelta } from '../../src/format/batch-header.js';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { segmentFileName } from '../../src/storage/segment.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { offsetForTimestamp } from '../../src/storage/timestamp-lookup.js';
import { makeBatch, openLog, rng, tempDir } from './helpers.js';

interface Appended {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
}

async function appendMany(log: PartitionLog, count: number, seed: number, extra: { codec?: Codec } = {}): Promise<Appended[]> {
  const random = rng(seed);
  const out: Appended[] = [];
  for (let i = 0; i < count; i++) {
    const batch = makeBatch({ records: 1 + Math.floor(random() * 5), valueBytes: 10 + Math.floor(random() * 300), tag: `s${seed}-${i}`, ...extra });
    const result = await log.append(batch);
    out.push({ baseOffset: result.baseOffset, lastOffset: result.lastOffset, bytes: Buffer.from(batch) });
  }
  return out;
}

function holding(batches: Appended[], offset: number): Appended {
  const found = batches.find((b) => b.baseOffset <= offset && offset <= b.lastOffset);
  if (found === undefined) throw new Error(`no batch holds ${offset}`);
  return found;
}

async function rejection(promise: Promise<unknown>): Promise<RunnelError> {
  try {
    await promise;
  } catch (err) {
    if (isRunnelError(err)) return err;
    throw err;
  }
  throw new Error('expected a RunnelError');
}

function thrown(fn: () => unknown): RunnelError {
  try {
    fn();
  } catch (err) {
    if (isRunnelError(err)) return err;
    throw err;
  }
  throw new Error('expected a RunnelError');
}

describe('PartitionLog append and read', () => {
  it('stamps dense offsets and returns, at every offset, the stored batch holding it, across segments', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 4096, indexIntervalBytes: 300 });
    const batches = await appendMany(log, 300, 7);
    expect(log.segmentCount).toBeGreaterThan(5);
    batches.forEach((b, i) => {
      expect(readBaseOffset(b.bytes)).toBe(b.baseOffset);
      if (i > 0) expect(b.baseOffset).toBe(batches[i - 1].lastOffset + 1);
    });
    for (let offset = 0; offset < log.logEndOffset; offset++) {
      const result = await log.read(offset, 1);
      const expected = holding(batches, offset);
      expect(result.firstOffset).toBe(expected.baseOffset);
      expect(result.bytes.equals(expected.bytes)).toBe(true);
      expect(result.nextOffset).toBe(expected.lastOffset + 1);
    }
    await log.close();
  });

  it('returns whole batches up to maxBytes, always at least one, and nothing at the log end', async () => {
    const { log } = openLog(tempDir());
    const batches = await appendMany(log, 50, 3);
    const total = batches.reduce((n, b) => n + b.bytes.length, 0);
    const all = await log.read(0, total);
    expect(all.bytes.equals(Buffer.concat(batches.map((b) => b.bytes)))).toBe(true);
    const some = await log.read(0, batches[0].bytes.length + batches[1].bytes.length + 5);
    expect(decodeRecordBatches(some.bytes).map((b) => b.baseOffset)).toEqual([0, batches[1].baseOffset]);
    const one = await log.read(batches[10].baseOffset, 1);
    expect(one.bytes.equals(batches[10].bytes)).toBe(true);
    const end = await log.read(log.logEndOffset, 1000);
    expect(end.bytes.length).toBe(0);
    expect(end.nextOffset).toBe(log.logEndOffset);
    await log.close();
  });

  it('refuses offsets outside the log with OFFSET_OUT_OF_RANGE and the valid range', async () => {
    const { log } = openLog(tempDir());
    await appendMany(log, 5, 1);
    const err = await rejection(log.read(log.logEndOffset + 1, 100));
    expect(err.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(err.context).toMatchObject({ logStartOffset: 0, logEndOffset: log.logEndOffset });
    expect((await rejection(log.read(-1, 100))).code).toBe('OFFSET_OUT_OF_RANGE');
    await log.close();
  });

  it('validates every batch before writing and changes nothing on refusal', async () => {
    const { log } = openLog(tempDir(), {}, { segmentBytes: 8192 });
    await appendMany(log, 3, 2);
    const end = log.logEndOffset;
    const badCrc = makeBatch({ records: 2 });
    badCrc[badCrc.length - 1] ^= 0xff;
    expect(thrown(() => log.appendSync(badCrc))).toMatchObject({ code: 'CORRUPT_BATCH', context: { reason: 'crc-mismatch' } });
    const badMagic = makeBatch();
    badMagic[Pos.magic] = 1;
    expect(thrown(() => log.appendSync(badMagic))).toMatchObject({ code: 'CORRUPT_BATCH', context: { reason: 'bad-magic' } });
    const trailing = Buffer.concat([makeBatch(), Buffer.from([1, 2, 3])]);
    expect(thrown(() => log.appendSync(trailing))).toMatchObject({ code: 'CORRUPT_BATCH', context: { reason: 'length-mismatch' } });
    expect(thrown(() => log.appendSync(makeBatch().subarray(0, 40)))).toMatchObject({ code: 'CORRUPT_BATCH', context: { reason: 'short-buffer' } });
    const tooBig = makeBatch({ records: 1, valueBytes: 9000 });
    expect(thrown(() => log.appendSync(tooBig)).code).toBe('BATCH_TOO_LARGE');
    expect(log.logEndOffset).toBe(end);
    expect((await log.append(makeBatch())).baseOffset).toBe(end);
    await log.close();
  });

  it('reopens after a clean close and after a crash with the same content', async () => {
    const dir = tempDir();
    const config = { segmentBytes: 4096, indexIntervalBytes: 256 };
    const { log } = openLog(dir, {}, config);
    const batches = await appendMany(log, 120, 5, { codec: Codec.Lz4 });
    await log.close();
    const { log: clean, repairs } = openLog(dir, {}, config);
    expect(repairs).toEqual([]);
    expect(clean.logEndOffset).toBe(batches.at(-1)!.lastOffset + 1);
    const more = await appendMany(clean, 30, 6);
    clean.closeAbruptly();
    const { log: crashed, repairs: crashRepairs } = openLog(dir, { recover: true }, config);
    expect(crashRepairs).toEqual([]);
    const all = [...batches, ...more];
    for (const b of all) expect((await crashed.read(b.baseOffset, 1)).bytes.equals(b.bytes)).toBe(true);
    await crashed.close();
  });

  it('rebuilds a missing index from the log without losing anything', async () => {
    const dir = tempDir();
    const config = { segmentBytes: 4096, indexIntervalBytes: 128 };
    const { log } = openLog(dir, {}, config);
    const batches = await appendMany(log, 100, 9);
    const bases = log.segmentBaseOffsets();
    await log.close();
    fs.rmSync(path.join(dir, segmentFileName(bases[1], '.index')));
    fs.writeFileSync(path.join(dir, segmentFileName(bases[2], '.timeindex')), Buffer.alloc(7));
    const { log: reopened, repairs } = openLog(dir, {}, config);
    expect(repairs.join('\n')).toMatch(/offset index missing/);
    expect(repairs.join('\n')).toMatch(/time index/);
    for (let offset = 0; offset < reopened.logEndOffset; offset++) {
      expect((await reopened.read(offset, 1)).bytes.equals(holding(batches, offset).bytes)).toBe(true);
    }
    await reopened.close();
  });
});

describe('PartitionLog rolling', () => {
  it('rolls by segmentBytes, keeping every segment within it', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048 });
    await appendMany(log, 100, 4);
    const sizes = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => fs.statSync(path.join(dir, f)).size);
    expect(sizes.length).toBe(log.segmentCount);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(2048);
    expect(log.segmentBaseOffsets()[0]).toBe(0);
    await log.close();
  });
});

describe('PartitionLog time lookups', () => {
  it('finds the first record at or after a time, like a brute-force scan, with out-of-order timestamps', async () => {
    const { log } = openLog(tempDir(), {}, { segmentBytes: 4096, indexIntervalBytes: 200 });
    const random = rng(11);
    const records: { offset: number; timestampMs: number }[] = [];
    let clockMs = 1_000_000;
    for (let i = 0; i < 200; i++) {
      const timestamps = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
        clockMs += Math.floor(random() * 50);
        // One record in ten is late, as producers with skewed clocks send them.
        return random() < 0.1 ? clockMs - Math.floor(random() * 500) : clockMs;
      });
      const { baseOffset } = await log.append(makeBatch({ timestamps }));
      timestamps.forEach((timestampMs, j) => records.push({ offset: baseOffset + j, timestampMs }));
    }
    for (let probe = 999_000; probe <= clockMs + 100; probe += 37) {
      const expected = records.find((r) => r.timestampMs >= probe) ?? null;
      expect(await offsetForTimestamp(log, probe)).toEqual(expected);
    }
    await log.close();
  });
});

describe('PartitionLog retention and deletion', () => {
  it('deletes whole segments older than retentionMs, never readable data in the active one', async () => {
    const clock = new ManualClock(100_000);
    const { log } = openLog(tempDir(), { clock }, { segmentBytes: 2048, retentionMs: 10_000 });
    for (let i = 0; i < 40; i++) await log.append(makeBatch({ timestampMs: 100_000 + i * 100, valueBytes: 100 }));
    const segmentsBefore = log.segmentCount;
    clock.set(100_000 + 2000 + 10_001);
    const deleted = log.applyRetention();
    expect(deleted).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(segmentsBefore - deleted);
    expect(log.logStartOffset).toBe(log.segmentBaseOffsets()[0]);
    expect((await rejection(log.read(0, 100))).code).toBe('OFFSET_OUT_OF_RANGE');
    // Everything newer than the cut survives.
    const first = await log.read(log.logStartOffset, 1);
    expect(first.firstOffset).toBe(log.logStartOffset);
    clock.set(10_000_000);
    log.applyRetention();
    expect(log.logStartOffset).toBe(log.logEndOffset);
    expect((await log.append(makeBatch())).baseOffset).toBe(40);
    await log.close();
  });

  it('deletes the oldest segments while the log exceeds retentionBytes', async () => {
    const { log } = openLog(tempDir(), {}, { segmentBytes: 2048, retentionBytes: 5000 });
    for (let i = 0; i < 60; i++) await log.append(makeBatch({ valueBytes: 100 }));
    expect(log.sizeBytes).toBeGreaterThan(5000);
    log.applyRetention();
    expect(log.sizeBytes).toBeGreaterThanOrEqual(5000 - 2048);
    expect(log.sizeBytes - fs.statSync(path.join(log.dir, segmentFileName(log.segmentBaseOffsets()[0], '.log'))).size).toBeLessThan(5000);
    await log.close();
  });

  it('moves the log start with deleteRecordsBefore and keeps it across a reopen via the caller', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048 });
    const batches = await appendMany(log, 60, 8);
    const cut = batches[30].baseOffset + 1;
    expect(log.deleteRecordsBefore(cut)).toBe(cut);
    expect(log.logStartOffset).toBe(cut);
    expect(log.segmentBaseOffsets()[0]).toBeLessThanOrEqual(cut);
    expect((await rejection(log.read(cut - 1, 10))).code).toBe('OFFSET_OUT_OF_RANGE');
    expect((await log.read(cut, 1)).firstOffset).toBe(batches[30].baseOffset);
    expect(thrown(() => log.deleteRecordsBefore(log.logEndOffset + 1)).code).toBe('OFFSET_OUT_OF_RANGE');
    expect(log.deleteRecordsBefore(5)).toBe(cut);
    await log.close();
    const { log: reopened } = openLog(dir, { logStartOffset: cut });
    expect(reopened.logStartOffset).toBe(cut);
    await reopened.close();
  });

  it('truncates to a batch boundary across segments and appends again from there', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048 });
    const batches = await appendMany(log, 80, 12);
    const target = batches[25];
    await log.truncateTo(target.baseOffset + 1); // mid-batch: the whole batch goes, as in Kafka
    expect(log.logEndOffset).toBe(target.baseOffset);
    expect(log.segmentBaseOffsets().every((b) => b <= target.baseOffset)).toBe(true);
    for (const b of batches.slice(0, 25)) expect((await log.read(b.baseOffset, 1)).bytes.equals(b.bytes)).toBe(true);
    expect((await log.append(makeBatch())).baseOffset).toBe(target.baseOffset);
    await log.close();
    const { log: reopened, repairs } = openLog(dir, { recover: true });
    expect(repairs).toEqual([]);
    expect(reopened.logEndOffset).toBe(target.baseOffset + 1);
    await reopened.close();
  });
});

describe('PartitionLog durability', () => {
  it('group-commits: 16 concurrent durable appends share at most two fsyncs', async () => {
    const { log } = openLog(tempDir());
    const results = await Promise.all(Array.from({ length: 16 }, () => log.append(makeBatch(), { durable: true })));
    expect(results.map((r) => r.baseOffset)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(log.fsyncCount).toBeGreaterThanOrEqual(1);
    expect(log.fsyncCount).toBeLessThanOrEqual(2);
    expect(log.recoveryPoint).toBe(16);
    await log.close();
  });

  it('after a crash, fsyncs the sealed segments that recovery kept before the recovery point passes them', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048 });
    await appendMany(log, 40, 3);
    const sealed = log.segmentCount - 1;
    expect(sealed).toBeGreaterThan(2);
    log.closeAbruptly(); // nothing was fsync'd: it may all be in the page cache only
    const { log: recovered } = openLog(dir, { recover: true, recoveryPointOffset: 0 }, { segmentBytes: 2048 });
    expect(recovered.recoveryPoint).toBe(0);
    expect(recovered.unsyncedSegmentCount).toBe(sealed);
    await recovered.flush();
    expect(recovered.unsyncedSegmentCount).toBe(0);
    expect(recovered.recoveryPoint).toBe(recovered.logEndOffset);
    await recovered.close();
  });

  it('a flush makes everything appended durable and moves the recovery point', async () => {
    const { log } = openLog(tempDir(), {}, { segmentBytes: 2048 });
    await appendMany(log, 40, 1);
    expect(log.recoveryPoint).toBe(0);
    await log.flush();
    expect(log.recoveryPoint).toBe(log.logEndOffset);
    await log.close();
  });

  it('surfaces a full disk as DISK_FULL, refuses further appends and keeps acknowledged data readable', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048 });
    const batches = await appendMany(log, 12, 2);
    // The next segment's file is /dev/full, where every write fails with ENOSPC: a real full
    // disk as the kernel reports it, not a mock.
    const nextBase = log.logEndOffset;
    fs.symlinkSync('/dev/full', path.join(dir, segmentFileName(nextBase, '.log')));
    log.rollLocked();
    const err = await rejection(log.append(makeBatch({ valueBytes: 200 }), { durable: true }));
    expect(err.code).toBe('DISK_FULL');
    expect(err.context).toMatchObject({ topic: 't', partition: 0, errno: 'ENOSPC' });
    expect(err.retriable).toBe(true);
    expect(log.logEndOffset).toBe(nextBase);
    expect(thrown(() => log.appendSync(makeBatch())).code).toBe('DISK_FULL');
    for (const b of batches) expect((await log.read(b.baseOffset, 1)).bytes.equals(b.bytes)).toBe(true);
    expect(log.failed?.code).toBe('DISK_FULL');
    log.closeAbruptly();
  });
});

describe('PartitionLog random operations against a model', () => {
  it('matches an in-memory array of batches under seeded append / read / truncate / roll / delete / reopen', async () => {
    for (const seed of [21, 22, 23]) {
      const random = rng(seed);
      const dir = tempDir();
      const config = { segmentBytes: 1024 + Math.floor(random() * 4096), indexIntervalBytes: Math.floor(random() * 600) };
      let { log } = openLog(dir, {}, config);
      let model: Appended[] = [];
      let logStart = 0;
      for (let step = 0; step < 400; step++) {
        const op = random();
        if (op < 0.55) {
          const batch = makeBatch({ records: 1 + Math.floor(random() * 4), valueBytes: Math.floor(random() * 200), tag: `${seed}-${step}` });
          const r = await log.append(batch, { durable: random() < 0.2 });
          model.push({ baseOffset: r.baseOffset, lastOffset: r.lastOffset, bytes: Buffer.from(batch) });
        } else if (op < 0.8 && model.length > 0) {
          const visible = model.filter((b) => b.lastOffset >= logStart);
          if (visible.length === 0) continue;
          const b = visible[Math.floor(random() * visible.length)];
          const offset = Math.max(logStart, b.baseOffset + Math.floor(random() * (b.lastOffset - b.baseOffset + 1)));
          const got = await log.read(offset, 1 + Math.floor(random() * 2000));
          const batches = decodeRecordBatches(got.bytes);
          expect(got.firstOffset).toBe(b.baseOffset);
          const expected = model.slice(model.indexOf(b), model.indexOf(b) + batches.length);
          expect(got.bytes.equals(Buffer.concat(expected.map((e) => e.bytes)))).toBe(true);
        } else if (op < 0.85 && model.length > 0) {
          const b = model[Math.floor(random() * model.length)];
          if (b.baseOffset < logStart) continue;
          await log.truncateTo(b.baseOffset);
          model = model.slice(0, model.indexOf(b));
          logStart = Math.min(logStart, log.logEndOffset);
        } else if (op < 0.9) {
          if (!log.segmentBaseOffsets().includes(log.logEndOffset)) log.rollLocked();
        } else if (op < 0.93 && model.length > 0) {
          const b = model[Math.floor(random() * model.length)];
          logStart = log.deleteRecordsBefore(Math.max(logStart, b.baseOffset));
        } else {
          const crash = random() < 0.5;
          if (crash) log.closeAbruptly();
          else await log.close();
          ({ log } = openLog(dir, { recover: crash, logStartOffset: logStart }, config));
        }
        const expectedEnd = model.length === 0 ? log.logEndOffset : model.at(-1)!.lastOffset + 1;
        expect(log.logEndOffset).toBe(expectedEnd);
        expect(log.logStartOffset).toBe(logStart);
      }
      await log.close();
      for (const b of model.filter((m) => m.baseOffset >= logStart)) {
        expect(readLastOffsetDelta(b.bytes)).toBe(b.lastOffset - b.baseOffset);
      }
    }
  });
});
