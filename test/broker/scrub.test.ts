/**
 * Hardening #11 in a running broker: the background scrub (`scrubBytesPerSecond`) finds bit rot
 * in a sealed segment, takes that partition offline (STORAGE_ERROR for produce and for fetches
 * at or after the damage), counts it in `runnel_scrub_damaged_segments_total`, and deletes
 * nothing; the other partitions are served as usual.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCH_HEADER_BYTES } from '../../src/format/batch-header.js';
import { LOG_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

const SETTINGS = ['log.segmentBytes=2048', 'log.maxBatchBytes=2048', 'log.indexIntervalBytes=256', 'scrubBytesPerSecond=67108864', 'scrubIntervalMs=10'];
const WAIT_MS = 10_000;

async function produce(clients: Clients, partition: number, records: Buffer): Promise<any> {
  const res = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 'scrubbed', partitions: [{ partition, records }] }] });
  return res.topics[0].partitions[0];
}

async function fetchAt(clients: Clients, partition: number, fetchOffset: number): Promise<any> {
  const res = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 'scrubbed', partitions: [{ partition, fetchOffset, maxBytes: 0 }] }] });
  return res.topics[0].partitions[0];
}

describe('background scrub (hardening #11)', () => {
  it('finds bit rot in a sealed segment of a running broker, takes only that partition offline and counts it', async () => {
    const { running, clients } = await startTestBroker({ set: SETTINGS });
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 'scrubbed', partitions: 2, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    const log = running.broker.logs.requireLog('scrubbed', 0);
    while (log.segmentCount < 4) expect((await produce(clients, 0, makeBatch({ records: 3, valueBytes: 100 }))).error).toBeNull();
    const damagedBase = log.segmentBaseOffsets()[1];
    const file = path.join(log.dir, segmentFileName(damagedBase, LOG_SUFFIX));
    const sizeBytes = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, BATCH_HEADER_BYTES + 10);
    fs.closeSync(fd);

    const deadline = Date.now() + WAIT_MS;
    while (log.offline === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.offline?.code).toBe('STORAGE_ERROR');
    expect((await produce(clients, 0, makeBatch())).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(clients, 0, damagedBase)).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(clients, 0, 0)).error).toBeNull();
    expect((await produce(clients, 1, makeBatch())).error).toBeNull();
    expect(fs.statSync(file).size).toBe(sizeBytes);
    const metrics = await running.broker.metrics.registry.metrics();
    expect(metrics).toMatch(/^runnel_scrub_damaged_segments_total 1$/m);
    expect(metrics).toMatch(/^runnel_scrub_bytes_total [1-9]\d*$/m);
  });
});
