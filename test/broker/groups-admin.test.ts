/**
 * The Groups service end to end, beyond the basics of groups-api.test.ts: describe / list /
 * delete / reset-offsets, commits with per-partition errors, bad heartbeat input and the
 * broker's limits, topic changes (created, grown, deleted) under a subscribed group, session and
 * rebalance timeouts, heartbeats that long-poll (answered early on a change, and at shutdown),
 * and the retention of an empty group's offsets. A real broker in this process, a plain
 * proto-loader client; every wait is bounded and waits for an answer, not for a fixed time.
 */
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../storage/helpers.js';
import { connect, startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const NO_DELAY = ['groups.initialAssignmentDelayMs=0'];
const T0 = 1_700_000_000_000;

type Lists = { topic: string; partitions: number[] }[];

interface WireError {
  code: string;
  message: string;
}

interface Hb {
  error: WireError | null;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: Lists;
  pendingPartitions: Lists;
}

function heartbeat(clients: Clients, request: Record<string, unknown>): Promise<Hb> {
  return clients.call('groups', 'heartbeat', { groupId: 'g', subscribedTopics: ['t'], ...request }, 20_000);
}

async function createTopic(clients: Clients, name: string, partitions: number): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name, partitions, configs: [] }] });
  expect(res.topics[0].error).toBeNull();
}

async function produce(clients: Clients, topic: string, partition: number, timestamps: number[]): Promise<void> {
  const res = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition, records: makeBatch({ timestamps }) }] }] });
  expect(res.topics[0].partitions[0].error).toBeNull();
}

async function commit(clients: Clients, groupId: string, offsets: { topic: string; partition: number; offset: number; metadata?: string }[], member: { memberId: string; memberEpoch: number } = { memberId: '', memberEpoch: -1 }): Promise<any> {
  return clients.call('groups', 'commitOffsets', { groupId, ...member, offsets: offsets.map((o) => ({ metadata: '', ...o })) });
}

async function fetchOffsets(clients: Clients, groupId: string): Promise<[string, number, number][]> {
  const res = await clients.call('groups', 'fetchOffsets', { groupId, partitions: [] });
  expect(res.error).toBeNull();
  return res.offsets.map((o: any) => [o.topic, o.partition, o.offset]);
}

async function describeOne(clients: Clients, groupId: string): Promise<any> {
  const res = await clients.call('groups', 'describeGroups', { groupIds: [groupId] });
  return res.groups[0];
}

async function listGroups(clients: Clients): Promise<{ groupId: string; state: string; members: number }[]> {
  return (await clients.call('groups', 'listGroups', {})).groups;
}

function reset(clients: Clients, groupId: string, topic: string, to: Record<string, unknown>, extra: { partitions?: number[]; dryRun?: boolean } = {}): Promise<any> {
  return clients.call('groups', 'resetOffsets', { groupId, topic, partitions: extra.partitions ?? [], dryRun: extra.dryRun ?? false, ...to });
}

const newOffsets = (res: any): [number, number, number][] => res.results.map((r: any) => [r.partition, r.previousOffset, r.newOffset]);
const partitionsIn = (lists: Lists, topic = 't'): number[] => lists.find((l) => l.topic === topic)?.partitions ?? [];

/**
 * A well-behaved member: reports owning what it was last told (so it revokes at once), keeps
 * the epoch of its last answer.
 */
class Member {
  epoch = 0;
  assignment: Lists = [];
  pending: Lists = [];
  lastHeartbeatAtMs = 0;

  constructor(
    readonly clients: Clients,
    readonly memberId: string,
    readonly options: { groupId?: string; topics?: string[]; sessionTimeoutMs?: number; rebalanceTimeoutMs?: number; instanceId?: string } = {},
  ) {}

  async beat(extra: { maxWaitMs?: number; owned?: Lists; epoch?: number } = {}): Promise<Hb> {
    this.lastHeartbeatAtMs = Date.now();
    const res = await heartbeat(this.clients, {
      groupId: this.options.groupId ?? 'g',
      memberId: this.memberId,
      memberEpoch: extra.epoch ?? this.epoch,
      instanceId: this.options.instanceId ?? '',
      subscribedTopics: this.options.topics ?? ['t'],
      ownedPartitions: extra.owned ?? this.assignment,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 0,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs ?? 0,
      maxWaitMs: extra.maxWaitMs ?? 0,
    });
    if (res.error === null && res.memberEpoch >= 0) {
      this.epoch = res.memberEpoch;
      this.assignment = res.assignment;
      this.pending = res.pendingPartitions;
    }
    return res;
  }

  async join(): Promise<Hb> {
    const res = await this.beat({ epoch: 0 });
    expect(res.error).toBeNull();
    return res;
  }

  async leave(): Promise<void> {
    const res = await this.beat({ epoch: -1 });
    expect(res.error).toBeNull();
  }

  partitions(topic = 't'): number[] {
    return partitionsIn(this.assignment, topic);
  }

  /** Heartbeats (long-polled) until `done`; fails on an error or after `deadlineMs`. */
  async until(done: () => boolean, deadlineMs = 8000, maxWaitMs = 5000): Promise<void> {
    const give = Date.now() + deadlineMs;
    while (!done()) {
      expect(Date.now(), `${this.memberId} reached the state within ${deadlineMs} ms`).toBeLessThan(give);
      const res = await this.beat({ maxWaitMs });
      expect(res.error, `${this.memberId} heartbeat`).toBeNull();
    }
  }
}

