/**
 * Topic names Runnel owns (issue 11, finding 19): `__consumer_offsets`, `__transaction_state`,
 * `__cluster_metadata` and every `__runnel_` name are refused to clients with INTERNAL_TOPIC,
 * for create, auto-create on produce, produce, delete, delete-records, alter and add
 * partitions. Nothing else is: Kafka tools create their own `__` topics (Debezium's
 * `__debezium-heartbeat.<server>`), and those are ordinary topics, listed as such. The group
 * coordinator still creates `__consumer_offsets` itself.
 */
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

const RESERVED = ['__consumer_offsets', '__transaction_state', '__cluster_metadata', '__runnel_metrics', '__runnel_'];
const ORDINARY = ['__debezium-heartbeat.db1', '__x', '_single', '__runnel', '__runnelx', '__consumer_offsets2'];

function produce(clients: Clients, topic: string): Promise<any> {
  return clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition: 0, records: makeBatch() }] }] });
}

describe('topics: reserved names', () => {
  it('refuses exactly the reserved names, to every client operation; other "__" names are ordinary topics', async () => {
    const { clients } = await startTestBroker({ set: ['autoCreateTopics=true'] });
    const creates = await clients.call('admin', 'createTopics', { topics: [...RESERVED, ...ORDINARY].map((name) => ({ name, partitions: 1, configs: [] })) });
    const codes = Object.fromEntries(creates.topics.map((t: any) => [t.name, t.error?.code ?? null]));
    for (const name of RESERVED) expect(codes[name], name).toBe('INTERNAL_TOPIC');
    for (const name of ORDINARY) expect(codes[name], name).toBeNull();

    for (const name of RESERVED) {
      expect((await produce(clients, name)).topics[0].partitions[0].error?.code, `produce to ${name}`).toBe('INTERNAL_TOPIC');
      const deleted = await clients.call('admin', 'deleteTopics', { names: [name] });
      expect(deleted.topics[0].error?.code, `delete ${name}`).toBe('INTERNAL_TOPIC');
      const grown = await clients.call('admin', 'createPartitions', { topics: [{ name, totalPartitions: 20 }] });
      expect(grown.topics[0].error?.code, `add partitions to ${name}`).toBe('INTERNAL_TOPIC');
    }
    for (const name of ORDINARY) expect((await produce(clients, name)).topics[0].partitions[0].error, `produce to ${name}`).toBeNull();
    // The coordinator creates its own topic (at the first commit).
    const committed = await clients.call('groups', 'commitOffsets', { groupId: 'g', memberId: '', memberEpoch: -1, offsets: [{ topic: '__x', partition: 0, offset: 1, metadata: '' }] });
    expect(committed.results[0].error).toBeNull();

    // Listed without includeInternal: the ordinary "__" topics, not the coordinator's; with it, both.
    const listed = await clients.call('admin', 'listTopics', { includeInternal: false });
    expect(listed.topics.map((t: any) => t.name).sort()).toEqual([...ORDINARY].sort());
    const all = await clients.call('admin', 'listTopics', { includeInternal: true });
    expect(all.topics.filter((t: any) => t.internal).map((t: any) => t.name)).toEqual(['__consumer_offsets']);

    const deleted = await clients.call('admin', 'deleteTopics', { names: ['__x'] });
    expect(deleted.topics[0].error).toBeNull();
  });
});
