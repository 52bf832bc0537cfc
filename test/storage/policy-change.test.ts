/**
 * Hardening #9: a log compacted under `cleanupPolicy: compact` and then switched to `delete`
 * keeps every record compaction left, through a crash (recovery) and a clean reopen: the
 * compacted segments are recovered with the rules of compacted data (batches may skip offsets,
 * segments may end before the next one starts), whatever the log's current policy.
 */
import { describe, expect, it } from 'vitest';
import { compactLog } from '../../src/storage/compaction.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import fs from 'node:fs';
import path from 'node:path';
import { COMPACTED_SUFFIX } from '../../src/storage/segment.js';
import { logConfig, makeBatch, openLog, readRecords, tempDir } from './helpers.js';

const SMALL = { segmentBytes: 2048, indexIntervalBytes: 200, deleteRetentionMs: 1000 };
const T_MS = 9_000_000;

async function readAll(log: PartitionLog): Promise<{ offset: number; value: string }[]> {
  return (await readRecords(log)).map((r) => ({ offset: r.offset, value: r.value?.toString() ?? '' }));
}

/**
 * A compacted log whose sealed segments lost records inside batches (records removed, batches
 * kept) and whole batches at their ends (a gap to the next segment), then closed as `close`
 * says (cleanly, or as a crash leaves it).
 */
async function compactedLog(dir: string, close: 'clean' | 'crash'): Promise<{ records: { offset: number; value: string }[]; end: number }> {
  const { log } = openLog(dir, {}, { ...SMALL, cleanupPolicy: 'compact' });
  // Batches of three records: "hot" is rewritten by every batch, so compaction removes it
  // inside batches; each segment ends with "tail-N" batches overwritten later (whole batches go).
  for (let i = 0; log.segmentCount < 5; i++) {
    const keys = i % 4 === 3 ? ['tail', 'tail', 'tail'] : ['hot', `k${i}`, 'hot'];
    await log.append(makeBatch({ keys, timestampMs: T_MS, tag: `b${i}` }));
  }
  await log.append(makeBatch({ keys: ['tail', 'hot', 'last'], timestampMs: T_MS, tag: 'newest' }));
  const result = await compactLog(log, { nowMs: T_MS });
  expect(result.segmentsRewritten).toBeGreaterThan(0);
  const records = await readAll(log);
  const end = log.logEndOffset;
  // The precondition of the finding: records skip offsets now.
  expect(records.length).toBeLessThan(end - log.logStartOffset);
  if (close === 'clean') await log.close();
  else log.closeAbruptly();
  return { records, end };
}

describe('compact, then delete (hardening #9)', () => {
  for (const close of ['crash', 'clean'] as const) {
    it(`a ${close} reopen under cleanupPolicy delete keeps every record compaction left`, async () => {
      const dir = tempDir();
      const { records, end } = await compactedLog(dir, close);
      const { log, repairs } = openLog(dir, { recover: close === 'crash', recoveryPointOffset: 0 }, { ...SMALL, cleanupPolicy: 'delete' });
      expect(repairs.filter((r) => /truncated|deleted|missing/.test(r))).toEqual([]);
      expect(log.offline).toBeNull();
      expect(log.logEndOffset).toBe(end);
      expect(await readAll(log)).toEqual(records);
      // New appends are dense again, and the log reopens after another crash with everything.
      const { baseOffset } = await log.append(makeBatch({ records: 2, tag: 'after' }), { durable: true });
      expect(baseOffset).toBe(end);
      const after = await readAll(log);
      log.closeAbruptly();
      const { log: again, repairs: second } = openLog(dir, { recover: true, recoveryPointOffset: 0 }, { ...SMALL, cleanupPolicy: 'delete' });
      expect(second.filter((r) => /truncated|deleted|missing/.test(r))).toEqual([]);
      expect(await readAll(again)).toEqual(after);
      await again.close();
    });
  }

  it('segments compacted before markers existed keep their records when the policy is switched to delete on a running log', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { ...SMALL, cleanupPolicy: 'compact' });
    for (let i = 0; log.segmentCount < 4; i++) await log.append(makeBatch({ keys: ['hot', `k${i}`, 'hot'], timestampMs: T_MS, tag: `b${i}` }));
    await compactLog(log, { nowMs: T_MS });
    // As an older version left them: compacted, without markers.
    for (const name of fs.readdirSync(dir).filter((n) => n.endsWith(COMPACTED_SUFFIX))) fs.rmSync(path.join(dir, name));
    const records = await readAll(log);
    const end = log.logEndOffset;
    log.updateConfig(logConfig({ ...SMALL, cleanupPolicy: 'delete' }));
    log.closeAbruptly();

    const { log: again, repairs } = openLog(dir, { recover: true, recoveryPointOffset: 0 }, { ...SMALL, cleanupPolicy: 'delete' });
    expect(repairs.filter((r) => /truncated|deleted|missing|offline/.test(r))).toEqual([]);
    expect(again.offline).toBeNull();
    expect(again.logEndOffset).toBe(end);
    expect(await readAll(again)).toEqual(records);
    await again.close();
  });
});
