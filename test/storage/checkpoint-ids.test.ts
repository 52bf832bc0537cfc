/**
 * Hardening #7: checkpoint entries belong to one topic incarnation (topic id). A topic deleted
 * and re-created under the same name, then a crash before the periodic checkpoint, must not get
 * the old incarnation's log start offset or recovery point.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, readCheckpointSync } from '../../src/storage/checkpoints.js';
import { LogManager } from '../../src/storage/log-manager.js';
import { makeBatch, tempDir } from './helpers.js';

const smallLogs = { segmentBytes: 4096, maxBatchBytes: 4096, indexIntervalBytes: 256, retentionMs: -1 };

function open(dataDir: string): LogManager {
  return LogManager.open({ dataDir, background: false, defaultConfig: smallLogs });
}

describe('checkpoints keyed by topic id (hardening #7)', () => {
  it('delete, re-create, acknowledge durable records, crash: the new log keeps every record, with no stale log start applied', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    const old = manager.createLog('t', 0, undefined, 'incarnation-1');
    for (let i = 0; i < 10; i++) await old.append(makeBatch({ tag: `old-${i}` }), { durable: true });
    expect(manager.deleteRecords('t', 0, 6)).toBe(6); // writes the log-start checkpoint: t 0 6
    await manager.deleteLog('t', 0);

    const reborn = manager.createLog('t', 0, undefined, 'incarnation-2');
    for (let i = 0; i < 8; i++) await reborn.append(makeBatch({ tag: `new-${i}` }), { durable: true });
    manager.closeAbruptly(); // a crash before the periodic checkpoint

    const again = open(dataDir);
    const log = again.requireLog('t', 0);
    expect(log.logStartOffset).toBe(0);
    expect(log.logEndOffset).toBe(8);
    const read = await log.read(0, 1 << 20);
    expect(read.firstOffset).toBe(0);
    again.closeAbruptly();
  });

  it('checkpoints are rewritten when a log is deleted and when one is created, each entry with its topic id', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    const log = manager.createLog('t', 0, undefined, 'incarnation-1');
    await log.append(makeBatch(), { durable: true });
    manager.deleteRecords('t', 0, 1);
    await manager.deleteLog('t', 0);
    const afterDelete = readCheckpointSync(path.join(dataDir, LOG_START_CHECKPOINT));
    expect([...afterDelete.offsets.keys()]).toEqual([]);

    manager.createLog('u', 2, undefined, 'incarnation-9');
    for (const file of [LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT]) {
      const text = fs.readFileSync(path.join(dataDir, file), 'utf8');
      expect(text).toMatch(/^u 2 0 incarnation-9$/m);
    }
    manager.closeAbruptly();
  });

  it('an old-format (version 0) file loads safely: its entries apply only to logs from before partition.metadata', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    for (const topic of ['legacy', 'stamped']) {
      const log = manager.createLog(topic, 0, undefined, `id-${topic}`);
      for (let i = 0; i < 5; i++) await log.append(makeBatch(), { durable: true });
    }
    manager.closeAbruptly();
    fs.rmSync(path.join(dataDir, 'legacy-0', 'partition.metadata'));
    const oldFormat = '0\n2\nlegacy 0 3\nstamped 0 3\n';
    fs.writeFileSync(path.join(dataDir, LOG_START_CHECKPOINT), oldFormat);
    fs.writeFileSync(path.join(dataDir, RECOVERY_POINT_CHECKPOINT), '0\n2\nlegacy 0 5\nstamped 0 5\n');

    const again = open(dataDir);
    expect(again.requireLog('legacy', 0).logStartOffset).toBe(3);
    // A name-only entry cannot prove it belongs to this incarnation: not applied, and reported.
    expect(again.requireLog('stamped', 0).logStartOffset).toBe(0);
    expect(again.report.repairs.join('\n')).toMatch(/stamped-0.*ignored/);
    again.closeAbruptly();
  });
});
