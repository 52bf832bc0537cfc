import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { isRunnelError, type RunnelError } from '../../src/common/errors.js';
import { readCheckpointSync } from '../../src/storage/checkpoints.js';
import { CLEAN_SHUTDOWN_FILE, LOCK_FILE, LogManager } from '../../src/storage/log-manager.js';
import { makeBatch, tempDir } from './helpers.js';

const smallLogs = { segmentBytes: 4096, maxBatchBytes: 4096, indexIntervalBytes: 256, retentionMs: -1 };

function open(dataDir: string, extra: Partial<Parameters<typeof LogManager.open>[0]> = {}): LogManager {
  return LogManager.open({ dataDir, background: false, defaultConfig: smallLogs, ...extra });
}

function errorOf(fn: () => unknown): RunnelError | null {
  try {
    fn();
  } catch (err) {
    if (isRunnelError(err)) return err;
    throw err;
  }
  return null;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRunnelError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

describe('LogManager', () => {
  it('creates logs, finds them again after a clean shutdown, and writes the checkpoints and marker', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    expect(manager.report).toMatchObject({ cleanShutdown: true, partitions: 0 }); // a new directory has nothing to recover
    for (const partition of [0, 1, 2]) {
      const log = manager.createLog('orders.v1', partition);
      for (let i = 0; i <= partition; i++) await log.append(makeBatch({ records: 2 }));
    }
    manager.createLog('_internal-x', 0);
    await manager.close();
    expect(fs.existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(true);
    // The lock file stays (an unlinked lock file could be locked twice); the lock itself is released.
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true);
    const recovery = readCheckpointSync(path.join(dataDir, 'recovery-point-offset-checkpoint'));
    expect(recovery.problem).toBeNull();
    expect(Object.fromEntries(recovery.offsets)).toEqual({ 'orders.v1-0': 2, 'orders.v1-1': 4, 'orders.v1-2': 6, '_internal-x-0': 0 });

    const again = open(dataDir);
    expect(again.report).toEqual({ cleanShutdown: true, partitions: 4, repairs: [] });
    expect(fs.existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(false);
    expect(again.requireLog('orders.v1', 2).logEndOffset).toBe(6);
    expect(again.allLogs().map((l) => `${l.topic}-${l.partition}`).sort()).toEqual(['_internal-x-0', 'orders.v1-0', 'orders.v1-1', 'orders.v1-2']);
    await again.close();
  });

  it('recovers every log after a crash (no marker) and reports it', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    const log = manager.createLog('t', 0);
    for (let i = 0; i < 30; i++) await log.append(makeBatch({ valueBytes: 200 }));
    await manager.flushAll();
    for (let i = 0; i < 5; i++) await log.append(makeBatch({ valueBytes: 200 }));
    const end = log.logEndOffset;
    manager.closeAbruptly();
    // A torn write at the end of the active segment, as a power cut could leave it.
    const active = fs.readdirSync(path.join(dataDir, 't-0')).filter((f) => f.endsWith('.log')).sort().at(-1)!;
    fs.appendFileSync(path.join(dataDir, 't-0', active), makeBatch({ valueBytes: 100 }).subarray(0, 50));
    const again = open(dataDir);
    expect(again.report.cleanShutdown).toBe(false);
    expect(again.report.repairs.join('\n')).toMatch(/short-buffer.*truncated 50 bytes/);
    expect(again.requireLog('t', 0).logEndOffset).toBe(end);
    await again.close();
  });

  it('validates topic names and partitions as Kafka does', () => {
    const manager = open(tempDir());
    expect(codeOf(() => manager.createLog('', 0))).toBe('INVALID_TOPIC_NAME');
    expect(codeOf(() => manager.createLog('.', 0))).toBe('INVALID_TOPIC_NAME');
    expect(codeOf(() => manager.createLog('..', 0))).toBe('INVALID_TOPIC_NAME');
    expect(codeOf(() => manager.createLog('a/b', 0))).toBe('INVALID_TOPIC_NAME');
    expect(codeOf(() => manager.createLog('x'.repeat(250), 0))).toBe('INVALID_TOPIC_NAME');
    expect(codeOf(() => manager.createLog('x'.repeat(249), 0))).toBe('no error');
    expect(codeOf(() => manager.createLog('ok', -1))).toBe('UNKNOWN_PARTITION');
    expect(codeOf(() => manager.createLog('ok', 1.5))).toBe('UNKNOWN_PARTITION');
    expect(codeOf(() => manager.requireLog('missing', 0))).toBe('UNKNOWN_PARTITION');
    manager.closeAbruptly();
  });

  it('refuses a data directory locked by another open manager, even in this process, and opens it once that one crashed', () => {
    const dataDir = tempDir();
    const first = open(dataDir);
    // A PID file names this very process here: only a real lock can refuse the second open.
    const refused = errorOf(() => open(dataDir));
    expect(refused?.code).toBe('STORAGE_ERROR');
    expect(refused?.message).toMatch(new RegExp(`data directory ${dataDir} is locked by another process.*pid ${process.pid}`));
    first.closeAbruptly(); // as a crash: the kernel drops the lock, the file stays
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true);
    const second = open(dataDir);
    second.closeAbruptly();
  });

  it('refuses a directory whose lock another process holds, whatever the lock file says, until that process ends', async () => {
    const dataDir = tempDir();
    const lockFile = path.join(dataDir, LOCK_FILE);
    // Another process (flock(1) from util-linux) holds the lock; the file is empty, as after a
    // crash right after the lock was taken.
    const holder = spawn('flock', ['--exclusive', lockFile, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const locked = await new Promise<string>((resolve) => holder.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    expect(locked.trim()).toBe('locked');
    expect(errorOf(() => open(dataDir))?.message).toMatch(/is locked by another process.*owner unknown/);
    const ended = new Promise((resolve) => holder.once('close', resolve));
    holder.stdin.end(); // cat exits, flock with it, and the lock is released
    await ended;
    const manager = open(dataDir);
    manager.closeAbruptly();
  });

  it('answers STORAGE_ERROR naming the lock file when it cannot be opened', () => {
    const dataDir = tempDir();
    fs.mkdirSync(path.join(dataDir, LOCK_FILE)); // EISDIR, as EACCES or EROFS would be for a non-root broker
    const err = errorOf(() => open(dataDir));
    expect(err?.code).toBe('STORAGE_ERROR');
    expect(err?.message).toContain(`lock ${path.join(dataDir, LOCK_FILE)}`);
  });

  it('takes over a lock file left by an owner that is gone, whatever pid, host or boot it names', () => {
    const dataDir = tempDir();
    // PID 1 is alive in every PID namespace, so a PID file naming it would block forever.
    for (const stale of ['1\n', `${process.pid}\n`, '{"pid":1,"hostname":"elsewhere","bootId":"x"}\n', 'garbage']) {
      fs.writeFileSync(path.join(dataDir, LOCK_FILE), stale);
      const manager = open(dataDir);
      expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toContain(`"pid":${process.pid}`);
      manager.closeAbruptly();
    }
  });

  it('deletes a log by renaming its directory first, and finishes an interrupted deletion at open', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    await manager.createLog('gone', 0).append(makeBatch());
    await manager.deleteLog('gone', 0);
    expect(manager.getLog('gone', 0)).toBeUndefined();
    expect(fs.readdirSync(dataDir).filter((f) => f.startsWith('gone'))).toEqual([]);
    await manager.close();
    fs.mkdirSync(path.join(dataDir, 'half.abcd1234-delete'));
    fs.writeFileSync(path.join(dataDir, 'half.abcd1234-delete', '00000000000000000000.log'), 'x');
    const again = open(dataDir);
    expect(again.report.repairs.join('\n')).toMatch(/deletion finished/);
    expect(fs.existsSync(path.join(dataDir, 'half.abcd1234-delete'))).toBe(false);
    await again.close();
  });

  it('persists delete-records at once and runs retention with the checkpoint', async () => {
    const dataDir = tempDir();
    const clock = new ManualClock(1_000_000);
    const manager = open(dataDir, { clock, defaultConfig: { ...smallLogs, retentionMs: 60_000 } });
    const log = manager.createLog('r', 0);
    for (let i = 0; i < 60; i++) await log.append(makeBatch({ valueBytes: 150, timestampMs: 1_000_000 + i }));
    expect(manager.deleteRecords('r', 0, 10)).toBe(10);
    const starts = readCheckpointSync(path.join(dataDir, 'log-start-offset-checkpoint'));
    expect(starts.offsets.get('r-0')).toBe(10);
    clock.advance(120_000);
    expect(manager.runRetention()).toBeGreaterThan(0);
    expect(readCheckpointSync(path.join(dataDir, 'log-start-offset-checkpoint')).offsets.get('r-0')).toBe(60);
    manager.closeAbruptly();
    const again = open(dataDir, { clock });
    expect(again.requireLog('r', 0).logStartOffset).toBe(60);
    await again.close();
  });

  it('ignores a damaged checkpoint (recovering from offset 0) instead of failing to start', async () => {
    const dataDir = tempDir();
    const manager = open(dataDir);
    await manager.createLog('c', 0).append(makeBatch());
    manager.closeAbruptly();
    fs.writeFileSync(path.join(dataDir, 'recovery-point-offset-checkpoint'), '0\n7\ngarbage');
    const again = open(dataDir);
    expect(again.report.repairs.join('\n')).toMatch(/malformed header/);
    expect(again.requireLog('c', 0).logEndOffset).toBe(1);
    await again.close();
  });

  it('flushes on flushIntervalMs in the background', async () => {
    const dataDir = tempDir();
    const manager = LogManager.open({ dataDir, defaultConfig: smallLogs, flushIntervalMs: 20 });
    const log = manager.createLog('f', 0);
    await log.append(makeBatch());
    const deadline = Date.now() + 10_000;
    while (log.recoveryPoint < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(log.recoveryPoint).toBe(1);
    await manager.close();
  });
});