/** Heartbeats every member (one round each) until all are at their targets (pending empty, no change). */
async function settle(members: Member[], deadlineMs = 8000): Promise<void> {
  const give = Date.now() + deadlineMs;
  for (;;) {
    const before = members.map((m) => m.epoch);
    for (const m of members) expect((await m.beat()).error).toBeNull();
    if (members.every((m, i) => m.epoch === before[i] && m.pending.length === 0)) return;
    expect(Date.now(), 'group settled in time').toBeLessThan(give);
  }
}

/** Resolves with the settled value, or with 'timeout' after `ms` (a bound, not a sleep). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** Polls `read` every `everyMs` until `done(value)`, at most `deadlineMs`; returns the last value. */
async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, deadlineMs: number, everyMs = 100): Promise<T> {
  const give = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > give) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// ---- describe and list ----------------------------------------------------------------------------

describe('Groups admin: describe and list', () => {
  it('describes members (owned vs target), committed offsets, high watermarks, lag and owners', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 3);
    await produce(clients, 't', 0, [T0, T0, T0, T0, T0]);
    await produce(clients, 't', 1, [T0, T0, T0]);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 20_000 });
    await a.join();
    expect(a.partitions()).toEqual([0, 1, 2]);
    expect((await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 2, metadata: 'x' }], { memberId: 'a', memberEpoch: a.epoch })).error).toBeNull();
    const b = new Member(clients, 'b');
    await b.join();

    // b joined, a has not revoked yet: a owns all three, its target is two; b owns none, targets one.
    const during = await describeOne(clients, 'g');
    expect(during).toMatchObject({ groupId: 'g', error: null, state: 'GROUP_STATE_RECONCILING', assignor: 'uniform' });
    expect(during.groupEpoch).toBeGreaterThanOrEqual(2);
    const [ma, mb] = ['a', 'b'].map((id) => during.members.find((m: any) => m.memberId === id));
    expect(ma).toMatchObject({ instanceId: '', clientId: '', subscribedTopics: ['t'], sessionTimeoutMs: 20_000, assignment: [{ topic: 't', partitions: [0, 1, 2] }] });
    expect(partitionsIn(ma.targetAssignment)).toHaveLength(2);
    expect(ma.lastHeartbeatAgeMs).toBeLessThan(10_000);
    expect(mb).toMatchObject({ assignment: [], sessionTimeoutMs: 10_000 });
    const bTarget = partitionsIn(mb.targetAssignment);
    expect(bTarget).toHaveLength(1);
    expect(mb.memberEpoch).toBe(b.epoch);
    expect(during.offsets).toEqual([
      { topic: 't', partition: 0, committedOffset: 2, highWatermark: 5, lag: 3, metadata: 'x', memberId: 'a' },
      { topic: 't', partition: 1, committedOffset: -1, highWatermark: 3, lag: 3, metadata: '', memberId: 'a' },
      { topic: 't', partition: 2, committedOffset: -1, highWatermark: 0, lag: 0, metadata: '', memberId: 'a' },
    ]);

    await settle([a, b]);
    const after = await describeOne(clients, 'g');
    expect(after.state).toBe('GROUP_STATE_STABLE');
    const owners = Object.fromEntries(after.offsets.map((o: any) => [o.partition, o.memberId]));
    expect(owners[bTarget[0]]).toBe('b');
    for (const p of a.partitions()) expect(owners[p]).toBe('a');
    const describedA = after.members.find((m: any) => m.memberId === 'a');
    expect(describedA.assignment).toEqual(describedA.targetAssignment);
    expect(describedA.memberEpoch).toBe(a.epoch);
  });

  it('answers UNKNOWN_GROUP for a group with neither members nor offsets, and describes one with offsets only', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    await produce(clients, 't', 1, [T0, T0]);
    expect((await commit(clients, 'only-offsets', [{ topic: 't', partition: 1, offset: 1 }])).error).toBeNull();
    const res = await clients.call('groups', 'describeGroups', { groupIds: ['nobody', 'only-offsets', 'bad/id'] });
    expect(res.groups.map((g: any) => [g.groupId, g.error?.code ?? null])).toEqual([
      ['nobody', 'UNKNOWN_GROUP'],
      ['only-offsets', null],
      ['bad/id', 'INVALID_GROUP_ID'],
    ]);
    expect(res.groups[1]).toMatchObject({ state: 'GROUP_STATE_EMPTY', members: [], offsets: [{ topic: 't', partition: 1, committedOffset: 1, highWatermark: 2, lag: 1, memberId: '' }] });

    // A member that joined and left without committing leaves nothing behind.
    const m = new Member(clients, 'm', { groupId: 'passing' });
    await m.join();
    expect((await describeOne(clients, 'passing')).error).toBeNull();
    await m.leave();
    expect((await describeOne(clients, 'passing')).error.code).toBe('UNKNOWN_GROUP');
  });

  it('lists groups with members and groups with offsets only, sorted, with their states', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    expect(await listGroups(clients)).toEqual([]);
    const z = new Member(clients, 'z1', { groupId: 'zeta' });
    await z.join();
    const a1 = new Member(clients, 'a1', { groupId: 'alpha' });
    await a1.join();
    await new Member(clients, 'a2', { groupId: 'alpha' }).join();
    await commit(clients, 'mid', [{ topic: 't', partition: 0, offset: 0 }]);
    expect(await listGroups(clients)).toEqual([
      { groupId: 'alpha', state: 'GROUP_STATE_RECONCILING', members: 2 },
      { groupId: 'mid', state: 'GROUP_STATE_EMPTY', members: 0 },
      { groupId: 'zeta', state: 'GROUP_STATE_STABLE', members: 1 },
    ]);
    await z.leave();
    expect((await listGroups(clients)).map((g) => g.groupId)).toEqual(['alpha', 'mid']);
  });
});

