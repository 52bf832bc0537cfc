/**
 * One consumer group's membership and assignment, as a state machine with no I/O and no
 * clock of its own (times are passed in), so it can be driven step by step in tests.
 *
 * Three assignments per member:
 *   target     what the assignor wants the member to own (recomputed when the group changes)
 *   owned      what the coordinator counts as the member's: the partitions it was given and has
 *              not yet confirmed giving up. A partition is in at most one member's `owned`
 *              (the `owners` map): this is what guarantees no two owners at any moment.
 *   announced  what the member was told it may own at its current epoch (owned minus the
 *              partitions it is asked to revoke).
 *
 * Reconciling a member moves it one step towards its target, never both ways at once: first,
 * partitions it owns outside its target are revoked (announced shrinks, epoch bumps); once the
 * member heartbeats at that epoch without them, they are released (removed from `owned`); then
 * partitions of its target that no other member owns are given to it (owned and announced grow,
 * epoch bumps). Members whose target did not change are untouched: a join or a leave pauses
 * nobody else. A member that does not confirm a revocation within its rebalance timeout, or
 * does not heartbeat within its session timeout, is removed and its partitions are freed.
 */
import { assert } from '../common/assert.js';
import { assignorByName, type AssignorMember, type AssignorName } from './assignors/index.js';
import { difference, intersection, sameKeys, toTopicPartitionLists, tpKey, type TpKey } from './topic-partition.js';

export interface MemberSpec {
  memberId: string;
  /** Static membership id, or null. */
  instanceId: string | null;
  clientId: string;
  /** Sorted, no duplicates. */
  subscribedTopics: string[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  assignor: AssignorName;
}

export type GroupStateName = 'empty' | 'reconciling' | 'stable';

/** Why a member left the group, for logs and metrics. */
export type RemovalReason = 'left' | 'session-timeout' | 'rebalance-timeout' | 'replaced' | 'fenced';

const NO_KEYS: ReadonlySet<TpKey> = new Set();

export class GroupMember {
  epoch = 0;
  /**
   * The highest epoch the member has sent: epochs from there up to `epoch` were all answered to
   * it, and it may hold any of them (answers in flight, a cancelled long poll). Below it is a
   * replay of something it has moved past.
   */
  ackedEpoch = 0;
  /** The epoch at which the latest revocation was announced: only heartbeats at or above it have seen it. */
  revocationEpoch = 0;
  owned = new Set<TpKey>();
  announced = new Set<TpKey>();
  /** When the coordinator first asked for partitions back and has not got them all yet. */
  revokeSinceMs: number | null = null;

  constructor(
    public spec: MemberSpec,
    public lastHeartbeatMs: number,
  ) {}

  get memberId(): string {
    return this.spec.memberId;
  }

  /** Partitions the member is asked to give up and still holds. */
  get revoking(): Set<TpKey> {
    return difference(this.owned, this.announced);
  }

  bumpEpoch(): void {
    this.epoch++;
  }

  /** True for an epoch the member may legitimately hold (see ackedEpoch). */
  acceptsEpoch(epoch: number): boolean {
    return epoch >= this.ackedEpoch && epoch <= this.epoch;
  }
}

/** Partition counts of existing topics, by name (undefined: no such topic). */
export type PartitionCounts = (topic: string) => number | undefined;

export class Group {
  readonly members = new Map<string, GroupMember>();
  private readonly byInstance = new Map<string, string>();
  private readonly owners = new Map<TpKey, string>();
  private target = new Map<string, Set<TpKey>>();
  /** Bumped by each change of membership, subscriptions, or subscribed topics' partitions. */
  groupEpoch = 0;
  assignorName: AssignorName = 'uniform';
  /** When the group last had no members (creation time for a new group). */
  emptySinceMs: number;
  /**
   * Members (ids) whose stored state (group-records.ts: spec, target, epochs, assignment) may
   * have changed since the last takeChanged(), so that only they are encoded and compared.
   */
  private readonly changed = new Set<string>();

