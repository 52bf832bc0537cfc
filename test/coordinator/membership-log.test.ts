/**
 * The write path of stored group membership (src/coordinator/membership-log.ts,
 * group-records.ts) and its replay, pinned by examples against the coordinator over an
 * in-memory offsets topic: a heartbeat that changes nothing writes nothing and waits for
 * nothing; an answer that tells a change waits until it is durable; a failed append fails the
 * answer with a retriable error and the group is written whole again; a member that never comes
 * back expires one session after the restart, not before; replay drops members whose records
 * are incomplete or conflict, and tombstones them.
 */
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { RunnelError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { DEFAULT_COORDINATOR_CONFIG } from '../../src/coordinator/config.js';
import { GroupCoordinator, type HeartbeatResponse, type TopicView } from '../../src/coordinator/coordinator.js';
import { partitionFor } from '../../src/coordinator/offset-store.js';
import type { HeartbeatRequest } from '../../src/coordinator/requests.js';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import { CrashableLog } from './crashable-log.js';

const SESSION_MS = 10_000;
const topics: TopicView = {
  partitionCount: (topic) => (topic === 't' ? 4 : undefined),
  offsets: () => ({ logStartOffset: 0, highWatermark: 0 }),
  offsetForTimestamp: () => Promise.resolve(0),
};

async function coordinator(log: CrashableLog, clock: ManualClock): Promise<GroupCoordinator> {
  const c = new GroupCoordinator({ ...DEFAULT_COORDINATOR_CONFIG, maxPartitionsPerRequest: 1000 }, topics, log, silentLogger, clock, clock);
  await c.start();
  return c;
}

function request(memberId: string, memberEpoch: number, owned: number[] = []): HeartbeatRequest {
  return {
    groupId: 'g',
    memberId,
    memberEpoch,
    instanceId: '',
    clientId: '',
    subscribedTopics: ['t'],
    ownedPartitions: owned.length === 0 ? [] : [{ topic: 't', partitions: owned }],
    sessionTimeoutMs: SESSION_MS,
    rebalanceTimeoutMs: 0,
    assignor: '',
    maxWaitMs: 0,
  };
}

/** A coordinator over a log whose appends are durable at once. */
async function durableAtOnce(): Promise<{ log: CrashableLog; clock: ManualClock; first: GroupCoordinator }> {
  const log = new CrashableLog();
  log.autoRelease = true;
  const clock = new ManualClock(1000);
  return { log, clock, first: await coordinator(log, clock) };
}

const heartbeat = (c: GroupCoordinator, r: HeartbeatRequest): Promise<HeartbeatResponse> => c.heartbeat(r, new AbortController().signal);
const partitions = (answer: HeartbeatResponse): number[] => answer.assignment.flatMap((a) => a.partitions);
const members = (c: GroupCoordinator): string[] => [...(c.groups.get('g')?.members.keys() ?? [])].sort();

/** Whether the promise settled within a few turns (it waits for nothing else). */
async function settledSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('stored membership: the write path', () => {
  it('answers a change only once it is durable, and a heartbeat that changes nothing at once, writing nothing', async () => {
    const log = new CrashableLog();
    const clock = new ManualClock(1000);
    const c = await coordinator(log, clock);
    const joining = heartbeat(c, request('a', 0));
    expect(await settledSoon(joining), 'the join waits for its records').toBe(false);
    log.release();
    const joined = await joining;
    expect(partitions(joined)).toEqual([0, 1, 2, 3]);
    const appends = log.appends;
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      const steady = heartbeat(c, request('a', joined.memberEpoch, [0, 1, 2, 3]));
      expect(await settledSoon(steady), `steady heartbeat ${i} answered without waiting`).toBe(true);
      expect((await steady).memberEpoch).toBe(joined.memberEpoch);
    }
    expect(log.appends, 'appends by steady heartbeats').toBe(appends);
    c.close();
  });

  it('fails the answer of a write that failed with a retriable error, then writes the whole group again, tombstones included', async () => {
    const { log, clock, first } = await durableAtOnce();
    let c = first;
    const a = await heartbeat(c, request('a', 0));
    await heartbeat(c, request('b', 0));
    // b leaves; the write of that fails: b's answer says so, and nothing of the leave is stored.
    log.failNext = 1;
    const error = await heartbeat(c, request('b', -1)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RunnelError);
    expect([(error as RunnelError).code, (error as RunnelError).retriable]).toEqual(['STORAGE_ERROR', true]);
    // The next answer for the group writes it whole first: b's tombstones, a's new assignment.
    const again = await heartbeat(c, request('a', a.memberEpoch, partitions(a)));
    c.close();
    c = await coordinator(log, clock);
    expect(members(c)).toEqual(['a']);
    expect(c.groups.get('g')!.members.get('a')!.epoch).toBe(again.memberEpoch);
    c.close();
  });

  it('expires a member that never comes back one session after the restart, not before; only then does a newcomer get its partitions', async () => {
    const { log, clock, first } = await durableAtOnce();
    let c = first;
    expect(partitions(await heartbeat(c, request('a', 0)))).toEqual([0, 1, 2, 3]);
    clock.advance(SESSION_MS - 1);
    c.close();
    c = await coordinator(log, clock);
    const restartedAtMs = clock.monotonicMs();
    clock.advance(SESSION_MS / 2);
    const b = await heartbeat(c, request('b', 0));
    expect(partitions(b), 'the newcomer waits for a').toEqual([]);
    clock.set(restartedAtMs + SESSION_MS);
    c.expireMembers();
    expect(members(c), 'one session after the restart').toEqual(['a', 'b']);
    clock.advance(1);
    c.expireMembers();
    expect(members(c)).toEqual(['b']);
    expect(partitions(await heartbeat(c, request('b', b.memberEpoch)))).toEqual([0, 1, 2, 3]);
    c.close();
  });

  it('drops and tombstones replayed members whose records are incomplete or claim partitions another member owns', async () => {
    const { log, clock, first } = await durableAtOnce();
    let c = first;
    await heartbeat(c, request('a', 0));
    c.close();
    const p = partitionFor('g', log.partitionCount()!);
    const spec = pack([1, null, '', ['t'], SESSION_MS, SESSION_MS, 'uniform']);
    const claim = pack([1, 3, 3, 0, [['t', [0]]], [['t', [0]]]]);
    log.appendStored(
      p,
      encodeRecordBatch({
        records: [
          { key: pack([5, 'g', 'thief']), value: spec },
          { key: pack([8, 'g', 'thief']), value: claim },
          { key: pack([5, 'g', 'ghost']), value: spec },
        ],
      }),
    );
    c = await coordinator(log, clock);
    expect(members(c)).toEqual(['a']);
    expect(c.groups.get('g')!.members.get('a')!.owned.size).toBe(4);
    const latest = new Map<string, Buffer | null>();
    for (const { key, value } of log.records()) latest.set(key!.toString('hex'), value);
    for (const key of [pack([5, 'g', 'thief']), pack([8, 'g', 'thief']), pack([5, 'g', 'ghost'])]) expect(latest.get(key.toString('hex')), 'tombstoned').toBeNull();
    c.close();
  });

  it('moves nothing of a group with a dropped member until that member’s session has passed since the restart', async () => {
    const { log, clock, first } = await durableAtOnce();
    let c = first;
    const a = await heartbeat(c, request('a', 0));
    c.close();
    // A damaged log: "thief" claims partition 0, which a owns; it may be consuming it.
    const spec = pack([1, null, '', ['t'], SESSION_MS, SESSION_MS, 'uniform']);
    log.appendStored(partitionFor('g', log.partitionCount()!), encodeRecordBatch({ records: [{ key: pack([5, 'g', 'thief']), value: spec }, { key: pack([8, 'g', 'thief']), value: pack([1, 3, 3, 0, [['t', [0]]], [['t', [0]]]]) }] }));
    c = await coordinator(log, clock);
    const restartedAtMs = clock.monotonicMs();
    const rounds = async (): Promise<{ a: HeartbeatResponse; n: HeartbeatResponse }> => {
      let answers = { a, n: await heartbeat(c, request('n', 0)) };
      for (let i = 0; i < 4; i++) {
        answers = {
          a: await heartbeat(c, request('a', answers.a.memberEpoch, partitions(answers.a))),
          n: await heartbeat(c, request('n', answers.n.memberEpoch, partitions(answers.n))),
        };
      }
      return answers;
    };
    clock.advance(SESSION_MS - 1);
    let answers = await rounds();
    expect([partitions(answers.a), partitions(answers.n)], 'within the dropped member’s session').toEqual([[0, 1, 2, 3], []]);
    clock.set(restartedAtMs + SESSION_MS);
    answers = await rounds();
    expect([partitions(answers.a).length, partitions(answers.n).length], 'after it').toEqual([2, 2]);
    c.close();
  });
});
