/**
 * Hardening #11: damage found in a log never deletes acknowledged data. A bad batch in a middle
 * segment, or below the recovery point, keeps every byte and takes the partition offline
 * (STORAGE_ERROR) until the damage is repaired; only the torn tail of the last segment beyond
 * the recovery point is still cut. A background scrub finds bit rot in sealed segments of a
 * running log manager.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCH_HEADER_BYTES } from '../../src/format/batch-header.js';
import { LogManager } from '../../src/storage/log-manager.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { LOG_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { caught, makeBatch, openLog, tempDir } from './helpers.js';

const SMALL_SEGMENTS = { segmentBytes: 2048, maxBatchBytes: 2048, indexIntervalBytes: 256, retentionMs: -1 };
/** Bound of every poll for a background event. */
const WAIT_MS = 10_000;

async function fillSegments(log: PartitionLog, count: number): Promise<void> {
  while (log.segmentCount < count) await log.append(makeBatch({ records: 3, valueBytes: 100 }), { durable: true });
}

/** Name and size of every file of the directory: what "no byte deleted" compares. */
function filesOf(dir: string): Record<string, number> {
  const files: Record<string, number> = {};
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith(LOG_SUFFIX))) files[name] = fs.statSync(path.join(dir, name)).size;
  return files;
}

/** Flips one byte inside the records of the segment's first batch (the CRC no longer matches). */
function flipFirstBatch(dir: string, base: number): () => void {
  const file = path.join(dir, segmentFileName(base, LOG_SUFFIX));
  const position = BATCH_HEADER_BYTES + 20;
  const fd = fs.openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, position);
  fs.writeSync(fd, Buffer.from([byte[0] ^ 0x5a]), 0, 1, position);
  fs.closeSync(fd);
  // Restores the byte: the segment repaired, as from a backup.
  return () => {
    const again = fs.openSync(file, 'r+');
    fs.writeSync(again, byte, 0, 1, position);
    fs.closeSync(again);
  };
}

async function expectOffline(log: PartitionLog, damagedOffset: number): Promise<void> {
  expect(log.offline?.code).toBe('STORAGE_ERROR');
  expect((await caught(() => log.appendSync(makeBatch()))).code).toBe('STORAGE_ERROR');
  expect((await caught(() => log.read(damagedOffset, 1 << 20))).code).toBe('STORAGE_ERROR');
  if (damagedOffset > 0) {
    const below = await log.read(0, 1 << 20);
    expect(below.bytes.length).toBeGreaterThan(0);
    expect(below.nextOffset).toBeLessThanOrEqual(damagedOffset);
  }
}

describe('damage is quarantined, never deleted (hardening #11)', () => {
  it('a bad batch in a middle segment keeps every later segment and takes the partition offline until repaired', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, SMALL_SEGMENTS);
    await fillSegments(log, 5);
    const bases = log.segmentBaseOffsets();
    const end = log.logEndOffset;
    log.closeAbruptly();
    const restore = flipFirstBatch(dir, bases[2]);
    const before = filesOf(dir);

    const { log: damaged, repairs } = openLog(dir, { recover: true, recoveryPointOffset: 0 }, SMALL_SEGMENTS);
    expect(repairs.join('\n')).toMatch(new RegExp(`${segmentFileName(bases[2], LOG_SUFFIX)}.*offline`));
    expect(repairs.join('\n')).not.toMatch(/deleted/);
    expect(filesOf(dir)).toEqual(before);
    expect(damaged.logEndOffset).toBe(end);
    await expectOffline(damaged, bases[2]);
    await damaged.close();

    // Still offline after a clean restart: sealed segments are not re-validated then.
    const { log: again } = openLog(dir, {}, SMALL_SEGMENTS);
    await expectOffline(again, bases[2]);
    await again.close();
    expect(filesOf(dir)).toEqual(before);

    // The segment restored: the partition comes back with everything.
    restore();
    const { log: repaired, repairs: after } = openLog(dir, {}, SMALL_SEGMENTS);
    expect(after.join('\n')).not.toMatch(/truncated|deleted/);
    expect(repaired.offline).toBeNull();
    expect((await repaired.read(bases[2], 1 << 20)).firstOffset).toBe(bases[2]);
    expect((await repaired.append(makeBatch())).baseOffset).toBe(end);
    await repaired.close();
  });

  it('a bad batch in the last segment below the recovery point is bit rot, not a torn write: kept, offline', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, SMALL_SEGMENTS);
    await fillSegments(log, 3);
    await log.append(makeBatch({ records: 3, valueBytes: 100 }), { durable: true });
    const last = log.segmentBaseOffsets().at(-1)!;
    const recoveryPointOffset = log.recoveryPoint;
    log.closeAbruptly();
    flipFirstBatch(dir, last);
    const before = filesOf(dir);

    const { log: damaged, repairs } = openLog(dir, { recover: true, recoveryPointOffset }, SMALL_SEGMENTS);
    expect(repairs.join('\n')).not.toMatch(/truncated/);
    expect(filesOf(dir)).toEqual(before);
    await expectOffline(damaged, last);
    damaged.closeAbruptly();
  });

  it('the torn tail of the last segment beyond the recovery point is still cut', async () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, SMALL_SEGMENTS);
    await fillSegments(log, 2);
    const recoveryPointOffset = log.recoveryPoint;
    const end = log.logEndOffset;
    const last = log.segmentBaseOffsets().at(-1)!;
    log.closeAbruptly();
    fs.appendFileSync(path.join(dir, segmentFileName(last, LOG_SUFFIX)), makeBatch({ valueBytes: 100 }).subarray(0, 50));

    const { log: recovered, repairs } = openLog(dir, { recover: true, recoveryPointOffset }, SMALL_SEGMENTS);
    expect(repairs.join('\n')).toMatch(/truncated 50 bytes/);
    expect(recovered.offline).toBeNull();
    expect((await recovered.append(makeBatch())).baseOffset).toBe(end);
    await recovered.close();
  });

  it('the background scrub finds bit rot in a sealed segment below the recovery point and takes the partition offline', async () => {
    const dataDir = tempDir();
    const scrubbing = { scrubBytesPerSecond: 64 * 1024 * 1024, scrubIntervalMs: 10 };
    const manager = LogManager.open({ dataDir, defaultConfig: SMALL_SEGMENTS, ...scrubbing });
    const log = manager.createLog('rot', 0);
    const healthy = manager.createLog('rot', 1);
    await fillSegments(log, 4);
    await fillSegments(healthy, 4);
    const damagedBase = log.segmentBaseOffsets()[1];
    expect(log.recoveryPoint).toBeGreaterThan(damagedBase);
    const before = filesOf(log.dir);
    flipFirstBatch(log.dir, damagedBase);

    const deadline = Date.now() + WAIT_MS;
    while (log.offline === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await expectOffline(log, damagedBase);
    expect(log.offline?.message).toMatch(new RegExp(segmentFileName(damagedBase, LOG_SUFFIX)));
    expect(healthy.offline).toBeNull();
    expect(filesOf(log.dir)).toEqual(before);
    await manager.close();

    // A clean restart does not bring the damaged partition back.
    const again = LogManager.open({ dataDir, defaultConfig: SMALL_SEGMENTS, background: false });
    expect(again.requireLog('rot', 0).offline?.code).toBe('STORAGE_ERROR');
    expect(again.requireLog('rot', 1).offline).toBeNull();
    await again.close();
  });
});
