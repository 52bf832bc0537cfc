/**
 * Decompression bombs that reach the disk some other way than produce (written before produce
 * walked records, or by a tool) must not inflate where the broker decodes stored batches:
 * ListOffsets by timestamp and compaction (issue 11, finding 4). Both decode through the one
 * bounded decompressor, which refuses a records section whose lz4 frame could expand past the
 * fixed cap before it allocates anything.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunnelError } from '../../src/common/errors.js';
import { Codec, Pos, writeBaseOffset } from '../../src/format/batch-header.js';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import { compactLog } from '../../src/storage/compaction.js';
import { segmentFileName } from '../../src/storage/segment.js';
import { offsetForTimestamp } from '../../src/storage/timestamp-lookup.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch, openLog, tempDir } from './helpers.js';

const BOMB_TIMESTAMP_MS = 1_700_000_000_000;

/** A sealed segment holding only the bomb (offset 0), then an active one with a good batch. */
function logWithBomb(): string {
  const dir = tempDir('runnel-bomb-');
  const bomb = encodeRecordBatch({ records: [{ key: Buffer.from('k'), value: Buffer.alloc(100 * 1024 * 1024), timestampMs: BOMB_TIMESTAMP_MS }], codec: Codec.Lz4 });
  writeBaseOffset(bomb, 0);
  fs.writeFileSync(path.join(dir, segmentFileName(0, '.log')), bomb);
  // Its (empty) indexes, as a roll leaves them: a sealed segment is not re-validated at open.
  fs.writeFileSync(path.join(dir, segmentFileName(0, '.index')), '');
  fs.writeFileSync(path.join(dir, segmentFileName(0, '.timeindex')), '');
  const good = makeBatch({ records: 1, timestampMs: BOMB_TIMESTAMP_MS + 10 });
  writeBaseOffset(good, 1);
  fs.writeFileSync(path.join(dir, segmentFileName(1, '.log')), good);
  return dir;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunnelError);
  return (err as RunnelError).code;
}

describe('storage: decompression bombs on disk', () => {
  it('ListOffsets by timestamp refuses to inflate a bomb: BATCH_TOO_LARGE, and later batches stay reachable', async () => {
    const { log } = openLog(logWithBomb(), {}, { segmentBytes: 4 * 1024 * 1024, maxBatchBytes: 4 * 1024 * 1024 });
    expect(log.logEndOffset).toBe(2);
    expect(await codeOf(offsetForTimestamp(log, BOMB_TIMESTAMP_MS))).toBe('BATCH_TOO_LARGE');
    expect(await offsetForTimestamp(log, BOMB_TIMESTAMP_MS + 5)).toEqual({ offset: 1, timestampMs: BOMB_TIMESTAMP_MS + 10 });
    await log.close();
  });

  it('compaction refuses to inflate a bomb and leaves the segment as it was', async () => {
    const dir = logWithBomb();
    const { log } = openLog(dir, {}, { cleanupPolicy: 'compact', segmentBytes: 4 * 1024 * 1024, maxBatchBytes: 4 * 1024 * 1024 });
    const before = fs.readFileSync(path.join(dir, segmentFileName(0, '.log')));
    expect(await codeOf(compactLog(log, { nowMs: BOMB_TIMESTAMP_MS }))).toBe('BATCH_TOO_LARGE');
    expect(fs.readFileSync(path.join(dir, segmentFileName(0, '.log'))).equals(before)).toBe(true);
    await log.close();
  });
});

describe('storage: recovery runs the same structural checks as produce', () => {
  it('a CRC-valid batch whose records lie, at the tail of the last segment, is cut by recovery like a torn one', async () => {
    const dir = tempDir('runnel-walk-');
    const { log } = openLog(dir);
    await log.append(makeBatch({ records: 2 }));
    await log.close();
    // Appended behind the log's back: a header-consistent batch claiming 2^31-1 records.
    const poison = makeBatch({ records: 1 });
    poison.writeInt32BE(2 ** 31 - 1, Pos.recordCount);
    poison.writeInt32BE(2 ** 31 - 2, Pos.lastOffsetDelta);
    writeBaseOffset(fixCrc(poison), 2);
    fs.appendFileSync(path.join(dir, segmentFileName(0, '.log')), poison);
    const { log: reopened, repairs } = openLog(dir, { recover: true });
    expect(reopened.logEndOffset).toBe(2);
    expect(repairs.join('\n')).toMatch(/record/);
    await reopened.close();
  });
});
