/**
 * DeleteTopics and CreateTopics of one name, interleaved (issue 11, finding 19): the delete
 * removes the name from the registry and then awaits the removal of each partition's
 * directory; a create of the same name that runs meanwhile must end up with its own, fresh,
 * open logs, neither the old topic's data nor logs that the delete then closes. The two calls
 * run against a real broker's domain layer, started in the same turn, so the interleaving is
 * the same every run; afterwards the new topic is produced to and fetched over gRPC.
 */
import { describe, expect, it } from 'vitest';
import { createTopic, deleteTopic } from '../../src/broker/topics.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker } from './helpers.js';

const PARTITIONS = 3;

describe('topics: delete and re-create of one name', () => {
  it('a create that runs while the delete removes the old directories gets fresh, open logs', async () => {
    const { running, clients } = await startTestBroker();
    const broker = running.broker;
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 'r', partitions: PARTITIONS, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    for (let p = 0; p < PARTITIONS; p++) {
      const old = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 'r', partitions: [{ partition: p, records: makeBatch({ tag: `old${p}` }) }] }] });
      expect(old.topics[0].partitions[0].error).toBeNull();
    }

    const deleting = deleteTopic(broker, 'r');
    const recreating = createTopic(broker, 'r', PARTITIONS, {});
    await Promise.all([deleting, recreating]);

    for (let p = 0; p < PARTITIONS; p++) {
      const { log } = broker.partition('r', p);
      expect(log.isClosed, `partition ${p}'s log was closed by the delete`).toBe(false);
      expect(log.logEndOffset, `partition ${p} holds the old topic's records`).toBe(0);
      const answer = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 'r', partitions: [{ partition: p, records: makeBatch({ tag: `new${p}` }) }] }] });
      expect(answer.topics[0].partitions[0].error, `produce to partition ${p}`).toBeNull();
      const fetched = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 'r', partitions: [{ partition: p, fetchOffset: 0, maxBytes: 0 }] }] });
      const got = fetched.topics[0].partitions[0];
      expect(got.error).toBeNull();
      expect(Buffer.from(got.records).includes(Buffer.from(`new${p}`))).toBe(true);
    }
  });
});