// ---- delete ---------------------------------------------------------------------------------------

describe('Groups admin: delete', () => {
  it('refuses a group with members, answers UNKNOWN_GROUP for an unknown one, and removes offsets for good', async () => {
    const first = await startTestBroker({ set: NO_DELAY });
    await createTopic(first.clients, 't', 2);
    const m = new Member(first.clients, 'm');
    await m.join();
    expect((await commit(first.clients, 'g', [{ topic: 't', partition: 0, offset: 3 }], { memberId: 'm', memberEpoch: m.epoch })).error).toBeNull();
    expect((await commit(first.clients, 'keep', [{ topic: 't', partition: 1, offset: 4 }])).error).toBeNull();

    const refused = await first.clients.call('groups', 'deleteGroups', { groupIds: ['g', 'unknown', 'bad/id'] });
    expect(refused.results.map((r: any) => [r.groupId, r.error?.code ?? null])).toEqual([
      ['g', 'GROUP_NOT_EMPTY'],
      ['unknown', 'UNKNOWN_GROUP'],
      ['bad/id', 'INVALID_GROUP_ID'],
    ]);
    expect(await fetchOffsets(first.clients, 'g')).toEqual([['t', 0, 3]]);

    await m.leave();
    const deleted = await first.clients.call('groups', 'deleteGroups', { groupIds: ['g'] });
    expect(deleted.results).toEqual([{ groupId: 'g', error: null }]);
    expect(await fetchOffsets(first.clients, 'g')).toEqual([]);
    expect((await describeOne(first.clients, 'g')).error.code).toBe('UNKNOWN_GROUP');
    expect((await listGroups(first.clients)).map((g) => g.groupId)).toEqual(['keep']);
    expect((await first.clients.call('groups', 'deleteGroups', { groupIds: ['g'] })).results[0].error.code).toBe('UNKNOWN_GROUP');

    await stopTestBroker(first.running);
    const second = await startTestBroker({ dataDir: first.dataDir, set: NO_DELAY });
    expect(await fetchOffsets(second.clients, 'g')).toEqual([]);
    expect((await describeOne(second.clients, 'g')).error.code).toBe('UNKNOWN_GROUP');
    expect(await fetchOffsets(second.clients, 'keep')).toEqual([['t', 1, 4]]);
    expect((await listGroups(second.clients)).map((g) => g.groupId)).toEqual(['keep']);
  });
});

// ---- reset offsets -----------------------------------------------------------------------------------

