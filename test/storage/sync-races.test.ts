/**
 * A flush must not fsync a file that retention closed meanwhile. Since each background task has
 * its own busy flag, retention can delete (and close) a segment while the flush's fdatasync of it
 * waits in libuv's thread pool; that fdatasync then fails with EBADF (or syncs whatever file
 * reused the descriptor), and the sticky error takes the whole partition out of service.
 *
 * Deterministic: the thread pool's 4 threads are held by opens of FIFOs that have no writer yet,
 * so the flush's fdatasync waits in the queue while retention runs; then writers release them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { makeBatch, openLog, tempDir } from './helpers.js';

const THREAD_POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/** Holds every libuv pool thread until the returned function is called. */
function holdThreadPool(): () => Promise<void> {
  const dir = tempDir('runnel-fifo-');
  const fifos = Array.from({ length: THREAD_POOL_SIZE }, (_, i) => path.join(dir, `fifo-${i}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  // An open for reading blocks its pool thread until a writer opens the FIFO.
  const readers = fifos.map((fifo) => fs.promises.open(fifo, 'r'));
  return async () => {
    const writers = fifos.map((fifo) => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    for (const handle of await Promise.all(readers)) await handle.close();
    for (const fd of writers) fs.closeSync(fd);
  };
}

describe('storage: flush against retention', () => {
  it('retention deleting segments while their fdatasync waits does not fail the log', async () => {
    const clock = new ManualClock(1_000_000);
    const { log } = openLog(tempDir(), { clock }, { segmentBytes: 1024, retentionMs: 1000 });
    for (let i = 0; i < 12; i++) log.appendSync(makeBatch({ records: 1, valueBytes: 200, timestampMs: 1_000_000 }));
    expect(log.segmentCount).toBeGreaterThan(3);
    const release = holdThreadPool();
    // One turn for the FIFO opens to reach the pool, and for the sync loop to queue its fdatasyncs.
    const flushed = log.flush();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(10_000);
    expect(log.applyRetention()).toBeGreaterThan(0);
    await release();
    await flushed;
    expect(log.failed).toBeNull();
    log.appendSync(makeBatch({ records: 1, timestampMs: clock.nowMs() }));
    await log.close();
  });
});
