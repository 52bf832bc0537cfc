/**
 * The Group state machine (src/coordinator/group.ts) driven step by step, with no broker and no
 * clock: times are passed in. A driver calls the Group exactly as GroupCoordinator does (join,
 * heartbeat, leave, expiry, topic changes, each followed by computeTarget / reconcileAll), and
 * a model-based property test checks the invariants after every step of random operation
 * sequences; example tests pin the individual rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AssignorName } from '../../src/coordinator/assignors/index.js';
import { Group, type GroupMember, type MemberSpec, type RemovalReason } from '../../src/coordinator/group.js';
import { sameKeys, toTopicPartitionLists, tpKey, type TpKey } from '../../src/coordinator/topic-partition.js';

// ---- the driver: the coordinator's call sequence, without I/O -----------------------------------

const TOPIC_NAMES = ['t0', 't1', 't2'] as const;

interface Snapshot {
  epoch: number;
  owned: Set<TpKey>;
  announced: Set<TpKey>;
  target: Set<TpKey>;
}

/** What a member reports owning at a heartbeat. */
type Report = 'announced' | { holdRevoking: number };

class Driver {
  readonly group: Group;
  nowMs = 0;
  /** Partition counts of existing topics. */
  readonly topics = new Map<string, number>();
  /** Largest partition count each topic ever had: the universe of keys to check. */
  readonly everPartitions = new Map<string, number>();
  /** Members whose target changed at some computeTarget of the current step. */
  retargeted = new Set<string>();
  /** New member id -> the member id it replaced (static takeover) during the current step. */
  replacedBy = new Map<string, string>();

  constructor(topics: Record<string, number>, groupId = 'g') {
    this.group = new Group(groupId, 0);
    for (const [topic, count] of Object.entries(topics)) this.setTopic(topic, count);
  }

  setTopic(topic: string, count: number | undefined): void {
    if (count === undefined) this.topics.delete(topic);
    else {
      this.topics.set(topic, count);
      this.everPartitions.set(topic, Math.max(count, this.everPartitions.get(topic) ?? 0));
    }
  }

  spec(memberId: string, subscribedTopics: string[], extra: Partial<MemberSpec> = {}): MemberSpec {
    return {
      memberId,
      instanceId: null,
      clientId: 'test',
      subscribedTopics: [...new Set(subscribedTopics)].sort(),
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      assignor: 'uniform',
      ...extra,
    };
  }

  private retarget(): void {
    const before = new Map([...this.group.members.keys()].map((id) => [id, new Set(this.group.targetOf(id))]));
    this.group.computeTarget((topic) => this.topics.get(topic));
    for (const id of this.group.members.keys()) {
      if (!sameKeys(before.get(id) ?? new Set(), this.group.targetOf(id))) this.retargeted.add(id);
    }
  }

  private reconcile(): GroupMember[] {
    return this.group.reconcileAll(this.nowMs);
  }

  /** GroupCoordinator.join. */
  join(spec: MemberSpec): GroupMember {
    const { member, changed, replaced } = this.group.join(spec, this.nowMs);
    if (replaced !== null) this.replacedBy.set(member.memberId, replaced.memberId);
    this.group.confirm(member, new Set());
    if (changed) this.retarget();
    this.reconcile();
    return member;
  }

  /**
   * GroupCoordinator.heartbeat at the member's current epoch (or, `stale`, an older one it may
   * still hold: from before its latest revocation when that is still acceptable),
   * reporting what it was last told (`announced`), or that plus some of the partitions it is
   * still revoking. `spec` changes the subscription or assignor.
   */
  heartbeat(member: GroupMember, report: Report = 'announced', options: { stale?: boolean; spec?: MemberSpec } = {}): Set<TpKey> {
    const epoch = options.stale === true ? Math.max(member.ackedEpoch, member.revocationEpoch - 1) : member.epoch;
    if (!member.acceptsEpoch(epoch)) throw new Error(`epoch ${epoch} is outside ${member.ackedEpoch}..${member.epoch}`);
    member.ackedEpoch = epoch;
    const owned = new Set(member.announced);
    if (report !== 'announced') {
      let bits = report.holdRevoking;
      for (const key of member.revoking) {
        if ((bits & 1) === 1) owned.add(key);
        bits = (bits >>> 1) | ((bits & 1) << 30);
      }
    }
    member.lastHeartbeatMs = this.nowMs;
    const reshaped = this.group.updateSpec(member, options.spec ?? member.spec);
    const released = epoch >= member.revocationEpoch && this.group.confirm(member, owned);
    if (reshaped) this.retarget();
    if (reshaped || released) this.reconcile();
    return owned;
  }

