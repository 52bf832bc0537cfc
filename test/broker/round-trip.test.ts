import { describe, expect, it } from 'vitest';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker } from './helpers.js';

describe('broker round trip', () => {
  it('creates a topic, produces and fetches', async () => {
    const { clients } = await startTestBroker();
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 'orders', partitions: 3, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    const produced = await clients.call('broker', 'produce', {
      correlationId: 7,
      acks: 'ACKS_ALL',
      topics: [{ topic: 'orders', partitions: [{ partition: 1, records: makeBatch({ records: 3, tag: 'a' }) }] }],
    });
    expect(produced.correlationId).toBe(7);
    expect(produced.topics[0].partitions[0]).toMatchObject({ partition: 1, error: null, baseOffset: 0, lastOffset: 2, duplicate: false });
    const fetched = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 'orders', partitions: [{ partition: 1, fetchOffset: 0, maxBytes: 0 }] }] });
    const p = fetched.topics[0].partitions[0];
    expect(p.error).toBeNull();
    expect(p.nextOffset).toBe(3);
    const batches = decodeRecordBatches(p.records);
    expect(batches[0].records.map((r) => r.value?.toString())).toEqual(['a-0-xxxxxxxxxxxx', 'a-1-xxxxxxxxxxxx', 'a-2-xxxxxxxxxxxx']);
  });
});
