/**
 * Broker start-up against damaged or missing metadata and files (hardening #6, #10): a real
 * broker in this process, stopped, its data directory damaged, started again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRODUCER_STATE_SNAPSHOT_FILE } from '../../src/broker/producer-state.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const SMALL_SEGMENTS = ['log.segmentBytes=2048', 'log.maxBatchBytes=2048', 'log.indexIntervalBytes=256'];

async function createTopic(clients: Clients, name: string, partitions: number): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name, partitions, configs: [] }] });
  expect(res.topics[0].error).toBeNull();
}

async function produce(clients: Clients, topic: string, partition: number, records: Buffer): Promise<any> {
  const res = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition, records }] }] });
  return res.topics[0].partitions[0];
}

async function fetchAt(clients: Clients, topic: string, partition: number, fetchOffset: number): Promise<any> {
  const res = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: 0 }] }] });
  return res.topics[0].partitions[0];
}

describe('broker start with a lost segment (hardening #10)', () => {
  it('starts, keeps serving other partitions, and answers STORAGE_ERROR for the partition with the hole', async () => {
    const first = await startTestBroker({ set: SMALL_SEGMENTS });
    await createTopic(first.clients, 'holes', 2);
    const logs = first.running.broker.logs;
    while (logs.requireLog('holes', 0).segmentCount < 4) expect((await produce(first.clients, 'holes', 0, makeBatch({ records: 3, valueBytes: 100 }))).error).toBeNull();
    const bases = logs.requireLog('holes', 0).segmentBaseOffsets();
    await stopTestBroker(first.running);
    const partitionDir = path.join(first.dataDir, 'holes-0');
    const lost = fs.readdirSync(partitionDir).filter((name) => name.startsWith(String(bases[1]).padStart(20, '0')));
    for (const name of lost) fs.rmSync(path.join(partitionDir, name));
    // As after a crash: no producer-state snapshot, so the broker would replay the whole log.
    fs.rmSync(path.join(partitionDir, PRODUCER_STATE_SNAPSHOT_FILE));

    const second = await startTestBroker({ dataDir: first.dataDir, set: SMALL_SEGMENTS });
    expect(second.running.broker.logs.report.repairs.join('\n')).toMatch(/are missing/);
    expect((await produce(second.clients, 'holes', 0, makeBatch())).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(second.clients, 'holes', 0, bases[1])).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(second.clients, 'holes', 0, 0)).error).toBeNull();
    expect((await produce(second.clients, 'holes', 1, makeBatch())).error).toBeNull();
    // Nothing after the hole was deleted.
    expect(fs.readdirSync(partitionDir).filter((name) => name.endsWith('.log'))).toHaveLength(bases.length - 1);
  });
});
