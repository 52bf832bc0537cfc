/**
 * Timestamps in the storage layer (issue 11, finding 1): segments roll by `segmentMs` on the
 * log's own clock, never on client timestamps (a producer could otherwise roll one segment per
 * batch, or never); a batch with an int64 timestamp past 2^53 (stored before produce refused
 * them) is read as a clamped safe integer, so rolls, index writes and the clean close go on.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { Pos } from '../../src/format/batch-header.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch, openLog, tempDir } from './helpers.js';

const DAY_MS = 86_400_000;

describe('storage: timestamps', () => {
  it('rolls by segmentMs on the broker clock: client timestamps a day apart do not roll, the clock does', async () => {
    const clock = new ManualClock(1_000_000);
    const { log } = openLog(tempDir(), { clock }, { segmentMs: 1000 });
    for (let i = 0; i < 5; i++) await log.append(makeBatch({ timestampMs: 1_000_000 + i * DAY_MS }));
    // Nor does one far in the past.
    await log.append(makeBatch({ timestampMs: 1 }));
    expect(log.segmentCount).toBe(1);
    clock.advance(999);
    await log.append(makeBatch({ timestampMs: 5 }));
    expect(log.segmentCount).toBe(1);
    clock.advance(2);
    await log.append(makeBatch({ timestampMs: 5 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 7]);
    // The new segment's age starts at its first append.
    clock.advance(1000);
    await log.append(makeBatch({ timestampMs: 5 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 7]);
    clock.advance(1);
    await log.append(makeBatch({ timestampMs: 5 }));
    expect(log.segmentBaseOffsets()).toEqual([0, 7, 9]);
    await log.close();
  });

  it('an int64 timestamp past 2^53 on disk is clamped: indexes persist, rolls and close succeed, reopen is clean', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 2048, maxBatchBytes: 2048, indexIntervalBytes: 0 });
    const extreme = makeBatch({ records: 1, timestampMs: 0 });
    extreme.writeBigInt64BE(2n ** 63n - 1n, Pos.baseTimestamp);
    extreme.writeBigInt64BE(2n ** 63n - 1n, Pos.maxTimestamp);
    await log.append(fixCrc(extreme));
    for (let i = 0; i < 40; i++) await log.append(makeBatch({ records: 1, valueBytes: 100 }));
    expect(log.segmentCount).toBeGreaterThan(1);
    await log.flush();
    await log.close();
    const { log: reopened, repairs } = openLog(dir, {}, { segmentBytes: 2048, maxBatchBytes: 2048, indexIntervalBytes: 0 });
    expect(repairs).toEqual([]);
    expect(reopened.logEndOffset).toBe(41);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.timeindex')).length).toBe(reopened.segmentCount);
    await reopened.close();
  });
});