  /** GroupCoordinator.remove (the reason only goes to its log line). */
  remove(member: GroupMember, _reason: RemovalReason): void {
    this.group.remove(member, this.nowMs);
    if (this.group.members.size === 0) return;
    this.retarget();
    this.reconcile();
  }

  /** Time passes, then GroupCoordinator.expireMembers. */
  advance(ms: number): { memberId: string; reason: RemovalReason }[] {
    this.nowMs += ms;
    const expired = this.group.expired(this.nowMs);
    for (const { member, reason } of expired) this.remove(member, reason);
    return expired.map(({ member, reason }) => ({ memberId: member.memberId, reason }));
  }

  /** GroupCoordinator.onTopicsChanged. */
  topicsChanged(topic: string): void {
    if (!this.group.subscribedTopics.includes(topic)) return;
    this.group.groupEpoch++;
    this.retarget();
    this.reconcile();
  }

  /** Every member heartbeats once, reporting what it was told, in member order. */
  confirmRound(): void {
    for (const member of [...this.group.members.values()]) if (this.group.members.get(member.memberId) === member) this.heartbeat(member);
  }

  snapshot(): Map<string, Snapshot> {
    const out = new Map<string, Snapshot>();
    for (const [id, m] of this.group.members) {
      out.set(id, { epoch: m.epoch, owned: new Set(m.owned), announced: new Set(m.announced), target: new Set(this.group.targetOf(id)) });
    }
    return out;
  }

  startStep(): Map<string, Snapshot> {
    this.retargeted = new Set();
    this.replacedBy = new Map();
    return this.snapshot();
  }

  allKeys(): TpKey[] {
    const keys: TpKey[] = [];
    for (const [topic, count] of this.everPartitions) for (let p = 0; p < count; p++) keys.push(tpKey(topic, p));
    return keys;
  }
}

const sorted = (keys: Iterable<TpKey>): string => JSON.stringify(toTopicPartitionLists(keys));
const isSubset = (a: ReadonlySet<TpKey>, b: ReadonlySet<TpKey>): boolean => [...a].every((k) => b.has(k));
const settled = (s: Snapshot): boolean => sameKeys(s.owned, s.announced) && sameKeys(s.owned, s.target);

/** A plain check for the hot invariant loops (expect() per key would dominate the run time). */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}

// ---- invariants ------------------------------------------------------------------------------

/** The invariants that hold after every step. */
function checkInvariants(d: Driver, before: Map<string, Snapshot>, step: string): void {
  const { group } = d;
  const holders = new Map<TpKey, string>();
  for (const [id, m] of group.members) {
    for (const key of m.owned) {
      check(!holders.has(key), `${step}: ${key} owned by ${holders.get(key)} and ${id}`);
      holders.set(key, id);
      check(group.ownerOf(key) === id, `${step}: ownerOf(${key}) is ${group.ownerOf(key)}, ${id} owns it`);
    }
    check(isSubset(m.announced, m.owned), `${step}: ${id} announced ⊆ owned`);
    const target = group.targetOf(id);
    for (const key of m.owned) {
      check(target.has(key) || !m.announced.has(key), `${step}: ${id} owns ${key}, neither in its target nor being revoked`);
    }
    check(m.ackedEpoch <= m.epoch, `${step}: ${id} ackedEpoch ${m.ackedEpoch} <= epoch ${m.epoch}`);
  }
  for (const key of d.allKeys()) {
    const owner = group.ownerOf(key);
    check(owner === holders.get(key), `${step}: ownerOf(${key}) is ${owner}, the owned sets say ${holders.get(key)}`);
  }
  check((group.state === 'empty') === (group.members.size === 0), `${step}: state empty iff no members`);

  for (const [id, m] of group.members) {
    const lineage = d.replacedBy.get(id) ?? id;
    const prev = before.get(lineage);
    if (prev === undefined) continue;
    check(m.epoch >= prev.epoch, `${step}: ${id} epoch only grows (${prev.epoch} -> ${m.epoch})`);
    check(sameKeys(prev.announced, m.announced) || m.epoch > prev.epoch, `${step}: ${id} announced changed at epoch ${m.epoch}: the epoch must grow`);
    // No pause for others: a member at its target whose target did not change is untouched.
    if (settled(prev) && !d.retargeted.has(id) && sameKeys(prev.target, group.targetOf(id))) {
      check(sameKeys(m.owned, prev.owned), `${step}: ${id} kept its target, so keeps its partitions: ${sorted(prev.owned)} -> ${sorted(m.owned)}`);
      check(m.epoch === prev.epoch, `${step}: ${id} kept its target, so keeps its epoch (${prev.epoch} -> ${m.epoch})`);
    }
  }
}