describe('Groups admin: reset offsets', () => {
  /** Topic r: partition 0 has offsets 0..9 (timestamps T0 + i s), log start 2; partition 1 has 0..3; partition 2 is empty. */
  async function setUp(): Promise<Clients> {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 'r', 3);
    await produce(clients, 'r', 0, Array.from({ length: 10 }, (_, i) => T0 + i * 1000));
    await produce(clients, 'r', 1, [T0, T0 + 1000, T0 + 2000, T0 + 3000]);
    const trimmed = await clients.call('admin', 'deleteRecords', { partitions: [{ topic: 'r', partition: 0, beforeOffset: 2 }] });
    expect(trimmed.partitions[0]).toMatchObject({ error: null, logStartOffset: 2 });
    return clients;
  }

  it('resets to earliest, latest, an offset (clamped) and a time', async () => {
    const clients = await setUp();
    expect(newOffsets(await reset(clients, 'g', 'r', { toEarliest: true }))).toEqual([
      [0, -1, 2],
      [1, -1, 0],
      [2, -1, 0],
    ]);
    expect(await fetchOffsets(clients, 'g')).toEqual([
      ['r', 0, 2],
      ['r', 1, 0],
      ['r', 2, 0],
    ]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toLatest: true }))).toEqual([
      [0, 2, 10],
      [1, 0, 4],
      [2, 0, 0],
    ]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toOffset: 7 }, { partitions: [0] }))).toEqual([[0, 10, 7]]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toOffset: 1000 }, { partitions: [0, 1] }))).toEqual([
      [0, 7, 10],
      [1, 4, 4],
    ]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toOffset: 0 }, { partitions: [0] }))).toEqual([[0, 10, 2]]); // below the log start
    // The first record at or after the time; before everything: the log start; after everything: the high watermark.
    expect(newOffsets(await reset(clients, 'g', 'r', { toTimestampMs: T0 + 4500 }))).toEqual([
      [0, 2, 5],
      [1, 4, 4],
      [2, 0, 0],
    ]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toTimestampMs: T0 - 1 }, { partitions: [0, 1] }))).toEqual([
      [0, 5, 2],
      [1, 4, 0],
    ]);
    expect(newOffsets(await reset(clients, 'g', 'r', { toTimestampMs: T0 + 60_000 }, { partitions: [0] }))).toEqual([[0, 2, 10]]);
    expect(await fetchOffsets(clients, 'g')).toEqual([
      ['r', 0, 10],
      ['r', 1, 0],
      ['r', 2, 0],
    ]);
  });

  it('shifts from the committed offset, or from the log start when none is committed, clamped', async () => {
    const clients = await setUp();
    await commit(clients, 'g', [{ topic: 'r', partition: 0, offset: 5 }]);
    expect(newOffsets(await reset(clients, 'g', 'r', { shiftBy: -2 }, { partitions: [0] }))).toEqual([[0, 5, 3]]);
    expect(newOffsets(await reset(clients, 'g', 'r', { shiftBy: 100 }, { partitions: [0] }))).toEqual([[0, 3, 10]]);
    expect(newOffsets(await reset(clients, 'g', 'r', { shiftBy: -100 }, { partitions: [0] }))).toEqual([[0, 10, 2]]);
    // Nothing committed for partitions 1 and 2: from the log start.
    expect(newOffsets(await reset(clients, 'fresh', 'r', { shiftBy: 1 }, { partitions: [1, 2] }))).toEqual([
      [1, -1, 1],
      [2, -1, 0],
    ]);
    expect(newOffsets(await reset(clients, 'fresh2', 'r', { shiftBy: -1 }, { partitions: [0] }))).toEqual([[0, -1, 2]]);
    // A reset may create a group: it is listed, with its offsets.
    expect((await listGroups(clients)).map((g) => g.groupId)).toEqual(['fresh', 'fresh2', 'g']);
  });

  it('computes without storing on a dry run; de-duplicates named partitions', async () => {
    const clients = await setUp();
    await commit(clients, 'g', [{ topic: 'r', partition: 0, offset: 5 }]);
    const dry = await reset(clients, 'g', 'r', { toEarliest: true }, { dryRun: true, partitions: [1, 0, 1] });
    expect(dry.error).toBeNull();
    expect(newOffsets(dry)).toEqual([
      [0, 5, 2],
      [1, -1, 0],
    ]);
    expect(await fetchOffsets(clients, 'g')).toEqual([['r', 0, 5]]);
    const dryNew = await reset(clients, 'never', 'r', { toLatest: true }, { dryRun: true });
    expect(dryNew.results).toHaveLength(3);
    expect((await describeOne(clients, 'never')).error.code).toBe('UNKNOWN_GROUP');
  });

  it('refuses a group with members, an unknown topic, a bad partition and bad targets, changing nothing', async () => {
    const clients = await setUp();
    await commit(clients, 'g', [{ topic: 'r', partition: 0, offset: 5 }]);
    const m = new Member(clients, 'm', { groupId: 'busy', topics: ['r'] });
    await m.join();
    const refusals: [Promise<any>, string][] = [
      [reset(clients, 'busy', 'r', { toEarliest: true }), 'GROUP_NOT_EMPTY'],
      [reset(clients, 'g', 'nope', { toEarliest: true }), 'UNKNOWN_TOPIC'],
      [reset(clients, 'g', 'r', { toEarliest: true }, { partitions: [0, 3] }), 'UNKNOWN_PARTITION'],
      [reset(clients, 'g', 'r', { toOffset: -1 }), 'INVALID_ARGUMENT'],
      [reset(clients, 'g', 'r', { toTimestampMs: -5 }), 'INVALID_ARGUMENT'],
      [reset(clients, 'g', 'r', {}), 'INVALID_ARGUMENT'],
      [reset(clients, 'bad/id', 'r', { toEarliest: true }), 'INVALID_GROUP_ID'],
    ];
    for (const [request, code] of refusals) {
      const res = await request;
      expect(res.error?.code, code).toBe(code);
      expect(res.results).toEqual([]);
    }
    expect(await fetchOffsets(clients, 'g')).toEqual([['r', 0, 5]]);
    expect(await fetchOffsets(clients, 'busy')).toEqual([]);
  });
});

// ---- commits -------------------------------------------------------------------------------------------

