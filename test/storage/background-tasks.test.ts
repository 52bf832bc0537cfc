/**
 * Background tasks run independently (issue 11, finding 13): each has its own busy flag, so a
 * long compaction does not skip the periodic flush that bounds the data at risk for `leader`
 * acks (flushIntervalMs). Real files, real timers: a compacted log with enough sealed data that
 * its compaction spans many flush intervals, and a plain log appended to while it runs; the
 * plain log's recovery point must reach its end before the compaction finishes.
 */
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import { LogManager } from '../../src/storage/log-manager.js';
import { makeBatch, tempDir } from './helpers.js';

const COMPACTED = { cleanupPolicy: 'compact' as const, segmentBytes: 512 * 1024, maxBatchBytes: 64 * 1024 };
const HOUR_MS = 60 * 60 * 1000;

function keyedBatch(first: number, count: number): Buffer {
  return encodeRecordBatch({ records: Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`key-${(first + i) % 50_000}`), value: Buffer.alloc(40, 1), timestampMs: 1_700_000_000_000 })) });
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

describe('storage: background tasks', () => {
  it('the periodic flush keeps running while a compaction is slow', async () => {
    const dataDir = tempDir();
    const topicConfig = (topic: string): object | undefined => (topic === 'compacted' ? COMPACTED : undefined);
    const setup = LogManager.open({ dataDir, background: false, topicConfig });
    const compacted = setup.createLog('compacted', 0);
    setup.createLog('plain', 0);
    for (let i = 0; compacted.segmentCount < 17; i++) compacted.appendSync(keyedBatch(i * 100, 100));
    await setup.close();

    const manager = LogManager.open({ dataDir, topicConfig, flushIntervalMs: 5, compactionIntervalMs: 5, retentionCheckIntervalMs: HOUR_MS, checkpointIntervalMs: HOUR_MS });
    try {
      const plain = manager.requireLog('plain', 0);
      const deadline = Date.now() + 30_000;
      const bounded = (what: string): void => {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      };
      while (manager.backgroundState('compaction')?.running !== true) {
        bounded('the compaction to start');
        await tick();
      }
      plain.appendSync(makeBatch({ tag: 'during compaction' }));
      const end = plain.logEndOffset;
      let flushedDuringCompaction = false;
      while (manager.backgroundState('compaction')?.running === true) {
        if (plain.recoveryPoint >= end) flushedDuringCompaction = true;
        bounded('the compaction to finish');
        await tick();
      }
      const compactions = manager.backgroundState('compaction')!;
      expect(compactions.failures).toBe(0);
      expect(flushedDuringCompaction, `flush rounds: ${manager.backgroundState('flush')?.runs}`).toBe(true);
    } finally {
      await manager.close();
    }
  });
});