/** Every partition of a subscribed, existing topic is in exactly one target, of a subscriber. */
function checkTargetComplete(d: Driver, step: string): void {
  const { group } = d;
  const targetOwner = new Map<TpKey, string>();
  for (const [id, m] of group.members) {
    for (const key of group.targetOf(id)) {
      expect(targetOwner.has(key), `${step}: ${key} in two targets`).toBe(false);
      targetOwner.set(key, id);
      const topic = key.slice(0, key.indexOf('\u0000'));
      expect(m.spec.subscribedTopics, `${step}: ${id} subscribes to ${topic}`).toContain(topic);
    }
  }
  for (const topic of group.subscribedTopics) {
    for (let p = 0; p < (d.topics.get(topic) ?? 0); p++) expect(targetOwner.has(tpKey(topic, p)), `${step}: ${topic}/${p} assigned`).toBe(true);
  }
}

/**
 * All members confirm, no time passes: within a few rounds everyone owns exactly its target.
 * (One round is what the design gives: a release is handed to its new owner in the same step.
 * The bound allows one more.)
 */
function settle(d: Driver, step: string, roundsMax = 2): number {
  let rounds = 0;
  while (d.group.state === 'reconciling') {
    expect(rounds, `${step}: converged within ${roundsMax} confirm rounds`).toBeLessThan(roundsMax);
    const before = d.startStep();
    d.confirmRound();
    checkInvariants(d, before, `${step} (confirm round ${rounds + 1})`);
    rounds++;
  }
  if (d.group.members.size > 0) expect(d.group.state).toBe('stable');
  for (const [id, m] of d.group.members) {
    expect(sorted(m.owned), `${step}: ${id} owned == target`).toBe(sorted(d.group.targetOf(id)));
    expect(sorted(m.announced), `${step}: ${id} announced == owned`).toBe(sorted(m.owned));
  }
  checkTargetComplete(d, step);
  // Stable is a fixed point: one more round moves nothing.
  const before = d.snapshot();
  d.confirmRound();
  for (const [id, m] of d.group.members) expect(m.epoch, `${step}: ${id} epoch stays once stable`).toBe(before.get(id)!.epoch);
  return rounds;
}

// ---- the property ------------------------------------------------------------------------------

const MEMBER_SLOTS = 6;
const INSTANCE_SLOTS = 3;

type Op =
  | { kind: 'join'; slot: number; topics: number; instance: number | null; assignor: AssignorName; sessionTimeoutMs: number; rebalanceTimeoutMs: number }
  | { kind: 'leave'; slot: number }
  | { kind: 'heartbeat'; slot: number; hold: number; stale: boolean }
  | { kind: 'subscribe'; slot: number; topics: number; assignor: AssignorName }
  | { kind: 'replaceStatic'; instance: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'grow'; topic: number; by: number }
  | { kind: 'deleteTopic'; topic: number }
  | { kind: 'settle' };