describe('Groups: commits', () => {
  it('accepts commits with an empty member id only while the group has no members', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    expect(await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 4 }])).toEqual({ error: null, results: [{ topic: 't', partition: 0, error: null }] });
    expect(await fetchOffsets(clients, 'g')).toEqual([['t', 0, 4]]);
    const m = new Member(clients, 'm');
    await m.join();
    const refused = await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 9 }]);
    expect(refused.error.code).toBe('UNKNOWN_MEMBER_ID');
    expect(refused.results).toEqual([]);
    expect((await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 9 }], { memberId: 'other', memberEpoch: 1 })).error.code).toBe('UNKNOWN_MEMBER_ID');
    expect(await fetchOffsets(clients, 'g')).toEqual([['t', 0, 4]]);
    await m.leave();
    expect((await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 9 }])).error).toBeNull();
    expect(await fetchOffsets(clients, 'g')).toEqual([['t', 0, 9]]);
  });

  it('answers per partition: unknown topic or partition, negative offset, duplicates, metadata too large; the rest is stored', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.offsetMetadataMaxBytes=16'] });
    await createTopic(clients, 't', 4);
    const res = await commit(clients, 'g', [
      { topic: 't', partition: 0, offset: 10, metadata: 'first' },
      { topic: 'nope', partition: 0, offset: 1 },
      { topic: 't', partition: 7, offset: 1 },
      { topic: 't', partition: 1, offset: -1 },
      { topic: 't', partition: 0, offset: 11, metadata: 'again' },
      { topic: 't', partition: 2, offset: 1, metadata: 'é'.repeat(9) }, // 9 characters, 18 bytes
      { topic: 't', partition: 3, offset: 3, metadata: 'x'.repeat(16) },
    ]);
    expect(res.error).toBeNull();
    expect(res.results.map((r: any) => [r.topic, r.partition, r.error?.code ?? null])).toEqual([
      ['t', 0, null],
      ['nope', 0, 'UNKNOWN_TOPIC'],
      ['t', 7, 'UNKNOWN_PARTITION'],
      ['t', 1, 'INVALID_ARGUMENT'],
      ['t', 0, 'INVALID_ARGUMENT'],
      ['t', 2, 'OFFSET_METADATA_TOO_LARGE'],
      ['t', 3, null],
    ]);
    const fetched = await clients.call('groups', 'fetchOffsets', { groupId: 'g', partitions: [] });
    expect(fetched.offsets.map((o: any) => [o.partition, o.offset, o.metadata])).toEqual([
      [0, 10, 'first'],
      [3, 3, 'x'.repeat(16)],
    ]);
  });

  it('refuses a bad group id and too many offsets in one commit', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'limits.maxPartitionsPerRequest=4'] });
    await createTopic(clients, 't', 8);
    expect((await commit(clients, 'a/b', [{ topic: 't', partition: 0, offset: 1 }])).error.code).toBe('INVALID_GROUP_ID');
    const many = await commit(clients, 'g', [0, 1, 2, 3, 4].map((partition) => ({ topic: 't', partition, offset: 1 })));
    expect(many.error.code).toBe('LIMIT_EXCEEDED');
    expect(await fetchOffsets(clients, 'g')).toEqual([]);
  });

  it('answers FetchOffsets per named partition: UNKNOWN_TOPIC and UNKNOWN_PARTITION beside stored offsets', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    await commit(clients, 'g', [{ topic: 't', partition: 0, offset: 6, metadata: 'm' }]);
    const res = await clients.call('groups', 'fetchOffsets', {
      groupId: 'g',
      partitions: [
        { topic: 't', partitions: [0, 1, 9] },
        { topic: 'nope', partitions: [0] },
      ],
    });
    expect(res.error).toBeNull();
    expect(res.offsets.map((o: any) => [o.topic, o.partition, o.offset, o.error?.code ?? null])).toEqual([
      ['t', 0, 6, null],
      ['t', 1, -1, null],
      ['t', 9, -1, 'UNKNOWN_PARTITION'],
      ['nope', 0, -1, 'UNKNOWN_TOPIC'],
    ]);
    expect((await clients.call('groups', 'fetchOffsets', { groupId: 'a/b', partitions: [] })).error.code).toBe('INVALID_GROUP_ID');
  });

  it('stores concurrent first commits on a fresh broker (the offsets topic is created under them)', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 1);
    const groups = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
    const results = await Promise.all(groups.map((g, i) => commit(clients, g, [{ topic: 't', partition: 0, offset: i }])));
    expect(results.map((r) => r.error?.code ?? null)).toEqual(groups.map(() => null));
    for (const [i, g] of groups.entries()) expect(await fetchOffsets(clients, g)).toEqual([['t', 0, i]]);
  });
});

// ---- bad heartbeat input and limits ------------------------------------------------------------------

