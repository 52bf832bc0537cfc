/**
 * Hardening #8: every new directory entry is made durable before the call that made it returns:
 * a new partition's directory (with its first segment) and its entry in the data directory,
 * `meta/` and `meta/topics/` in their parents. A missing directory fsync is invisible without a
 * power cut, so these tests watch the fsyncs through file-io's observer and record what each
 * directory held when it was fsynced.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { ProducerIdAllocator } from '../../src/broker/producer-ids.js';
import { TopicRegistry } from '../../src/broker/topic-registry.js';
import { observeDirectoryFsyncs } from '../../src/storage/file-io.js';
import { resolveLogConfig } from '../../src/storage/log-config.js';
import { LogManager } from '../../src/storage/log-manager.js';
import { LOG_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { tempDir } from './helpers.js';

/** Each directory fsync seen, with the names the directory held at that moment. */
function watchDirectoryFsyncs(): { dir: string; names: string[] }[] {
  const seen: { dir: string; names: string[] }[] = [];
  observeDirectoryFsyncs((dir) => seen.push({ dir: path.resolve(dir), names: fs.readdirSync(dir) }));
  return seen;
}

/** True when `dir` was fsynced while it held `name`: that entry is durable. */
function durableEntry(seen: { dir: string; names: string[] }[], dir: string, name: string): boolean {
  return seen.some((s) => s.dir === path.resolve(dir) && s.names.includes(name));
}

afterEach(() => observeDirectoryFsyncs(null));

describe('directory fsyncs (hardening #8)', () => {
  it('a new partition: its directory holds a durable first segment, and the data directory a durable entry for it, before createLog returns', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const seen = watchDirectoryFsyncs();
    const manager = LogManager.open({ dataDir, background: false });
    expect(durableEntry(seen, path.dirname(dataDir), 'data')).toBe(true);
    seen.length = 0;
    const log = manager.createLog('orders', 3);
    expect(durableEntry(seen, path.join(dataDir, 'orders-3'), segmentFileName(0, LOG_SUFFIX))).toBe(true);
    expect(durableEntry(seen, dataDir, 'orders-3')).toBe(true);
    expect(log.logEndOffset).toBe(0);
    await manager.close();
  });

  it('meta/ and meta/topics/ are durable in their parents once the topic registry has loaded', () => {
    const dataDir = tempDir();
    const seen = watchDirectoryFsyncs();
    const limits = { maxTopics: 10, maxPartitionsPerTopic: 10, maxPartitionsPerBroker: 100 };
    TopicRegistry.loadSync(dataDir, resolveLogConfig({}), limits, silentLogger);
    expect(durableEntry(seen, dataDir, 'meta')).toBe(true);
    expect(durableEntry(seen, path.join(dataDir, 'meta'), 'topics')).toBe(true);
  });

  it('meta/ is durable in the data directory once the producer-id allocator has started', () => {
    const dataDir = tempDir();
    const seen = watchDirectoryFsyncs();
    const allocator = new ProducerIdAllocator(dataDir);
    expect(durableEntry(seen, dataDir, 'meta')).toBe(true);
    expect(allocator.allocate()).toBe(1);
  });
});
