/**
 * A produce request that appends a batch and then fails on a later one (an out-of-order
 * sequence) must still wake the readers parked at the partition's end (issue 11, finding 19):
 * the appended batch is in the log, so a parked fetch must not sleep through it until its
 * max_wait_ms ends. The wake-up is synchronous with the append, so by the time the produce
 * answer reaches the client the parked fetch's registration is gone: no timing involved.
 */
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import { startTestBroker } from './helpers.js';

function idempotentBatch(producerId: number, baseSequence: number, tag: string): Buffer {
  return encodeRecordBatch({ records: [{ key: null, value: Buffer.from(tag), timestampMs: Date.now() }], producerId, producerEpoch: 0, baseSequence });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('produce: wake-ups', () => {
  it('an appended batch followed by a sequence error in the same request wakes the parked fetch', async () => {
    const { running, clients } = await startTestBroker({ set: ['limits.fetchWaitMsMax=30000'] });
    const broker = running.broker;
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    const init = await clients.call('broker', 'initProducerId', { transactionalId: '', producerId: -1, producerEpoch: -1 });
    expect(init.error).toBeNull();

    const parked = clients.call('broker', 'fetch', { maxWaitMs: 30_000, minBytes: 1, maxBytes: 0, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] }, 40_000);
    const deadline = Date.now() + 5_000;
    while (broker.parkedFetches !== 1) {
      if (Date.now() > deadline) throw new Error('the fetch did not park within 5 s');
      await sleep(5);
    }
    expect(broker.activity.waiterCount).toBe(1);

    // Sequence 0 is appended; sequence 5 is out of order and fails the partition.
    const records = Buffer.concat([idempotentBatch(init.producerId, 0, 'kept'), idempotentBatch(init.producerId, 5, 'gap')]);
    const answer = await clients.call('broker', 'produce', { acks: 'ACKS_LEADER', topics: [{ topic: 't', partitions: [{ partition: 0, records }] }] });
    expect(answer.topics[0].partitions[0].error?.code).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(broker.partition('t', 0).log.logEndOffset).toBe(1);

    expect(broker.activity.waiterCount, 'the parked fetch is still registered: the append did not wake it').toBe(0);
    const fetched = await parked;
    expect(fetched.topics[0].partitions[0].records.length).toBeGreaterThan(0);
  });
});