describe('Groups: bad heartbeats and limits', () => {
  const join = (clients: Clients, request: Record<string, unknown>): Promise<Hb> => heartbeat(clients, { memberId: 'm', memberEpoch: 0, ...request });

  it('refuses bad group ids, member ids, epochs, topics, timeouts and assignors in the response, creating no group', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.minSessionTimeoutMs=1000', 'groups.defaultSessionTimeoutMs=3000', 'groups.maxSessionTimeoutMs=5000', 'groups.maxRebalanceTimeoutMs=60000'] });
    await createTopic(clients, 't', 1);
    const cases: [Record<string, unknown>, string][] = [
      [{ groupId: '' }, 'INVALID_GROUP_ID'],
      [{ groupId: 'a/b' }, 'INVALID_GROUP_ID'],
      [{ groupId: 'g'.repeat(300) }, 'INVALID_GROUP_ID'],
      [{ groupId: 'a\u0000b' }, 'INVALID_GROUP_ID'],
      [{ groupId: 'grüppe' }, 'INVALID_GROUP_ID'],
      [{ memberId: '' }, 'INVALID_ARGUMENT'],
      [{ memberId: 'm'.repeat(65) }, 'INVALID_ARGUMENT'],
      [{ memberId: 'has space' }, 'INVALID_ARGUMENT'],
      [{ memberId: 'nul\u0000' }, 'INVALID_ARGUMENT'],
      [{ memberId: 'mémbre' }, 'INVALID_ARGUMENT'],
      [{ memberEpoch: -3 }, 'INVALID_ARGUMENT'],
      [{ instanceId: 'i'.repeat(250) }, 'INVALID_ARGUMENT'],
      [{ clientId: 'c'.repeat(250) }, 'INVALID_ARGUMENT'],
      [{ subscribedTopics: ['ok', 'not/ok'] }, 'INVALID_TOPIC_NAME'],
      [{ ownedPartitions: [{ topic: '', partitions: [0] }] }, 'INVALID_TOPIC_NAME'],
      [{ sessionTimeoutMs: 999 }, 'INVALID_SESSION_TIMEOUT'],
      [{ sessionTimeoutMs: 5001 }, 'INVALID_SESSION_TIMEOUT'],
      [{ rebalanceTimeoutMs: 60_001 }, 'INVALID_ARGUMENT'],
      [{ assignor: 'sticky' }, 'UNSUPPORTED_ASSIGNOR'],
      [{ assignor: 'Uniform' }, 'UNSUPPORTED_ASSIGNOR'],
    ];
    for (const [request, code] of cases) {
      const res = await join(clients, { groupId: 'g', ...request });
      expect(res.error?.code, JSON.stringify(request).slice(0, 80)).toBe(code);
      expect(res.assignment).toEqual([]);
    }
    expect(await listGroups(clients)).toEqual([]);
    // The bounds themselves are accepted, and 0 means the broker's default.
    for (const [memberId, sessionTimeoutMs] of [['lo', 1000], ['hi', 5000], ['dflt', 0]] as const) {
      const res = await join(clients, { memberId, sessionTimeoutMs, assignor: memberId === 'lo' ? 'range' : '' });
      expect(res.error, memberId).toBeNull();
    }
    const described = await describeOne(clients, 'g');
    expect(Object.fromEntries(described.members.map((m: any) => [m.memberId, m.sessionTimeoutMs]))).toEqual({ lo: 1000, hi: 5000, dflt: 3000 });
  });

  it('bounds subscribed topics per member (groups.maxSubscribedTopics)', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.maxSubscribedTopics=2'] });
    expect((await join(clients, { subscribedTopics: ['a', 'b', 'c'] })).error?.code).toBe('LIMIT_EXCEEDED');
    const ok = await join(clients, { subscribedTopics: ['a', 'b'] });
    expect(ok.error).toBeNull();
    // A member cannot grow past the bound later either.
    expect((await heartbeat(clients, { memberId: 'm', memberEpoch: ok.memberEpoch, subscribedTopics: ['a', 'b', 'c'] })).error?.code).toBe('LIMIT_EXCEEDED');
  });

  it('bounds the groups with members (groups.maxGroups) and the members of a group (groups.maxMembersPerGroup)', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.maxGroups=2', 'groups.maxMembersPerGroup=2'] });
    await createTopic(clients, 't', 2);
    const g1 = new Member(clients, 'x', { groupId: 'g1' });
    await g1.join();
    await new Member(clients, 'y', { groupId: 'g2' }).join();
    expect((await join(clients, { groupId: 'g3' })).error?.code).toBe('LIMIT_EXCEEDED');
    await g1.leave(); // g1 had no offsets: it is gone, so there is room again
    expect((await join(clients, { groupId: 'g3' })).error).toBeNull();

    await new Member(clients, 's', { groupId: 'g2', instanceId: 'host-1' }).join();
    expect((await join(clients, { groupId: 'g2', memberId: 'third' })).error?.code).toBe('LIMIT_EXCEEDED');
    // A member joining again, and a static member taking its own place back, are not new members.
    expect((await join(clients, { groupId: 'g2', memberId: 'y' })).error).toBeNull();
    expect((await join(clients, { groupId: 'g2', memberId: 's2', instanceId: 'host-1' })).error).toBeNull();
    expect((await describeOne(clients, 'g2')).members.map((m: any) => m.memberId).sort()).toEqual(['s2', 'y']);
  });

  it('does not count a group without members, kept for its offsets, against groups.maxGroups', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.maxGroups=1'] });
    await createTopic(clients, 't', 1);
    const m = new Member(clients, 'm', { groupId: 'g1' });
    await m.join();
    expect((await commit(clients, 'g1', [{ topic: 't', partition: 0, offset: 1 }], { memberId: 'm', memberEpoch: m.epoch })).error).toBeNull();
    await m.leave();
    expect((await listGroups(clients)).map((g) => [g.groupId, g.members])).toEqual([['g1', 0]]);
    // No group has members now (docs/groups.md: "groups.maxGroups (groups with members)").
    expect((await join(clients, { groupId: 'g2' })).error).toBeNull();
  });

  it('ignores owned partitions of topics that do not exist', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    const ghost = [{ topic: 'ghost', partitions: [0, 1, 7] }];
    const joined = await join(clients, { ownedPartitions: ghost });
    expect(joined.error).toBeNull();
    expect(joined.assignment).toEqual([{ topic: 't', partitions: [0, 1] }]);
    const again = await heartbeat(clients, { memberId: 'm', memberEpoch: joined.memberEpoch, ownedPartitions: [...joined.assignment, ...ghost] });
    expect(again.error).toBeNull();
    expect(again.memberEpoch).toBe(joined.memberEpoch);
    expect(again.assignment).toEqual([{ topic: 't', partitions: [0, 1] }]);
    const described = await describeOne(clients, 'g');
    expect(described.members[0].assignment).toEqual([{ topic: 't', partitions: [0, 1] }]);
    expect(described.offsets.map((o: any) => o.topic)).toEqual(['t', 't']);
  });
});

// ---- topic changes -------------------------------------------------------------------------------------