  constructor(
    readonly groupId: string,
    nowMs: number,
  ) {
    this.emptySinceMs = nowMs;
  }

  get state(): GroupStateName {
    if (this.members.size === 0) return 'empty';
    for (const member of this.members.values()) {
      const target = this.targetOf(member.memberId);
      if (!sameKeys(member.owned, member.announced) || !sameKeys(member.owned, target)) return 'reconciling';
    }
    return 'stable';
  }

  /** Topics any member subscribes to, sorted. */
  get subscribedTopics(): string[] {
    const topics = new Set<string>();
    for (const member of this.members.values()) for (const topic of member.spec.subscribedTopics) topics.add(topic);
    return [...topics].sort();
  }

  /** The members changed since the last call (removed ones included), and forgets them. */
  takeChanged(): string[] {
    const out = [...this.changed];
    this.changed.clear();
    return out;
  }

  /** Marks a member id as changed (one dropped at replay, so its records are tombstoned). */
  touch(memberId: string): void {
    this.changed.add(memberId);
  }

  targetOf(memberId: string): ReadonlySet<TpKey> {
    return this.target.get(memberId) ?? NO_KEYS;
  }

  /** The member owning a partition now, if any. */
  ownerOf(key: TpKey): string | undefined {
    return this.owners.get(key);
  }

  /** Target partitions the member does not own yet (they wait for their owner to release them). */
  pendingOf(member: GroupMember): Set<TpKey> {
    return difference(this.targetOf(member.memberId), member.owned);
  }

  memberByInstance(instanceId: string): GroupMember | undefined {
    const memberId = this.byInstance.get(instanceId);
    return memberId === undefined ? undefined : this.members.get(memberId);
  }

  /**
   * Adds a member, or takes the place of the static member with the same instance id (its
   * partitions, epoch and target move to the new member id: no rebalance). Returns the member and
   * whether the group's shape changed (the caller then recomputes the target).
   */
  join(spec: MemberSpec, nowMs: number): { member: GroupMember; changed: boolean; replaced: GroupMember | null } {
    const existing = this.members.get(spec.memberId);
    if (existing !== undefined) {
      const changed = this.updateSpec(existing, spec);
      existing.lastHeartbeatMs = nowMs;
      return { member: existing, changed, replaced: null };
    }
    const previous = spec.instanceId === null ? undefined : this.memberByInstance(spec.instanceId);
    const member = new GroupMember(spec, nowMs);
    if (previous !== undefined) {
      this.takeOver(previous, member);
      const changed = !sameTopics(previous.spec.subscribedTopics, spec.subscribedTopics) || previous.spec.assignor !== spec.assignor;
      if (changed) this.groupEpoch++;
      return { member, changed, replaced: previous };
    }
    // Epoch 1 even with nothing assigned yet: epoch 0 on a heartbeat means "join".
    member.bumpEpoch();
    this.members.set(spec.memberId, member);
    this.changed.add(spec.memberId);
    if (spec.instanceId !== null) this.byInstance.set(spec.instanceId, spec.memberId);
    this.groupEpoch++;
    return { member, changed: true, replaced: null };
  }

  /** Replaces a heartbeating member's subscription or assignor; true when either changed. */
  updateSpec(member: GroupMember, spec: MemberSpec): boolean {
    const changed = !sameTopics(member.spec.subscribedTopics, spec.subscribedTopics) || member.spec.assignor !== spec.assignor;
    member.spec = { ...spec, instanceId: member.spec.instanceId };
    this.changed.add(member.memberId);
    if (changed) this.groupEpoch++;
    return changed;
  }