const topicMask = fc.integer({ min: 1, max: 7 });
const assignorArb = fc.constantFrom<AssignorName>('uniform', 'uniform', 'range');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('join' as const),
      slot: fc.nat(MEMBER_SLOTS - 1),
      topics: topicMask,
      instance: fc.option(fc.nat(INSTANCE_SLOTS - 1), { freq: 2 }),
      assignor: assignorArb,
      sessionTimeoutMs: fc.constantFrom(1000, 2000, 3000),
      rebalanceTimeoutMs: fc.constantFrom(500, 1000, 3000),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), slot: fc.nat(MEMBER_SLOTS - 1) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), slot: fc.nat(MEMBER_SLOTS - 1), hold: fc.oneof(fc.constant(0), fc.nat()), stale: fc.nat(4).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), slot: fc.nat(MEMBER_SLOTS - 1), topics: topicMask, assignor: assignorArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replaceStatic' as const), instance: fc.nat(INSTANCE_SLOTS - 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 0, max: 4000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), topic: fc.nat(TOPIC_NAMES.length - 1), by: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteTopic' as const), topic: fc.nat(TOPIC_NAMES.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

const scenarioArb = fc.record({
  partitions: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: TOPIC_NAMES.length }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }),
});

function topicsOfMask(mask: number, topicCount: number): string[] {
  const topics = TOPIC_NAMES.slice(0, topicCount).filter((_, i) => (mask & (1 << i)) !== 0);
  return topics.length > 0 ? topics : [TOPIC_NAMES[0]];
}

function runScenario({ partitions, ops }: { partitions: number[]; ops: Op[] }): void {
  const d = new Driver(Object.fromEntries(partitions.map((count, i) => [TOPIC_NAMES[i], count])));
  let replacements = 0;
  const bySlot = (slot: number): GroupMember | undefined => d.group.members.get(`m${slot}`);
  ops.forEach((op, i) => {
    const step = `step ${i} ${JSON.stringify(op)}`;
    const before = d.startStep();
    switch (op.kind) {
      case 'join': {
        const instanceId = op.instance === null ? null : `i${op.instance}`;
        d.join(d.spec(`m${op.slot}`, topicsOfMask(op.topics, partitions.length), { instanceId, assignor: op.assignor, sessionTimeoutMs: op.sessionTimeoutMs, rebalanceTimeoutMs: op.rebalanceTimeoutMs }));
        break;
      }
      case 'leave': {
        const member = bySlot(op.slot);
        if (member !== undefined) d.remove(member, 'left');
        break;
      }
      case 'heartbeat': {
        const member = bySlot(op.slot);
        if (member === undefined) break;
        const ownedBefore = new Set(member.owned);
        const reported = d.heartbeat(member, op.hold === 0 ? 'announced' : { holdRevoking: op.hold }, { stale: op.stale });
        // What a member says it still holds is never given to anyone else.
        for (const key of reported) if (ownedBefore.has(key)) check(member.owned.has(key), `${step}: ${key} released though ${member.memberId} still reports it`);
        break;
      }
      case 'subscribe': {
        const member = bySlot(op.slot);
        if (member !== undefined) d.heartbeat(member, 'announced', { spec: { ...member.spec, subscribedTopics: topicsOfMask(op.topics, partitions.length), assignor: op.assignor } });
        break;
      }
      case 'replaceStatic': {
        const previous = d.group.memberByInstance(`i${op.instance}`);
        if (previous !== undefined) d.join({ ...previous.spec, memberId: `r${++replacements}` });
        break;
      }
      case 'advance':
        d.advance(op.ms);
        break;
      case 'grow': {
        const topic = TOPIC_NAMES[op.topic];
        if (op.topic >= partitions.length) break;
        d.setTopic(topic, (d.topics.get(topic) ?? 0) + op.by);
        d.topicsChanged(topic);
        break;
      }
      case 'deleteTopic': {
        const topic = TOPIC_NAMES[op.topic];
        if (!d.topics.has(topic)) break;
        d.setTopic(topic, undefined);
        d.topicsChanged(topic);
        break;
      }
      case 'settle':
        settle(d, step);
        return;
    }
    checkInvariants(d, before, step);
  });
  settle(d, 'final settle');
}