describe('Groups: topics change under a subscribed group', () => {
  it('assigns a subscribed topic once it is created, answering the parked heartbeat early', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    const m = new Member(clients, 'm', { topics: ['later'], sessionTimeoutMs: 10_000 });
    const joined = await m.join();
    expect(joined.assignment).toEqual([]);
    expect(joined.pendingPartitions).toEqual([]);
    expect(joined.heartbeatIntervalMs).toBe(3000);
    const parked = m.beat({ maxWaitMs: 5000 });
    const started = Date.now();
    await createTopic(clients, 'later', 3);
    const answer = await parked;
    expect(Date.now() - started).toBeLessThan(2500);
    expect(answer.error).toBeNull();
    expect(answer.memberEpoch).toBeGreaterThan(joined.memberEpoch);
    expect(answer.assignment).toEqual([{ topic: 'later', partitions: [0, 1, 2] }]);
  });

  it('gives out the partitions CreatePartitions adds to a subscribed topic', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 10_000 });
    const b = new Member(clients, 'b', { sessionTimeoutMs: 10_000 });
    await a.join();
    await b.join();
    await settle([a, b]);
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1]);
    const epochs = [a.epoch, b.epoch];
    const parked = Promise.all([a.beat({ maxWaitMs: 5000 }), b.beat({ maxWaitMs: 5000 })]);
    const grown = await clients.call('admin', 'createPartitions', { topics: [{ name: 't', totalPartitions: 6 }], validateOnly: false });
    expect(grown.topics[0].error).toBeNull();
    await parked;
    await settle([a, b]);
    expect(a.epoch).toBeGreaterThan(epochs[0]);
    expect(b.epoch).toBeGreaterThan(epochs[1]);
    expect(a.partitions()).toHaveLength(3);
    expect(b.partitions()).toHaveLength(3);
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await describeOne(clients, 'g')).state).toBe('GROUP_STATE_STABLE');
  });

  it('revokes the partitions of a deleted subscribed topic and removes the group’s offsets for it', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    await createTopic(clients, 'u', 1);
    const m = new Member(clients, 'm', { topics: ['t', 'u'], sessionTimeoutMs: 10_000 });
    await m.join();
    expect(m.assignment).toEqual([
      { topic: 't', partitions: [0, 1] },
      { topic: 'u', partitions: [0] },
    ]);
    const committed = await commit(
      clients,
      'g',
      [
        { topic: 't', partition: 0, offset: 1 },
        { topic: 'u', partition: 0, offset: 2 },
      ],
      { memberId: 'm', memberEpoch: m.epoch },
    );
    expect(committed.results.map((r: any) => r.error)).toEqual([null, null]);
    const epoch = m.epoch;
    const parked = m.beat({ maxWaitMs: 5000 });
    const deleted = await clients.call('admin', 'deleteTopics', { names: ['t'] });
    expect(deleted.topics[0].error).toBeNull();
    const answer = await parked;
    expect(answer.error).toBeNull();
    expect(answer.memberEpoch).toBeGreaterThan(epoch);
    expect(answer.assignment).toEqual([{ topic: 'u', partitions: [0] }]);
    expect(await fetchOffsets(clients, 'g')).toEqual([['u', 0, 2]]);
    await settle([m]);
    const described = await describeOne(clients, 'g');
    expect(described.state).toBe('GROUP_STATE_STABLE');
    expect(described.members[0].assignment).toEqual([{ topic: 'u', partitions: [0] }]);
    expect(described.offsets.map((o: any) => [o.topic, o.partition, o.committedOffset])).toEqual([['u', 0, 2]]);
  });

  it('forgets a member-less group whose only offsets were of a deleted topic (list and describe agree)', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 1);
    const m = new Member(clients, 'm', { groupId: 'orphan' });
    await m.join();
    expect((await commit(clients, 'orphan', [{ topic: 't', partition: 0, offset: 1 }], { memberId: 'm', memberEpoch: m.epoch })).error).toBeNull();
    await m.leave();
    expect((await listGroups(clients)).map((g) => g.groupId)).toEqual(['orphan']);
    expect((await clients.call('admin', 'deleteTopics', { names: ['t'] })).topics[0].error).toBeNull();
    expect(await fetchOffsets(clients, 'orphan')).toEqual([]);
    expect((await describeOne(clients, 'orphan')).error?.code).toBe('UNKNOWN_GROUP');
    expect(await listGroups(clients)).toEqual([]);
  });
});

// ---- timeouts ----------------------------------------------------------------------------------------

describe('Groups: session and rebalance timeouts', () => {
  it('removes a member that never confirms a revocation after its rebalance timeout; the other gets its partitions', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 4);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 1500, rebalanceTimeoutMs: 1000 });
    await a.join();
    const all = a.assignment;
    const b = new Member(clients, 'b', { sessionTimeoutMs: 1500 });
    await b.join();
    const askedAtMs = Date.now();
    // a heartbeats well within its session, always claiming all four partitions.
    const stubborn = (async (): Promise<{ error: WireError; atMs: number }> => {
      const give = Date.now() + 6000;
      while (Date.now() < give) {
        const res = await a.beat({ owned: all, maxWaitMs: 300 });
        if (res.error !== null) return { error: res.error, atMs: Date.now() };
      }
      throw new Error('a was never removed');
    })();
    await b.until(() => b.partitions().length === 4, 6000);
    const gotAllMs = Date.now() - askedAtMs;
    const removed = await stubborn;
    expect(['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH']).toContain(removed.error.code);
    expect(gotAllMs).toBeGreaterThanOrEqual(1000);
    expect(gotAllMs).toBeLessThan(4000);
    const described = await describeOne(clients, 'g');
    expect(described.members.map((m: any) => m.memberId)).toEqual(['b']);
  });

  it('gives the partitions of a member that stops heartbeating to the other after its session timeout', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 4);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 1000 });
    const b = new Member(clients, 'b', { sessionTimeoutMs: 1500 });
    await a.join();
    await b.join();
    await settle([a, b]);
    expect(a.partitions()).toHaveLength(2);
    expect(b.partitions()).toHaveLength(2);
    const lastOfA = a.lastHeartbeatAtMs;
    await b.until(() => b.partitions().length === 4, 6000);
    const tookMs = Date.now() - lastOfA;
    expect(tookMs).toBeGreaterThanOrEqual(1000);
    expect(tookMs).toBeLessThan(4000);
    expect((await a.beat()).error?.code).toBe('UNKNOWN_MEMBER_ID');
  });
});