  /**
   * Puts back a member replayed from the offsets topic after a restart (group-records.ts): its
   * epochs, owned and announced partitions and target as stored; its session starts at `nowMs`,
   * and so does its rebalance timeout when it is still revoking. Refused (false, nothing
   * changed) when it would break an invariant: a partition it owns has an owner already, or its
   * instance id is taken.
   */
  restoreMember(spec: MemberSpec, assignment: { epoch: number; ackedEpoch: number; revocationEpoch: number; owned: ReadonlySet<TpKey>; announced: ReadonlySet<TpKey> }, target: ReadonlySet<TpKey>, nowMs: number): boolean {
    if (this.members.has(spec.memberId) || assignment.epoch < 1) return false;
    if (spec.instanceId !== null && this.byInstance.has(spec.instanceId)) return false;
    for (const key of assignment.owned) if (this.owners.has(key)) return false;
    const member = new GroupMember(spec, nowMs);
    member.epoch = assignment.epoch;
    member.ackedEpoch = Math.min(assignment.ackedEpoch, assignment.epoch);
    member.revocationEpoch = Math.min(assignment.revocationEpoch, assignment.epoch);
    member.owned = new Set(assignment.owned);
    member.announced = intersection(assignment.announced, member.owned);
    member.revokeSinceMs = member.revoking.size > 0 ? nowMs : null;
    this.members.set(spec.memberId, member);
    for (const key of member.owned) this.owners.set(key, spec.memberId);
    if (spec.instanceId !== null) this.byInstance.set(spec.instanceId, spec.memberId);
    this.target.set(spec.memberId, new Set(target));
    this.changed.add(spec.memberId);
    return true;
  }

  /** Removes a member and frees what it owned. */
  remove(member: GroupMember, nowMs: number): void {
    if (this.members.get(member.memberId) !== member) return;
    this.changed.add(member.memberId);
    for (const key of member.owned) if (this.owners.get(key) === member.memberId) this.owners.delete(key);
    this.members.delete(member.memberId);
    if (member.spec.instanceId !== null && this.byInstance.get(member.spec.instanceId) === member.memberId) this.byInstance.delete(member.spec.instanceId);
    this.target.delete(member.memberId);
    this.groupEpoch++;
    if (this.members.size === 0) this.emptySinceMs = nowMs;
  }

  /**
   * Releases the partitions the member was asked to revoke and no longer reports owning. Only
   * a heartbeat at or above the revocation's epoch counts (the caller checks): one below it was
   * sent before the member heard of the revocation. True when something was released.
   */
  confirm(member: GroupMember, reportedOwned: ReadonlySet<TpKey>): boolean {
    let released = false;
    for (const key of member.revoking) {
      if (reportedOwned.has(key)) continue;
      member.owned.delete(key);
      if (this.owners.get(key) === member.memberId) this.owners.delete(key);
      released = true;
    }
    if (released) this.changed.add(member.memberId);
    if (member.revoking.size === 0) member.revokeSinceMs = null;
    return released;
  }

  /** Runs the assignor over the current members (after a change of the group's shape or topics). */
  computeTarget(partitionCounts: PartitionCounts): void {
    this.assignorName = agreedAssignor([...this.members.values()].map((m) => m.spec.assignor));
    const topicPartitionCounts = new Map<string, number>();
    for (const topic of this.subscribedTopics) {
      const count = partitionCounts(topic);
      if (count !== undefined && count > 0) topicPartitionCounts.set(topic, count);
    }
    const members: AssignorMember[] = [...this.members.values()].map(({ spec }) => ({ memberId: spec.memberId, instanceId: spec.instanceId, subscribedTopics: spec.subscribedTopics }));
    const previous = new Map<string, Map<string, number[]>>();
    for (const [memberId, keys] of this.target) previous.set(memberId, groupByTopic(keys));
    const assignor = assignorByName(this.assignorName);
    assert(assignor !== undefined, `assignor ${this.assignorName} exists`);
    const output = assignor.assign({ members, topicPartitionCounts, previous });
    const target = new Map<string, Set<TpKey>>();
    for (const [memberId, byTopic] of output) {
      const keys = new Set<TpKey>();
      for (const [topic, partitions] of byTopic) for (const p of partitions) keys.add(tpKey(topic, p));
      target.set(memberId, keys);
    }
    this.target = target;
    for (const memberId of this.members.keys()) this.changed.add(memberId);
  }

