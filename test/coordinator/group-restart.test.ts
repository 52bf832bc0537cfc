/**
 * Group membership across coordinator restarts (issue 11, finding 17), driven directly with a
 * manual monotonic clock and an in-memory `__consumer_offsets` that can crash: an append is
 * durable once the test releases it; a crash keeps the durable batches of each partition plus a
 * random prefix of the rest (what a process crash leaves: the fsync'd prefix, maybe more).
 *
 * Model clients behave as the SDK does (src/client/groups/membership.ts): one heartbeat in
 * flight each; an answer's assignment is what they own from then on (revoked partitions are
 * dropped at once, new ones taken); UNKNOWN_MEMBER_ID / FENCED_MEMBER_EPOCH lose everything;
 * a client not answered for a whole session drops its partitions itself (its watchdog). Some
 * clients die (stop heartbeating, still owning until that watchdog fires), some leave.
 *
 * At every point of a seeded random sequence of joins, heartbeats, leaves, deaths, clock ticks
 * (with expiry), durability releases and restarts (a new coordinator replaying the crashed log):
 *   - no partition is given to a client while another client owns it (the invariant of the
 *     issue: not before its owner revoked it or its session expired);
 *   - after a restart, every client the coordinator may not have expired yet is still a member,
 *     at an epoch at least the one it was told, counting as its own everything the client owns;
 *   - after a restart with nothing left to make durable, the group is exactly as it was;
 * and at the end, once dead clients expired, the live ones converge to one owner per partition.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { RunnelError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { DEFAULT_COORDINATOR_CONFIG } from '../../src/coordinator/config.js';
import { GroupCoordinator, type HeartbeatResponse, type TopicView } from '../../src/coordinator/coordinator.js';
import { parseTpKey, tpKey, type TpKey } from '../../src/coordinator/topic-partition.js';
import { rng } from '../storage/helpers.js';
import { CrashableLog } from './crashable-log.js';

const GROUP = 'g';
const TOPIC_PARTITIONS: Record<string, number> = { t: 8, u: 3 };
const SESSION_MS = 10_000;
const LIVE_CLIENTS_MAX = 6;
const STEPS = 300;
const SEEDS = process.env.RUNNEL_GROUP_RESTART_SEED === undefined ? Array.from({ length: 25 }, (_, i) => 1000 + i * 7919) : [Number(process.env.RUNNEL_GROUP_RESTART_SEED)];

const topics: TopicView = {
  partitionCount: (topic) => TOPIC_PARTITIONS[topic],
  offsets: () => ({ logStartOffset: 0, highWatermark: 0 }),
  offsetForTimestamp: () => Promise.resolve(0),
};

/** One consumer as the SDK runs it. */
interface Client {
  memberId: string;
  /** Static membership: a later client with the same instance id takes this one's place. */
  instanceId: string | null;
  subscribedTopics: string[];
  epoch: number;
  owned: Set<TpKey>;
  inFlight: boolean;
  /** When the last heartbeat that got an answer was sent (the start, before any). */
  lastAnsweredSentAtMs: number;
  state: 'live' | 'dead' | 'left';
}

interface MemberImage {
  epoch: number;
  revocationEpoch: number;
  owned: TpKey[];
  announced: TpKey[];
  target: TpKey[];
  subscribedTopics: string[];
  sessionTimeoutMs: number;
  instanceId: string | null;
}

const sortedKeys = (keys: Iterable<TpKey>): TpKey[] => [...keys].sort();

function image(c: GroupCoordinator): { groupEpoch: number; members: Record<string, MemberImage> } | null {
  const group = c.groups.get(GROUP);
  if (group === undefined || group.members.size === 0) return null;
  const members: Record<string, MemberImage> = {};
  for (const [id, m] of [...group.members].sort(([a], [b]) => (a < b ? -1 : 1))) {
    members[id] = {
      epoch: m.epoch,
      revocationEpoch: m.revocationEpoch,
      owned: sortedKeys(m.owned),
      announced: sortedKeys(m.announced),
      target: sortedKeys(group.targetOf(id)),
      subscribedTopics: m.spec.subscribedTopics,
      sessionTimeoutMs: m.spec.sessionTimeoutMs,
      instanceId: m.spec.instanceId,
    };
  }
  return { groupEpoch: group.groupEpoch, members };
}