// ---- long-polled heartbeats ------------------------------------------------------------------------------

describe('Groups: parked heartbeats', () => {
  it('answers a parked heartbeat as soon as the member’s assignment changes', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 2);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 10_000 });
    const joined = await a.join();
    expect(joined.heartbeatIntervalMs).toBe(3000);
    const started = Date.now();
    const parked = a.beat({ maxWaitMs: 5000 });
    await new Member(clients, 'b', { sessionTimeoutMs: 10_000 }).join();
    const answer = await parked;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(answer.error).toBeNull();
    expect(answer.memberEpoch).toBeGreaterThan(joined.memberEpoch);
    expect(partitionsIn(answer.assignment)).toHaveLength(1);
  });

  it('holds a heartbeat with nothing to tell for the interval it hands out, not for max_wait_ms', async () => {
    const { clients } = await startTestBroker({ set: NO_DELAY });
    await createTopic(clients, 't', 1);
    const a = new Member(clients, 'a', { sessionTimeoutMs: 1500 });
    const joined = await a.join();
    expect(joined.heartbeatIntervalMs).toBe(500);
    const started = Date.now();
    const answer = await a.beat({ maxWaitMs: 5000 });
    const heldMs = Date.now() - started;
    expect(answer.error).toBeNull();
    expect(answer.memberEpoch).toBe(joined.memberEpoch);
    expect(heldMs).toBeGreaterThanOrEqual(400);
    expect(heldMs).toBeLessThan(2500);
  });

  it('answers a parked heartbeat when the broker shuts down, with an error or a response, not by hanging', async () => {
    const { running } = await startTestBroker({ set: NO_DELAY });
    const own = connect(`127.0.0.1:${running.port}`);
    try {
      await createTopic(own, 't', 1);
      const a = new Member(own, 'a', { sessionTimeoutMs: 10_000 });
      await a.join();
      // Parked with a changed subscription (of a topic that does not exist: nothing to assign),
      // so describe shows when the heartbeat has arrived and is held.
      const started = Date.now();
      const parked = heartbeat(own, { memberId: 'a', memberEpoch: a.epoch, subscribedTopics: ['t', 'u'], ownedPartitions: a.assignment, sessionTimeoutMs: 10_000, maxWaitMs: 5000 }).then(
        (response) => ({ kind: 'response' as const, response }),
        (err: grpc.ServiceError) => ({ kind: 'error' as const, code: err.metadata?.get('runnel-error-code')[0], status: err.code }),
      );
      const arrived = await pollUntil(() => describeOne(own, 'g'), (d) => d.members[0]?.subscribedTopics.length === 2, 2000, 20);
      expect(arrived.members[0].subscribedTopics).toEqual(['t', 'u']);
      const closing = running.close();
      const settled = await within(parked, 2500);
      expect(settled, 'the parked heartbeat was answered before its 3 s interval').not.toBe('timeout');
      expect(Date.now() - started).toBeLessThan(2500);
      if (settled !== 'timeout' && settled.kind === 'error') expect(settled.code).toBe('BROKER_SHUTTING_DOWN');
      await closing;
    } finally {
      own.close();
    }
  });
});

// ---- retention of an empty group's offsets ---------------------------------------------------------

describe('Groups: offsets retention', () => {
  it('removes the offsets of a group without members after groups.offsetsRetentionMs, keeps a live group’s', async () => {
    const { clients } = await startTestBroker({ set: [...NO_DELAY, 'groups.offsetsRetentionMs=1000', 'groups.offsetsRetentionCheckIntervalMs=1000'] });
    await createTopic(clients, 't', 1);
    const live = new Member(clients, 'm', { groupId: 'live', sessionTimeoutMs: 1500 });
    await live.join();
    expect((await commit(clients, 'live', [{ topic: 't', partition: 0, offset: 1 }], { memberId: 'm', memberEpoch: live.epoch })).error).toBeNull();
    expect((await commit(clients, 'idle', [{ topic: 't', partition: 0, offset: 2 }])).error).toBeNull();
    let stop = false;
    const keepAlive = (async () => {
      while (!stop) expect((await live.beat({ maxWaitMs: 400 })).error).toBeNull();
    })();
    try {
      const idle = await pollUntil(() => fetchOffsets(clients, 'idle'), (offsets) => offsets.length === 0, 8000);
      expect(idle).toEqual([]);
      expect(await fetchOffsets(clients, 'live')).toEqual([['t', 0, 1]]);
      expect((await describeOne(clients, 'idle')).error?.code).toBe('UNKNOWN_GROUP');
    } finally {
      stop = true;
      await keepAlive;
    }
    // Once its member leaves, the live group's offsets go too, a retention period later.
    const leftAtMs = Date.now();
    await live.leave();
    const gone = await pollUntil(() => fetchOffsets(clients, 'live'), (offsets) => offsets.length === 0, 8000);
    expect(gone).toEqual([]);
    expect(Date.now() - leftAtMs).toBeGreaterThanOrEqual(1000);
    expect(await listGroups(clients)).toEqual([]);
  });
});