  /**
   * Moves every member one step towards its target (see the file comment); members whose epoch
   * changed are returned, so their parked heartbeats can be answered. Repeats until nothing
   * moves, since a release by one member lets another take the partition.
   */
  reconcileAll(nowMs: number): GroupMember[] {
    const changed = new Set<GroupMember>();
    for (let round = 0; round < 3; round++) {
      let moved = false;
      for (const member of this.members.values()) {
        if (this.reconcile(member, nowMs)) {
          changed.add(member);
          this.changed.add(member.memberId);
          moved = true;
        }
      }
      if (!moved) break;
    }
    return [...changed];
  }

  private reconcile(member: GroupMember, nowMs: number): boolean {
    const target = this.targetOf(member.memberId);
    const revoking = difference(member.owned, target);
    if (revoking.size > 0) {
      const keep = intersection(member.owned, target);
      member.revokeSinceMs ??= nowMs;
      if (sameKeys(keep, member.announced)) return false;
      member.announced = keep;
      member.bumpEpoch();
      member.revocationEpoch = member.epoch;
      return true;
    }
    member.revokeSinceMs = null;
    let added = false;
    for (const key of target) {
      if (member.owned.has(key) || this.owners.has(key)) continue;
      member.owned.add(key);
      this.owners.set(key, member.memberId);
      added = true;
    }
    if (!added && sameKeys(member.announced, member.owned)) return false;
    member.announced = new Set(member.owned);
    member.bumpEpoch();
    return true;
  }

  /** Members whose session or rebalance timeout has passed at `nowMs`, with the reason. */
  expired(nowMs: number): { member: GroupMember; reason: RemovalReason }[] {
    const out: { member: GroupMember; reason: RemovalReason }[] = [];
    for (const member of this.members.values()) {
      if (nowMs - member.lastHeartbeatMs > member.spec.sessionTimeoutMs) out.push({ member, reason: 'session-timeout' });
      else if (member.revokeSinceMs !== null && nowMs - member.revokeSinceMs > member.spec.rebalanceTimeoutMs) out.push({ member, reason: 'rebalance-timeout' });
    }
    return out;
  }

  /** The new member takes the static member's place: same partitions, epoch and target. */
  private takeOver(previous: GroupMember, member: GroupMember): void {
    member.epoch = previous.epoch;
    member.ackedEpoch = previous.ackedEpoch;
    member.revocationEpoch = previous.revocationEpoch;
    member.owned = previous.owned;
    member.announced = previous.announced;
    member.revokeSinceMs = previous.revokeSinceMs;
    for (const key of member.owned) this.owners.set(key, member.memberId);
    const target = this.target.get(previous.memberId);
    this.target.delete(previous.memberId);
    if (target !== undefined) this.target.set(member.memberId, target);
    this.members.delete(previous.memberId);
    this.members.set(member.memberId, member);
    this.changed.add(previous.memberId).add(member.memberId);
    this.byInstance.set(member.spec.instanceId!, member.memberId);
  }
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((topic, i) => topic === b[i]);
}

function groupByTopic(keys: ReadonlySet<TpKey>): Map<string, number[]> {
  return new Map(toTopicPartitionLists(keys).map(({ topic, partitions }) => [topic, partitions]));
}

/** The assignor most members ask for; ties go to the first name in alphabetical order. */
function agreedAssignor(wanted: readonly AssignorName[]): AssignorName {
  if (wanted.length === 0) return 'uniform';
  const votes = new Map<AssignorName, number>();
  for (const name of wanted) votes.set(name, (votes.get(name) ?? 0) + 1);
  return [...votes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
}