describe('Group: model-based property', () => {
  it('keeps one owner per partition, announced ⊆ owned ⊆ target ∪ revoking, growing epochs, no pause for others, and converges', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => runScenario(scenario)),
      { numRuns: 500, seed: 848_001 },
    );
  });

  it('also under unseeded random sequences', () => {
    fc.assert(fc.property(scenarioArb, (scenario) => runScenario(scenario)), { numRuns: 100 });
  });
});

// ---- examples -----------------------------------------------------------------------------------

const keysOf = (topic: string, partitions: number[]): Set<TpKey> => new Set(partitions.map((p) => tpKey(topic, p)));
const partitionsOf = (keys: Iterable<TpKey>, topic = 't'): number[] => toTopicPartitionLists(keys).find((l) => l.topic === topic)?.partitions ?? [];

describe('Group: join and leave', () => {
  it('gives a first member everything at once, and a joiner only what the other released', () => {
    const d = new Driver({ t: 4 });
    const a = d.join(d.spec('a', ['t']));
    expect(partitionsOf(a.announced)).toEqual([0, 1, 2, 3]);
    expect(d.group.state).toBe('stable');
    const aEpoch = a.epoch;

    const b = d.join(d.spec('b', ['t']));
    expect(b.owned.size).toBe(0);
    expect(d.group.pendingOf(b).size).toBe(2);
    expect(a.announced.size).toBe(2);
    expect(a.owned.size).toBe(4);
    expect(a.epoch).toBe(aEpoch + 1);
    expect(d.group.state).toBe('reconciling');

    // a confirms: what it gave up goes to b in the same step.
    const bEpoch = b.epoch;
    d.heartbeat(a);
    expect(sorted(b.owned)).toBe(sorted(d.group.targetOf('b')));
    expect(b.owned.size).toBe(2);
    expect(b.epoch).toBe(bEpoch + 1);
    expect(a.epoch).toBe(aEpoch + 1);
    expect(d.group.state).toBe('stable');

    // a leaves: b gets everything, without a revocation step.
    d.remove(a, 'left');
    expect(partitionsOf(b.announced)).toEqual([0, 1, 2, 3]);
    expect(d.group.state).toBe('stable');
    d.remove(b, 'left');
    expect(d.group.state).toBe('empty');
    expect(d.group.emptySinceMs).toBe(d.nowMs);
  });

  it('does not release a partition the member still reports, nor on a heartbeat from before the revocation', () => {
    const d = new Driver({ t: 2 });
    const a = d.join(d.spec('a', ['t']));
    const b = d.join(d.spec('b', ['t']));
    const [revoked] = a.revoking;
    d.heartbeat(a, 'announced', { stale: true });
    expect(a.owned.has(revoked)).toBe(true);
    d.heartbeat(a, { holdRevoking: 1 });
    expect(a.owned.has(revoked)).toBe(true);
    expect(b.owned.size).toBe(0);
    d.heartbeat(a);
    expect(a.owned.has(revoked)).toBe(false);
    expect(b.owned.has(revoked)).toBe(true);
  });

  it('returns a partition being revoked to its owner when the target changes back, with a new epoch', () => {
    const d = new Driver({ t: 2 });
    const a = d.join(d.spec('a', ['t']));
    const b = d.join(d.spec('b', ['t']));
    expect(a.revoking.size).toBe(1);
    const epoch = a.epoch;
    d.remove(b, 'left');
    expect(a.revoking.size).toBe(0);
    expect(partitionsOf(a.announced)).toEqual([0, 1]);
    expect(a.epoch).toBe(epoch + 1);
    expect(a.revokeSinceMs).toBeNull();
  });
});