/** Lets every answer that can arrive arrive (promise chains and the log's reads). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

class Scenario {
  readonly clock = new ManualClock(1_000);
  readonly log = new CrashableLog();
  readonly clients: Client[] = [];
  /** Who owns each partition now, as the clients believe. */
  readonly owners = new Map<TpKey, Client>();
  readonly problems: string[] = [];
  coordinator!: GroupCoordinator;
  /** Bumped at each restart: answers of a crashed coordinator never arrive. */
  generation = 0;
  restarts = 0;
  cleanRestarts = 0;
  private failuresAtRestart = 0;
  private started = 0;

  constructor(
    private readonly random: () => number,
    private readonly seed: number,
  ) {}

  async boot(): Promise<void> {
    this.coordinator = new GroupCoordinator({ ...DEFAULT_COORDINATOR_CONFIG, maxPartitionsPerRequest: 1000 }, topics, this.log, silentLogger, this.clock, this.clock);
    await this.coordinator.start();
  }

  where(step: number | string): string {
    return `seed ${this.seed}, step ${step}`;
  }

  startClient(subscribedTopics = this.random() < 0.7 ? ['t'] : ['t', 'u'], instanceId = this.random() < 0.3 ? `i${this.started + 1}` : null): void {
    const client: Client = { memberId: `m${++this.started}`, instanceId, subscribedTopics, epoch: 0, owned: new Set(), inFlight: false, lastAnsweredSentAtMs: this.clock.monotonicMs(), state: 'live' };
    this.clients.push(client);
    this.send(client, 0);
  }

  send(client: Client, epoch: number): void {
    const generation = this.generation;
    const sentAtMs = this.clock.monotonicMs();
    client.inFlight = epoch >= 0;
    const request = {
      groupId: GROUP,
      memberId: client.memberId,
      memberEpoch: epoch,
      instanceId: client.instanceId ?? '',
      clientId: 'model',
      subscribedTopics: client.subscribedTopics,
      ownedPartitions: [...new Set([...client.owned].map((k) => parseTpKey(k).topic))].map((topic) => ({ topic, partitions: [...client.owned].filter((k) => parseTpKey(k).topic === topic).map((k) => parseTpKey(k).partition) })),
      sessionTimeoutMs: SESSION_MS,
      rebalanceTimeoutMs: 0,
      assignor: '',
      maxWaitMs: 0,
    };
    this.coordinator.heartbeat(request, new AbortController().signal).then(
      (answer) => {
        if (generation !== this.generation || epoch < 0) return;
        client.inFlight = false;
        this.onAnswer(client, answer, sentAtMs);
      },
      (err: unknown) => {
        if (generation !== this.generation || epoch < 0) return;
        client.inFlight = false;
        const code = err instanceof RunnelError ? err.code : String(err);
        if (code === 'UNKNOWN_MEMBER_ID' || code === 'FENCED_MEMBER_EPOCH') this.lose(client);
        else if (!(err instanceof RunnelError) || !err.retriable) this.problems.push(`${client.memberId}: unexpected heartbeat error ${String(err)}`);
      },
    );
  }

  private onAnswer(client: Client, answer: HeartbeatResponse, sentAtMs: number): void {
    if (client.state === 'left') return;
    client.lastAnsweredSentAtMs = sentAtMs;
    client.epoch = answer.memberEpoch;
    const assignment = new Set(answer.assignment.flatMap(({ topic, partitions }) => partitions.map((p) => tpKey(topic, p))));
    for (const key of [...client.owned]) if (!assignment.has(key)) this.drop(client, key);
    for (const key of assignment) {
      if (client.owned.has(key)) continue;
      const other = this.owners.get(key);
      if (other !== undefined) this.problems.push(`${parseTpKey(key).topic}-${parseTpKey(key).partition} given to ${client.memberId} (epoch ${answer.memberEpoch}) while ${other.memberId} (${other.state}, epoch ${other.epoch}) owns it`);
      client.owned.add(key);
      this.owners.set(key, client);
    }
  }

  private drop(client: Client, key: TpKey): void {
    client.owned.delete(key);
    if (this.owners.get(key) === client) this.owners.delete(key);
  }

  lose(client: Client): void {
    for (const key of [...client.owned]) this.drop(client, key);
    client.epoch = 0;
  }

  /** The SDK's watchdog: no answer for a whole session, the partitions are given up. */
  watchdogs(): void {
    const nowMs = this.clock.monotonicMs();
    for (const client of this.clients) if (client.owned.size > 0 && nowMs - client.lastAnsweredSentAtMs >= SESSION_MS) this.lose(client);
  }

  /** The SDK's close(): everything revoked, then the leave (a static member's says "back soon"). */
  leave(client: Client): void {
    this.lose(client);
    client.state = 'left';
    this.send(client, client.instanceId === null ? -1 : -2);
  }

  /** A static member's process is killed (or closed) and started again: same instance id, new member id. */
  bounce(client: Client): void {
    if (client.state === 'live') this.lose(client);
    client.state = 'left';
    this.startClient(client.subscribedTopics, client.instanceId);
  }

  async restart(step: number): Promise<void> {
    // Clean: nothing in flight, and no append failed since the last restart (after a failure the
    // log lags the memory until the group is written again, before its next answer).
    const clean = this.log.pending === 0 && this.log.failures === this.failuresAtRestart;
    this.failuresAtRestart = this.log.failures;
    const before = image(this.coordinator);
    this.coordinator.close();
    this.log.crash(this.random);
    this.generation++;
    for (const client of this.clients) client.inFlight = false;
    this.clock.advance(100 + Math.floor(this.random() * 2000));
    await this.boot();
    this.restarts++;
    const after = image(this.coordinator);
    if (clean) {
      this.cleanRestarts++;
      expect(after, `${this.where(step)}: the group after a restart with everything durable`).toEqual(before);
    }
    const nowMs = this.clock.monotonicMs();
    for (const client of this.clients) {
      if (client.state === 'left' || client.epoch === 0 || nowMs - client.lastAnsweredSentAtMs > SESSION_MS) continue;
      const member = after?.members[client.memberId];
      const what = `${this.where(step)}: ${client.memberId} (told epoch ${client.epoch}, owns [${sortedKeys(client.owned).map((k) => k.replace('\u0000', '-')).join(',')}]) after the restart`;
      expect(member, `${what}: still a member`).toBeDefined();
      expect(member!.epoch, `${what}: its epoch`).toBeGreaterThanOrEqual(client.epoch);
      expect(member!.owned, `${what}: counted as its own`).toEqual(expect.arrayContaining(sortedKeys(client.owned)));
    }
  }

  live(): Client[] {
    return this.clients.filter((c) => c.state === 'live');
  }

  pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  async step(step: number): Promise<void> {
    const r = this.random();
    const live = this.live();
    if (r < 0.1 && live.length < LIVE_CLIENTS_MAX) this.startClient();
    else if (r < 0.5) {
      const client = this.pick(live.filter((c) => !c.inFlight));
      if (client !== undefined) this.send(client, client.epoch);
    } else if (r < 0.7) this.log.release();
    else if (r < 0.82) {
      this.clock.advance(Math.floor(this.random() * 3000));
      this.watchdogs();
      this.coordinator.expireMembers();
    } else if (r < 0.86) {
      const client = this.pick(live);
      if (client !== undefined) this.leave(client);
    } else if (r < 0.89) {
      const client = this.pick(live);
      if (client !== undefined) client.state = 'dead';
    } else if (r < 0.91) {
      // The latest client of each instance id that is not dead may come back as a new process.
      const latest = new Map(this.clients.filter((c) => c.instanceId !== null).map((c) => [c.instanceId, c]));
      const client = this.pick([...latest.values()].filter((c) => c.state !== 'dead'));
      if (client !== undefined && this.live().length < LIVE_CLIENTS_MAX) this.bounce(client);
    } else if (r < 0.93) this.log.failNext = 1 + Math.floor(this.random() * 2);
    else if (r < 0.98) await this.restart(step);
    await settle();
    expect(this.problems, this.where(step)).toEqual([]);
  }

  /** Dead clients expire, the live ones heartbeat until each partition of their topics has one owner. */
  async converge(): Promise<void> {
    this.clock.advance(SESSION_MS + 1);
    this.watchdogs();
    this.coordinator.expireMembers();
    for (const client of this.live()) client.lastAnsweredSentAtMs = this.clock.monotonicMs();
    const live = this.live();
    const wanted = new Set(live.flatMap((c) => c.subscribedTopics).flatMap((topic) => Array.from({ length: TOPIC_PARTITIONS[topic] }, (_, p) => tpKey(topic, p))));
    const done = (): boolean => [...wanted].every((key) => live.includes(this.owners.get(key)!)) && [...this.owners.keys()].every((key) => wanted.has(key));
    for (let round = 0; round < 30 && !done(); round++) {
      for (const client of live) if (!client.inFlight) this.send(client, client.epoch);
      await settle();
      this.log.release();
      await settle();
    }
    expect(this.problems, this.where('converge')).toEqual([]);
    expect(done(), `${this.where('converge')}: one live owner per partition; owners ${JSON.stringify([...this.owners].map(([k, c]) => [k.replace('\u0000', '-'), c.memberId]))}`).toBe(true);
  }
}

