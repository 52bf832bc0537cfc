/**
 * The background scrub's bounds (hardening #11): it reads at most `bytesPerSecond` times the
 * time since its pass started plus one chunk (or one batch), and it finds damage anywhere in a
 * sealed segment, not only in the first batch.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { Scrubber } from '../../src/storage/scrub.js';
import { makeBatch, openLog, tempDir } from './helpers.js';

const SMALL_SEGMENTS = { segmentBytes: 4096, maxBatchBytes: 4096, indexIntervalBytes: 256, retentionMs: -1 };
const WAIT_MS = 20_000;

async function until(done: () => boolean): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!done() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('the scrub', () => {
  it('never reads faster than its rate allows, plus one chunk', async () => {
    const { log } = openLog(tempDir(), {}, SMALL_SEGMENTS);
    while (log.segmentCount < 12) await log.append(makeBatch({ records: 4, valueBytes: 200 }), { durable: true });
    const bytesPerSecond = 32 * 1024;
    const chunkBytes = 1024;
    const startedMs = performance.now();
    // intervalMs 1: passes follow each other at once, so idle time between them must buy no burst.
    const scrubber = new Scrubber({ bytesPerSecond, intervalMs: 1, chunkBytes, logs: () => [log], logger: silentLogger });
    await until(() => scrubber.bytesScrubbed >= 64 * 1024);
    const elapsedMs = performance.now() - startedMs;
    const bytes = scrubber.bytesScrubbed;
    await scrubber.stop();
    expect(bytes).toBeGreaterThanOrEqual(64 * 1024);
    // Slack: the bucket's one chunk, and the read in flight (a chunk, or a batch < 1 KiB here).
    expect(bytes).toBeLessThanOrEqual((bytesPerSecond * elapsedMs) / 1000 + 2 * chunkBytes);
    expect(log.offline).toBeNull();
    await log.close();
  });

  it('finds a flipped byte in the last batch of a sealed segment', async () => {
    const { log } = openLog(tempDir(), {}, SMALL_SEGMENTS);
    while (log.segmentCount < 3) await log.append(makeBatch({ records: 4, valueBytes: 200 }), { durable: true });
    const sealed = log.closedSegments()[1];
    const fd = fs.openSync(sealed.logFile, 'r+');
    fs.writeSync(fd, Buffer.from([0x42]), 0, 1, sealed.sizeBytes - 3);
    fs.closeSync(fd);
    const scrubber = new Scrubber({ bytesPerSecond: 1 << 30, intervalMs: 1, chunkBytes: 1024, logs: () => [log], logger: silentLogger });
    await until(() => log.offline !== null);
    await scrubber.stop();
    expect(log.offline?.code).toBe('STORAGE_ERROR');
    expect(log.offline?.message).toContain(sealed.logFile);
    expect(scrubber.damagedSegments).toBe(1);
    await log.close();
  });
});