describe('Group: expiry', () => {
  it('expires a silent member for its session timeout, strictly after it', () => {
    const d = new Driver({ t: 2 });
    const a = d.join(d.spec('a', ['t'], { sessionTimeoutMs: 1000 }));
    const b = d.join(d.spec('b', ['t'], { sessionTimeoutMs: 3000 }));
    d.heartbeat(a);
    expect(d.advance(1000)).toEqual([]);
    d.heartbeat(b);
    expect(d.advance(1)).toEqual([{ memberId: 'a', reason: 'session-timeout' }]);
    expect(partitionsOf(b.announced)).toEqual([0, 1]);
  });

  it('expires a member that heartbeats but does not revoke within its rebalance timeout', () => {
    const d = new Driver({ t: 4 });
    const a = d.join(d.spec('a', ['t'], { sessionTimeoutMs: 3000, rebalanceTimeoutMs: 1000 }));
    d.advance(500);
    const b = d.join(d.spec('b', ['t'], { sessionTimeoutMs: 3000 }));
    expect(a.revokeSinceMs).toBe(500);
    for (let i = 0; i < 2; i++) {
      d.advance(400);
      d.heartbeat(a, { holdRevoking: -1 });
      d.heartbeat(b);
      expect(d.group.members.has('a')).toBe(true);
    }
    expect(d.advance(200)).toEqual([]); // exactly 1000 ms since the revocation was asked
    expect(d.advance(1)).toEqual([{ memberId: 'a', reason: 'rebalance-timeout' }]);
    expect(partitionsOf(b.announced)).toEqual([0, 1, 2, 3]);
  });

  it('does not restart a member’s rebalance clock for a change that leaves its assignment alone', () => {
    const d = new Driver({ t: 2, u: 2 });
    const a = d.join(d.spec('a', ['t'], { sessionTimeoutMs: 5000, rebalanceTimeoutMs: 1000 }));
    d.join(d.spec('b', ['t'], { sessionTimeoutMs: 5000 }));
    expect(a.revokeSinceMs).toBe(0);
    d.advance(600);
    const announced = sorted(a.announced);
    d.join(d.spec('c', ['u'], { sessionTimeoutMs: 5000 })); // reconciles everyone, a's target unchanged
    expect(sorted(a.announced)).toBe(announced);
    expect(a.revokeSinceMs).toBe(0);
    d.heartbeat(a, { holdRevoking: -1 });
    expect(d.advance(401)).toEqual([{ memberId: 'a', reason: 'rebalance-timeout' }]);
  });

  it('reports session-timeout rather than rebalance-timeout when both have passed', () => {
    const d = new Driver({ t: 2 });
    d.join(d.spec('a', ['t'], { sessionTimeoutMs: 1000, rebalanceTimeoutMs: 500 }));
    d.join(d.spec('b', ['t'], { sessionTimeoutMs: 5000 }));
    expect(d.advance(2000)).toEqual([{ memberId: 'a', reason: 'session-timeout' }]);
  });

  it('stops the rebalance clock once the member has confirmed', () => {
    const d = new Driver({ t: 2 });
    const a = d.join(d.spec('a', ['t'], { sessionTimeoutMs: 5000, rebalanceTimeoutMs: 1000 }));
    d.join(d.spec('b', ['t'], { sessionTimeoutMs: 5000 }));
    d.heartbeat(a);
    expect(a.revokeSinceMs).toBeNull();
    expect(d.advance(2000)).toEqual([]);
  });
});

