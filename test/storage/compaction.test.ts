import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Codec } from '../../src/format/batch-header.js';
import type { DecodedRecord } from '../../src/format/record-batch.js';
import { compactLog } from '../../src/storage/compaction.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { segmentFileName } from '../../src/storage/segment.js';
import { makeBatch, openLog, readRecords, rng, tempDir } from './helpers.js';

const compacted = { cleanupPolicy: 'compact' as const, segmentBytes: 2048, indexIntervalBytes: 200, deleteRetentionMs: 1000 };

const readAll = readRecords;

interface Written {
  offset: number;
  key: string | null;
  value: string | null;
  timestampMs: number;
}

async function writeKeys(log: PartitionLog, count: number, seed: number, timestampMs: number, codec = Codec.None): Promise<Written[]> {
  const random = rng(seed);
  const written: Written[] = [];
  for (let i = 0; i < count; i++) {
    const size = 1 + Math.floor(random() * 3);
    const keys = Array.from({ length: size }, () => (random() < 0.05 ? null : `key-${Math.floor(random() * 12)}`));
    const values = keys.map((k, j) => (k !== null && random() < 0.1 ? null : Buffer.from(`value-${i}-${j}-${'p'.repeat(40)}`)));
    const { baseOffset } = await log.append(makeBatch({ keys, values, timestampMs, codec }));
    keys.forEach((key, j) => written.push({ offset: baseOffset + j, key, value: values[j]?.toString() ?? null, timestampMs }));
  }
  return written;
}

/** What compaction must leave: for the sealed range, the newest record per key plus keyless ones. */
function expectedAfterCompaction(written: Written[], sealedEnd: number, dropTombstones: boolean): Written[] {
  const newest = new Map<string, number>();
  for (const w of written) if (w.key !== null && w.offset < sealedEnd) newest.set(w.key, w.offset);
  return written.filter((w) => {
    if (w.offset >= sealedEnd || w.key === null) return true;
    if (newest.get(w.key) !== w.offset) return false;
    return !(dropTombstones && w.value === null);
  });
}

function simplify(records: DecodedRecord[]): Written[] {
  return records.map((r) => ({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null, timestampMs: r.timestampMs }));
}

describe('compaction', () => {
  for (const codec of [Codec.None, Codec.Lz4]) {
    it(`keeps the newest record per key in sealed segments, with original offsets (codec ${codec})`, async () => {
      const dir = tempDir();
      const { log } = openLog(dir, {}, compacted);
      const written = await writeKeys(log, 150, 31 + codec, 5_000_000, codec);
      const sealedEnd = log.segmentBaseOffsets().at(-1)!;
      const sizeBefore = log.sizeBytes;
      const result = await compactLog(log, { nowMs: 5_000_000 });
      expect(result.segmentsRewritten).toBeGreaterThan(0);
      expect(result.recordsRemoved).toBeGreaterThan(0);
      expect(log.sizeBytes).toBeLessThan(sizeBefore);
      const expected = expectedAfterCompaction(written, sealedEnd, false);
      expect(simplify(await readAll(log))).toEqual(expected);
      // Every surviving offset is still readable on its own, and a compacted-away one leads to the next.
      for (const w of expected) expect((await log.read(w.offset, 1)).bytes.length).toBeGreaterThan(0);
      await log.close();
      const { log: reopened, repairs } = openLog(dir, { recover: true }, compacted);
      expect(repairs).toEqual([]);
      expect(simplify(await readAll(reopened))).toEqual(expected);
      await reopened.close();
    });
  }

  it('drops tombstones only once they are older than deleteRetentionMs', async () => {
    const { log } = openLog(tempDir(), {}, compacted);
    const written = await writeKeys(log, 150, 5, 1_000_000);
    const sealedEnd = log.segmentBaseOffsets().at(-1)!;
    expect(written.some((w) => w.value === null && w.offset < sealedEnd)).toBe(true);
    await compactLog(log, { nowMs: 1_000_500 });
    expect(simplify(await readAll(log))).toEqual(expectedAfterCompaction(written, sealedEnd, false));
    await compactLog(log, { nowMs: 1_002_000 });
    expect(simplify(await readAll(log))).toEqual(expectedAfterCompaction(written, sealedEnd, true));
    await log.close();
  });

  it('never touches the active segment and is a no-op when nothing can go', async () => {
    const { log } = openLog(tempDir(), {}, compacted);
    await log.append(makeBatch({ keys: ['a', 'a', 'a'] }));
    const before = await readAll(log);
    const result = await compactLog(log, { nowMs: Date.now() });
    expect(result.segmentsRewritten).toBe(0);
    expect(await readAll(log)).toEqual(before);
    await log.close();
  });

  it('finishes an interrupted swap and discards an unfinished cleaned file at open', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, compacted);
    const written = await writeKeys(log, 120, 77, 9_000_000);
    const sealedEnd = log.segmentBaseOffsets().at(-1)!;
    const firstBase = log.segmentBaseOffsets()[0];
    await compactLog(log, { nowMs: 9_000_000 });
    await log.close();
    // Pretend a crash left a complete swap file of the first segment and a half-written cleaned one.
    const logFile = path.join(dir, segmentFileName(firstBase, '.log'));
    fs.renameSync(logFile, `${logFile}.swap`);
    fs.writeFileSync(path.join(dir, segmentFileName(log.segmentBaseOffsets()[1], '.log.cleaned')), 'partial');
    const { log: reopened, repairs } = openLog(dir, {}, compacted);
    expect(repairs.join('\n')).toMatch(/interrupted compaction swap/);
    expect(repairs.join('\n')).toMatch(/interrupted operation; deleted/);
    expect(simplify(await readAll(reopened))).toEqual(expectedAfterCompaction(written, sealedEnd, false));
    await reopened.close();
  });
});
