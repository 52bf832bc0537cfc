/**
 * Hardening #10: a missing middle segment is found at open (reported, partition offline, no file
 * deleted), and a retired segment's deferred delete removes only its own renamed files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { caught, makeBatch, openLog, tempDir } from './helpers.js';

const SMALL_SEGMENTS = { segmentBytes: 2048, indexIntervalBytes: 256 };

/** A closed log of at least four segments; returns its segment base offsets and log end offset. */
async function writeSegments(dir: string): Promise<{ bases: number[]; end: number }> {
  const { log } = openLog(dir, {}, SMALL_SEGMENTS);
  while (log.segmentCount < 4) await log.append(makeBatch({ records: 3, valueBytes: 100 }));
  const result = { bases: log.segmentBaseOffsets(), end: log.logEndOffset };
  await log.close();
  return result;
}

/** Moves a segment's files from `from` to `to` (a lost segment, or one restored from a backup). */
function moveSegmentFiles(from: string, to: string, base: number): void {
  for (const suffix of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) {
    const name = segmentFileName(base, suffix);
    if (fs.existsSync(path.join(from, name))) fs.renameSync(path.join(from, name), path.join(to, name));
  }
}

describe('gaps between segments (hardening #10)', () => {
  for (const recover of [false, true]) {
    it(`a missing middle segment is reported and takes the partition offline, keeping every file (recover: ${recover})`, async () => {
      const dir = tempDir();
      const { bases, end } = await writeSegments(dir);
      const missing = bases[1];
      const backup = tempDir();
      moveSegmentFiles(dir, backup, missing);
      const filesBefore = fs.readdirSync(dir).sort();

      const { log, repairs } = openLog(dir, { recover, recoveryPointOffset: 0 }, SMALL_SEGMENTS);
      expect(repairs.join('\n')).toMatch(new RegExp(`offsets ${missing} to ${bases[2] - 1} are missing`));
      // Nothing after the gap was deleted or hidden from the directory.
      expect(fs.readdirSync(dir).sort()).toEqual(filesBefore);
      expect(log.segmentBaseOffsets()).toEqual(bases.filter((b) => b !== missing));
      expect(log.logEndOffset).toBe(end);
      // Offline: no append, and no read that could skip the hole; reads below it still work.
      expect((await caught(() => log.appendSync(makeBatch()))).code).toBe('STORAGE_ERROR');
      expect((await caught(() => log.read(missing, 1 << 20))).code).toBe('STORAGE_ERROR');
      expect((await caught(() => log.read(bases[2], 1 << 20))).code).toBe('STORAGE_ERROR');
      const below = await log.read(0, 1 << 20);
      expect(below.bytes.length).toBeGreaterThan(0);
      expect(below.nextOffset).toBeLessThanOrEqual(missing);
      await log.close();

      // Restoring the segment (from a backup, later from a replica) brings the partition back.
      moveSegmentFiles(backup, dir, missing);
      const { log: restored, repairs: none } = openLog(dir, {}, SMALL_SEGMENTS);
      expect(none.join('\n')).not.toMatch(/missing/);
      expect((await restored.read(missing, 1 << 20)).firstOffset).toBe(missing);
      expect((await restored.append(makeBatch())).baseOffset).toBe(end);
      await restored.close();
    });
  }

  it('a retired segment deletes only its renamed files, never a new segment that took its name', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, SMALL_SEGMENTS);
    while (log.segmentCount < 3) await log.append(makeBatch({ records: 3, valueBytes: 100 }));
    const [first, second] = log.segmentBaseOffsets();
    const doomed = log.closedSegments()[1];
    expect(doomed.baseOffset).toBe(second);
    doomed.acquire(); // a read in flight pins it
    // Cut the last batch of the first segment: every later segment is retired, `doomed` too.
    await log.truncateTo(second - 3);
    expect(log.segmentBaseOffsets()).toEqual([first]);
    // Equal batches refill the first segment to the same size: the roll makes a new segment
    // with the retired one's base offset, while the retired one's delete is still pending.
    while (log.segmentCount < 2) await log.append(makeBatch({ records: 3, valueBytes: 100 }));
    expect(log.segmentBaseOffsets()).toEqual([first, second]);
    await log.append(makeBatch({ records: 3, valueBytes: 100, tag: 'after' }));
    const end = log.logEndOffset;
    doomed.release(); // the deferred delete runs now
    const newFile = path.join(dir, segmentFileName(second, LOG_SUFFIX));
    expect(fs.existsSync(newFile)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.deleted'))).toEqual([]);
    await log.close();
    const { log: again, repairs } = openLog(dir, { recover: true }, SMALL_SEGMENTS);
    expect(repairs).toEqual([]);
    expect(again.logEndOffset).toBe(end);
    const read = await again.read(second, 1 << 20);
    expect(read.firstOffset).toBe(second);
    await again.close();
  });
});