describe('Group: static membership', () => {
  it('lets a new member id with the same instance id take the old one’s place: epoch, partitions and target, no rebalance', () => {
    const d = new Driver({ t: 6 });
    const a = d.join(d.spec('a', ['t'], { instanceId: 'host-1' }));
    const b = d.join(d.spec('b', ['t']));
    d.heartbeat(a);
    expect(d.group.state).toBe('stable');
    const aState = { epoch: a.epoch, owned: sorted(a.owned), target: sorted(d.group.targetOf('a')) };
    const bState = { epoch: b.epoch, owned: sorted(b.owned) };
    const groupEpoch = d.group.groupEpoch;

    const a2 = d.join(d.spec('a2', ['t'], { instanceId: 'host-1' }));
    expect(d.replacedBy.get('a2')).toBe('a');
    expect(d.group.members.has('a')).toBe(false);
    expect(d.group.memberByInstance('host-1')).toBe(a2);
    expect({ epoch: a2.epoch, owned: sorted(a2.owned), target: sorted(d.group.targetOf('a2')) }).toEqual(aState);
    expect(sorted(a2.announced)).toBe(aState.owned);
    for (const key of a2.owned) expect(d.group.ownerOf(key)).toBe('a2');
    expect({ epoch: b.epoch, owned: sorted(b.owned) }).toEqual(bState);
    expect(d.group.groupEpoch).toBe(groupEpoch);
    expect(d.group.state).toBe('stable');
  });

  it('takes over a static member that was revoking: the newcomer holds nothing, so the revoked partitions are released', () => {
    const d = new Driver({ t: 2 });
    d.join(d.spec('a', ['t'], { instanceId: 'host-1' }));
    const b = d.join(d.spec('b', ['t']));
    expect(d.group.pendingOf(b).size).toBe(1);
    const a2 = d.join(d.spec('a2', ['t'], { instanceId: 'host-1' }));
    expect(a2.revoking.size).toBe(0);
    expect(b.owned.size).toBe(1);
    expect(d.group.state).toBe('stable');
  });

  it('rebalances when the newcomer subscribes differently', () => {
    const d = new Driver({ t: 2, u: 2 });
    d.join(d.spec('a', ['t'], { instanceId: 'host-1' }));
    const groupEpoch = d.group.groupEpoch;
    const a2 = d.join(d.spec('a2', ['u'], { instanceId: 'host-1' }));
    expect(d.group.groupEpoch).toBe(groupEpoch + 1);
    expect(partitionsOf(d.group.targetOf('a2'), 'u')).toEqual([0, 1]);
    d.heartbeat(a2);
    expect(partitionsOf(a2.owned, 'u')).toEqual([0, 1]);
    expect(partitionsOf(a2.owned, 't')).toEqual([]);
  });
});

describe('Group: assignor agreement', () => {
  const withAssignors = (assignors: AssignorName[]): Group => {
    const d = new Driver({ t: 4 });
    assignors.forEach((assignor, i) => d.join(d.spec(`m${i}`, ['t'], { assignor })));
    return d.group;
  };

  it('uses the assignor most members ask for, ties by name, uniform for an empty group', () => {
    expect(withAssignors(['range', 'range', 'uniform']).assignorName).toBe('range');
    expect(withAssignors(['uniform', 'uniform', 'range']).assignorName).toBe('uniform');
    expect(withAssignors(['uniform', 'range']).assignorName).toBe('range');
    expect(withAssignors(['range', 'uniform']).assignorName).toBe('range');
    expect(withAssignors(['uniform']).assignorName).toBe('uniform');
    const empty = new Group('g', 0);
    empty.computeTarget(() => undefined);
    expect(empty.assignorName).toBe('uniform');
  });

  it('switches when a subscription change tips the vote, and the target follows the assignor', () => {
    const d = new Driver({ t: 5 });
    const m0 = d.join(d.spec('m0', ['t'], { assignor: 'uniform' }));
    d.join(d.spec('m1', ['t'], { assignor: 'uniform' }));
    d.join(d.spec('m2', ['t'], { assignor: 'range' }));
    expect(d.group.assignorName).toBe('uniform');
    d.heartbeat(m0, 'announced', { spec: { ...m0.spec, assignor: 'range' } });
    expect(d.group.assignorName).toBe('range');
    // Range: contiguous runs, the first P mod N members one more, in member id order.
    expect(partitionsOf(d.group.targetOf('m0'))).toEqual([0, 1]);
    expect(partitionsOf(d.group.targetOf('m1'))).toEqual([2, 3]);
    expect(partitionsOf(d.group.targetOf('m2'))).toEqual([4]);
    settle(d, 'range');
  });

  it('assigns nothing of topics that do not exist, and everything once they do', () => {
    const d = new Driver({});
    const a = d.join(d.spec('a', ['later']));
    expect(a.announced.size).toBe(0);
    d.setTopic('later', 3);
    d.topicsChanged('later');
    expect(sorted(a.announced)).toBe(sorted(keysOf('later', [0, 1, 2])));
  });
});
