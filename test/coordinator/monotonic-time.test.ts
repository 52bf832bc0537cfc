/**
 * Session and rebalance timeouts, and the initial assignment hold, are durations: they must be
 * measured on a monotonic clock, so a wall-clock step (NTP, an operator, a VM resumed) neither
 * expires live members nor keeps dead ones forever (issue 11, finding 19). The coordinator is
 * driven directly with two manual clocks, the wall clock and the monotonic one, moved apart.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/logger.js';
import { DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '../../src/coordinator/config.js';
import { GroupCoordinator, type TopicView } from '../../src/coordinator/coordinator.js';
import type { OffsetLog } from '../../src/coordinator/offset-store.js';
import type { HeartbeatRequest } from '../../src/coordinator/requests.js';

const HOUR_MS = 60 * 60 * 1000;
const SESSION_MS = 10_000;
const WALL_START_MS = 1_700_000_000_000;

/** One topic "t" of 2 partitions, empty; an offsets log that keeps nothing (no commits here). */
const topics: TopicView = {
  partitionCount: (topic) => (topic === 't' ? 2 : undefined),
  offsets: () => ({ logStartOffset: 0, highWatermark: 0 }),
  offsetForTimestamp: () => Promise.resolve(0),
};
const offsetLog: OffsetLog = {
  partitionCount: () => 1,
  create: () => Promise.resolve(1),
  appendDurable: () => Promise.resolve(),
  read: async function* () {}, // an empty log
  fileOf: (partition, offset) => `memory:${partition}@${offset}`,
};

function coordinator(overrides: Partial<CoordinatorConfig> = {}): { c: GroupCoordinator; wall: ManualClock; mono: ManualClock } {
  const wall = new ManualClock(WALL_START_MS);
  const mono = new ManualClock(5_000);
  const config = { ...DEFAULT_COORDINATOR_CONFIG, initialAssignmentDelayMs: 0, maxPartitionsPerRequest: 1000, ...overrides };
  return { c: new GroupCoordinator(config, topics, offsetLog, silentLogger, wall, mono), wall, mono };
}

function join(memberId: string): HeartbeatRequest {
  return { groupId: 'g', memberId, memberEpoch: 0, instanceId: '', clientId: '', subscribedTopics: ['t'], ownedPartitions: [], sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: 0, assignor: '', maxWaitMs: 0 };
}

const members = (c: GroupCoordinator): string[] => [...(c.groups.get('g')?.members.keys() ?? [])];

describe('coordinator: durations on the monotonic clock', () => {
  it('a wall clock one hour ahead expires no session; monotonic time does', async () => {
    const { c, wall, mono } = coordinator();
    await c.heartbeat(join('a'), new AbortController().signal);
    wall.advance(HOUR_MS);
    c.expireMembers();
    expect(members(c)).toEqual(['a']);
    mono.advance(SESSION_MS + 1);
    c.expireMembers();
    expect(members(c)).toEqual([]);
    c.close();
  });

  it('a wall clock one hour behind keeps no dead member: its session still ends on time', async () => {
    const { c, wall, mono } = coordinator();
    await c.heartbeat(join('a'), new AbortController().signal);
    wall.advance(-HOUR_MS);
    mono.advance(SESSION_MS + 1);
    c.expireMembers();
    expect(members(c)).toEqual([]);
    c.close();
  });

  it('the initial assignment hold ends after its duration, whatever the wall clock did', async () => {
    const { c, wall, mono } = coordinator({ initialAssignmentDelayMs: 3_000 });
    wall.advance(-HOUR_MS);
    mono.advance(3_001);
    const answer = await c.heartbeat(join('a'), new AbortController().signal);
    expect(answer.assignment.flatMap((a) => a.partitions)).toEqual([0, 1]);
    c.close();
  });
});