describe('coordinator restarts: membership and ownership survive (finding 17)', () => {
  it.each(SEEDS)('no partition has a second owner, and members keep epochs and partitions across restarts (seed %i)', async (seed) => {
    const scenario = new Scenario(rng(seed), seed);
    await scenario.boot();
    scenario.startClient();
    await settle();
    for (let step = 1; step <= STEPS; step++) await scenario.step(step);
    await scenario.restart(STEPS + 1);
    await scenario.converge();
    expect(scenario.restarts).toBeGreaterThan(5);
    scenario.coordinator.close();
  });

  it('a member silent across a restart keeps its partitions until it comes back; a newcomer waits for them', async () => {
    const scenario = new Scenario(rng(1), 1);
    await scenario.boot();
    // Past the initial assignment hold of a first start.
    scenario.clock.advance(DEFAULT_COORDINATOR_CONFIG.initialAssignmentDelayMs + 1);
    scenario.startClient(['t']);
    await settle();
    scenario.log.release();
    await settle();
    const [first] = scenario.clients;
    expect(first.owned.size).toBe(8);
    await scenario.restart(1);
    // The newcomer joins right after the restart; the first member has not heard of it yet.
    scenario.clock.advance(4_000);
    scenario.startClient(['t']);
    for (let round = 0; round < 5; round++) {
      scenario.log.release();
      await settle();
      const second = scenario.clients[1];
      if (!second.inFlight) scenario.send(second, second.epoch);
      await settle();
    }
    expect(scenario.problems).toEqual([]);
    expect(first.owned.size, 'the silent member still owns everything').toBe(8);
    expect(scenario.clients[1].owned.size, 'the newcomer waits').toBe(0);
    // The first member comes back with its old epoch: recognised, asked to revoke half.
    for (let round = 0; round < 5; round++) {
      for (const client of scenario.clients) if (!client.inFlight) scenario.send(client, client.epoch);
      await settle();
      scenario.log.release();
      await settle();
    }
    expect(scenario.problems).toEqual([]);
    expect([first.owned.size, scenario.clients[1].owned.size]).toEqual([4, 4]);
    scenario.coordinator.close();
  });
});
