/**
 * The Groups service end to end over gRPC, with a plain proto-loader client: joins, heartbeats
 * that long-poll, incremental revoke-then-assign, fencing, commits and their durability across
 * restarts, describe/list/delete/reset, and the internal offsets topic closed to clients.
 */
import { describe, expect, it } from 'vitest';
import { startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const NO_DELAY = ['groups.initialAssignmentDelayMs=0'];

interface Hb {
  error: { code: string; message: string } | null;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topic: string; partitions: number[] }[];
  pendingPartitions: { topic: string; partitions: number[] }[];
}

function heartbeat(clients: Clients, request: Record<string, unknown>): Promise<Hb> {
  return clients.call('groups', 'heartbeat', { groupId: 'g', subscribedTopics: ['t'], ...request }, 20_000);
}

async function createTopic(clients: Clients, name: string, partitions: number): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name, partitions, configs: [] }] });
  expect(res.topics[0].error).toBeNull();
}

const partitionsOf = (hb: Hb, topic = 't'): number[] => hb.assignment.find((a) => a.topic === topic)?.partitions ?? [];

describe('Groups: membership', () => {
  it('gives a lone member every partition, then moves half to a second member only after the first revokes them', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 4);
    const a = await heartbeat(clients, { memberId: 'a', memberEpoch: 0 });
    expect(a.error).toBeNull();
    expect(partitionsOf(a)).toEqual([0, 1, 2, 3]);
    // b joins: its target is half, but nothing is free yet.
    const b = await heartbeat(clients, { memberId: 'b', memberEpoch: 0 });
    expect(partitionsOf(b)).toEqual([]);
    expect(b.pendingPartitions.flatMap((p) => p.partitions)).toHaveLength(2);
    // a's next heartbeat (at its epoch) hears of the revocation at once, despite max_wait_ms.
    const owned = [{ topic: 't', partitions: [0, 1, 2, 3] }];
    const a2 = await heartbeat(clients, { memberId: 'a', memberEpoch: a.memberEpoch, ownedPartitions: owned, maxWaitMs: 5000 });
    expect(a2.memberEpoch).toBeGreaterThan(a.memberEpoch);
    const kept = partitionsOf(a2);
    expect(kept).toHaveLength(2);
    // b waits (parked) until a confirms; then it gets the rest.
    const bWaits = heartbeat(clients, { memberId: 'b', memberEpoch: b.memberEpoch, maxWaitMs: 5000 });
    const a3 = await heartbeat(clients, { memberId: 'a', memberEpoch: a2.memberEpoch, ownedPartitions: [{ topic: 't', partitions: kept }] });
    expect(a3.error).toBeNull();
    const b2 = await bWaits;
    expect(b2.memberEpoch).toBeGreaterThan(b.memberEpoch);
    expect([...kept, ...partitionsOf(b2)].sort()).toEqual([0, 1, 2, 3]);
  });

  it('fences stale epochs and unknown members, and forgets a member that leaves', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    const a = await heartbeat(clients, { memberId: 'a', memberEpoch: 0 });
    expect((await heartbeat(clients, { memberId: 'a', memberEpoch: a.memberEpoch + 5 })).error?.code).toBe('FENCED_MEMBER_EPOCH');
    expect((await heartbeat(clients, { memberId: 'zz', memberEpoch: 3 })).error?.code).toBe('UNKNOWN_MEMBER_ID');
    const left = await heartbeat(clients, { memberId: 'a', memberEpoch: -1 });
    expect(left).toMatchObject({ error: null, memberEpoch: -1 });
    expect((await heartbeat(clients, { memberId: 'a', memberEpoch: a.memberEpoch })).error?.code).toBe('UNKNOWN_MEMBER_ID');
  });
});

describe('Groups: committed offsets', () => {
  it('stores commits durably, refuses stale epochs and foreign partitions, and keeps them across a restart', async () => {
    const first = await startTestBroker({ set: NO_DELAY });
    await createTopic(first.clients, 't', 2);
    const a = await heartbeat(first.clients, { memberId: 'a', memberEpoch: 0 });
    const commit = (memberEpoch: number, partition: number, offset: number) =>
      first.clients.call('groups', 'commitOffsets', { groupId: 'g', memberId: 'a', memberEpoch, offsets: [{ topic: 't', partition, offset, metadata: 'm' }] });
    expect(await commit(a.memberEpoch, 0, 7)).toEqual({ error: null, results: [{ topic: 't', partition: 0, error: null }] });
    expect((await commit(a.memberEpoch + 3, 0, 9)).error.code).toBe('STALE_MEMBER_EPOCH');
    // A second member takes partition 1 once a releases it: a's commit for 1 is then refused.
    const b = await heartbeat(first.clients, { memberId: 'b', memberEpoch: 0 });
    const a2 = await heartbeat(first.clients, { memberId: 'a', memberEpoch: a.memberEpoch, ownedPartitions: [{ topic: 't', partitions: [0, 1] }] });
    const keptByA = partitionsOf(a2);
    await heartbeat(first.clients, { memberId: 'a', memberEpoch: a2.memberEpoch, ownedPartitions: [{ topic: 't', partitions: keptByA }] });
    const b2 = await heartbeat(first.clients, { memberId: 'b', memberEpoch: b.memberEpoch });
    const bPartition = partitionsOf(b2)[0];
    const refused = await commit(a2.memberEpoch, bPartition, 3);
    expect(refused.results[0].error.code).toBe('STALE_MEMBER_EPOCH');
    const fetched = await first.clients.call('groups', 'fetchOffsets', { groupId: 'g', partitions: [] });
    expect(fetched.offsets).toEqual([{ topic: 't', partition: 0, offset: 7, metadata: 'm', commitTimestampMs: expect.any(Number), error: null }]);
    await stopTestBroker(first.running);
    const second = await startTestBroker({ dataDir: first.dataDir, set: NO_DELAY });
    const again = await second.clients.call('groups', 'fetchOffsets', { groupId: 'g', partitions: [{ topic: 't', partitions: [0, 1] }] });
    expect(again.offsets.map((o: any) => [o.partition, o.offset])).toEqual([
      [0, 7],
      [1, -1],
    ]);
    // Membership survives too (finding 17): a is still a member, at its epoch, with its partitions.
    const back = await heartbeat(second.clients, { memberId: 'a', memberEpoch: a2.memberEpoch, ownedPartitions: [{ topic: 't', partitions: keptByA }] });
    expect(back.error ?? null).toBeNull();
    expect([back.memberEpoch, partitionsOf(back)]).toEqual([a2.memberEpoch, keptByA]);
  });

  it('closes the internal offsets topic to clients but lets them read it', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 1);
    await clients.call('groups', 'commitOffsets', { groupId: 'g', memberId: '', memberEpoch: -1, offsets: [{ topic: 't', partition: 0, offset: 1, metadata: '' }] });
    const produced = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: '__consumer_offsets', partitions: [{ partition: 0, records: Buffer.alloc(70) }] }] });
    expect(produced.topics[0].partitions[0].error.code).toBe('INTERNAL_TOPIC');
    const deleted = await clients.call('admin', 'deleteTopics', { names: ['__consumer_offsets'] });
    expect(deleted.topics[0].error.code).toBe('INTERNAL_TOPIC');
    const listed = await clients.call('admin', 'listTopics', { includeInternal: true });
    expect(listed.topics.map((t: any) => t.name)).toContain('__consumer_offsets');
  });
});
