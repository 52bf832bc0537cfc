/**
 * The group coordinator: every group's membership (group.ts), heartbeats that long-poll, the
 * session and rebalance timeouts, and committed offsets (offset-store.ts). On one broker it
 * coordinates every group; NOT_COORDINATOR is kept for a cluster.
 *
 * A heartbeat is answered at once when it joins, leaves, or finds the member's epoch moved on
 * (a revocation asked, partitions given); otherwise it is parked until the member's epoch moves
 * or `maxWaitMs` passes. At most one heartbeat per member is parked: a newer one answers the
 * older at once. The number parked is thus bounded by the members, which `maxGroups` and
 * `maxMembersPerGroup` bound.
 *
 * Membership is stored in the offsets topic (group-records.ts, membership-log.ts): every change
 * that matters for ownership is appended after it happens, and a heartbeat's answer waits until
 * what it tells is durable. At start-up the groups are replayed: members keep their ids, epochs
 * and partitions, and their sessions start again from the replay, so a member that comes back
 * within its session goes on, and one that does not expires before its partitions move.
 */
import { RunnelError } from '../common/errors.js';
import { systemClock, systemMonotonicClock, type Clock, type MonotonicClock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { CoordinatorConfig } from './config.js';
import { Group, type GroupMember, type MemberSpec, type RemovalReason } from './group.js';
import { GroupRecordReplay, type ReplayedGroup } from './group-records.js';
import { MembershipLog } from './membership-log.js';
import { OffsetStore, partitionFor, type CommittedOffset, type OffsetLog } from './offset-store.js';
import { JOIN_EPOCH, LEAVE_EPOCH, STATIC_LEAVE_EPOCH, checkHeartbeat, validateGroupId, type CheckedHeartbeat, type HeartbeatRequest } from './requests.js';
import { parseTpKey, toTopicPartitionLists, tpKey, type TopicPartitionList, type TpKey } from './topic-partition.js';

/** The broker's topics as the coordinator reads them. */
export interface TopicView {
  partitionCount(topic: string): number | undefined;
  offsets(topic: string, partition: number): { logStartOffset: number; highWatermark: number } | undefined;
  /** First offset at or after the time, or the high watermark when no record is that recent. */
  offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number>;
}

export interface HeartbeatResponse {
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: TopicPartitionList[];
  pendingPartitions: TopicPartitionList[];
}

export interface CommitRequest {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  offsets: { topic: string; partition: number; offset: number; metadata: string }[];
}

export interface PartitionResult {
  topic: string;
  partition: number;
  error: RunnelError | null;
}

interface Parked {
  wake: () => void;
}

/** How often session and rebalance timeouts are checked (a fraction of the shortest session). */
const EXPIRY_CHECK_MS_MAX = 250;

export class GroupCoordinator {
  readonly groups = new Map<string, Group>();
  readonly store: OffsetStore;
  private readonly replayed = new GroupRecordReplay();
  private readonly membership: MembershipLog;
  private readonly parked = new Map<GroupMember, Parked>();
  /** Groups whose partitions stay where they are until then (monotonic ms): see restoreGroup. */
  private readonly holds = new Map<string, number>();
  private readonly startedAtMs: number;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    readonly config: CoordinatorConfig,
    readonly topics: TopicView,
    private readonly offsetLog: OffsetLog,
    private readonly logger: Logger,
    /** Wall time: commit timestamps and offsets retention (stored, compared across restarts). */
    private readonly clock: Clock = systemClock,
    /** Durations: session and rebalance timeouts, the initial assignment hold. Group times use it. */
    private readonly monotonic: MonotonicClock = systemMonotonicClock,
  ) {
    this.store = new OffsetStore(offsetLog, config.offsetsTopicPartitions, logger, this.replayed);
    this.membership = new MembershipLog((groupId, records) => this.store.appendRecords(groupId, records), logger);
    this.startedAtMs = monotonic.monotonicMs();
  }

  /** Now on the monotonic clock that every member and group time (lastHeartbeatMs, ...) uses. */
  monotonicNowMs(): number {
    return this.monotonic.monotonicMs();
  }

  /** Replays committed offsets and group membership, then starts the timeout and retention timers. */
  async start(): Promise<void> {
    const loaded = await this.store.load();
    this.logger.info(loaded, 'group coordinator loaded committed offsets');
    this.restoreGroups();
    const expiryMs = Math.min(EXPIRY_CHECK_MS_MAX, Math.floor(this.config.minSessionTimeoutMs / 4));
    this.timers.push(setInterval(() => this.expireMembers(), expiryMs));
    this.timers.push(setInterval(() => void this.expireOffsets(), this.config.offsetsRetentionCheckIntervalMs));
    if (this.config.initialAssignmentDelayMs > 0) this.timers.push(setTimeout(() => this.reconcileEverything(), this.config.initialAssignmentDelayMs));
    for (const timer of this.timers) timer.unref();
  }

  /** Answers parked heartbeats with BROKER_SHUTTING_DOWN; membership is dropped with the process. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    for (const parked of this.parked.values()) parked.wake();
    this.parked.clear();
  }

  // ---- membership -----------------------------------------------------------------------------

  /**
   * Rebuilds the replayed groups. Their targets are computed again (topics may have changed
   * before a crash let the coordinator store it; the assignors are sticky, so an unchanged group
   * keeps its target) and reconciled, and what that changed is written.
   */
  private restoreGroups(): void {
    const nowMs = this.monotonicNowMs();
    let members = 0;
    const partitions = this.offsetLog.partitionCount();
    for (const [groupId, replayed] of this.replayed.groups) {
      this.membership.seed(groupId, replayed.records);
      const damaged = partitions !== null && this.replayed.damagedPartitions.has(partitionFor(groupId, partitions));
      const group = this.restoreGroup(groupId, replayed, damaged, nowMs);
      members += group.members.size;
      if (group.members.size > 0) {
        this.groups.set(groupId, group);
        this.retarget(group);
      }
      this.reconcile(group, nowMs);
    }
    this.replayed.groups.clear();
    if (this.replayed.undecodable > 0) this.logger.warn({ undecodable: this.replayed.undecodable }, 'skipped undecodable group membership records');
    this.logger.info({ groups: this.groups.size, members }, 'group coordinator restored group membership');
  }

  /**
   * A member that cannot be restored (its records incomplete or in conflict with another's, or
   * its group's partition of the offsets topic damaged) may still be consuming: it hears
   * UNKNOWN_MEMBER_ID at its next heartbeat, and its own watchdog gives its partitions up one
   * session after its last answer at the latest. So nothing of the group moves until that
   * session (the longest of the dropped members', counted from the restart) has passed.
   */
  private restoreGroup(groupId: string, replayed: ReplayedGroup, damaged: boolean, nowMs: number): Group {
    const group = new Group(groupId, nowMs);
    group.groupEpoch = replayed.groupEpoch + (damaged ? 1 : 0);
    let holdMs = 0;
    for (const [memberId, { spec, target, assignment }] of replayed.members) {
      const restored = !damaged && spec !== undefined && assignment !== undefined && group.restoreMember({ ...spec, memberId }, assignment, target ?? new Set(), nowMs);
      if (restored) continue;
      group.touch(memberId);
      holdMs = Math.max(holdMs, spec?.sessionTimeoutMs ?? this.config.maxSessionTimeoutMs);
      this.logger.warn({ groupId, memberId, damaged, records: { spec: spec !== undefined, target: target !== undefined, assignment: assignment !== undefined } }, 'dropped a replayed member (damaged partition, incomplete records, or a conflict with another member)');
    }
    if (holdMs > 0) {
      this.holds.set(groupId, nowMs + holdMs);
      this.logger.warn({ groupId, holdMs }, 'holding the group\'s partitions until the dropped members\' sessions have passed');
    }
    return group;
  }

  /** True once when the group's hold has passed (the first heartbeat after it reconciles the group). */
  private holdEnded(group: Group, nowMs: number): boolean {
    const untilMs = this.holds.get(group.groupId);
    if (untilMs === undefined || nowMs < untilMs) return false;
    this.holds.delete(group.groupId);
    return true;
  }

  async heartbeat(request: HeartbeatRequest, cancelled: AbortSignal): Promise<HeartbeatResponse> {
    this.checkOpen();
    const checked = checkHeartbeat(request, this.config);
    const nowMs = this.monotonicNowMs();
    if (checked.memberEpoch === JOIN_EPOCH) return this.join(checked, nowMs);
    const group = this.groups.get(checked.groupId);
    const member = group?.members.get(checked.spec.memberId);
    if (group === undefined || member === undefined) {
      throw new RunnelError('UNKNOWN_MEMBER_ID', `member ${checked.spec.memberId} is not in group "${checked.groupId}" (it may have timed out, or the broker restarted): join again`);
    }
    if (checked.memberEpoch === LEAVE_EPOCH) return this.leave(group, member, nowMs, 'left');
    if (checked.memberEpoch === STATIC_LEAVE_EPOCH) return this.leaveForNow(group, member, nowMs);
    if (!member.acceptsEpoch(checked.memberEpoch)) {
      throw new RunnelError('FENCED_MEMBER_EPOCH', `member ${member.memberId} sent epoch ${checked.memberEpoch}, its epoch is ${member.epoch} (it last sent ${member.ackedEpoch}): join again`);
    }
    member.ackedEpoch = checked.memberEpoch;
    member.lastHeartbeatMs = nowMs;
    const specBefore = member.spec;
    const reshaped = group.updateSpec(member, checked.spec);
    const released = checked.memberEpoch >= member.revocationEpoch && group.confirm(member, checked.owned);
    if (reshaped) this.retarget(group);
    if (reshaped || released || this.holdEnded(group, nowMs)) this.reconcile(group, nowMs);
    else if (storedSpecChanged(specBefore, member.spec)) this.membership.write(group);
    if (checked.memberEpoch !== member.epoch || checked.maxWaitMs === 0) return this.answer(group, member);
    await this.park(member, Math.min(checked.maxWaitMs, this.intervalFor(member)), cancelled);
    this.checkOpen();
    if (group.members.get(member.memberId) !== member) {
      throw new RunnelError('FENCED_MEMBER_EPOCH', `member ${member.memberId} was removed from group "${group.groupId}" while its heartbeat waited (rebalance timeout, or its static instance id joined again): join again`);
    }
    return this.answer(group, member);
  }

  private join(checked: CheckedHeartbeat, nowMs: number): Promise<HeartbeatResponse> {
    let group = this.groups.get(checked.groupId);
    if (group === undefined || group.members.size === 0) {
      const active = this.activeGroups();
      if (active >= this.config.maxGroups) throw new RunnelError('LIMIT_EXCEEDED', `${active} groups have members; at most ${this.config.maxGroups} (groups.maxGroups)`);
    }
    if (group === undefined) {
      group = new Group(checked.groupId, nowMs);
      this.groups.set(checked.groupId, group);
    }
    const known = group.members.has(checked.spec.memberId) || (checked.spec.instanceId !== null && group.memberByInstance(checked.spec.instanceId) !== undefined);
    if (!known && group.members.size >= this.config.maxMembersPerGroup) {
      throw new RunnelError('LIMIT_EXCEEDED', `group "${group.groupId}" has ${group.members.size} members; at most ${this.config.maxMembersPerGroup} (groups.maxMembersPerGroup)`);
    }
    const { member, changed, replaced } = group.join(checked.spec, nowMs);
    if (replaced !== null) {
      this.wakeParked(replaced);
      this.logger.info({ groupId: group.groupId, memberId: member.memberId, replaced: replaced.memberId, instanceId: checked.spec.instanceId }, 'static member took its place back');
    } else if (changed) {
      this.logger.info({ groupId: group.groupId, memberId: member.memberId, instanceId: checked.spec.instanceId, members: group.members.size }, 'member joined');
    }
    // A join says the member holds nothing: what it was revoking is released.
    group.confirm(member, new Set());
    if (changed) this.retarget(group);
    this.reconcile(group, nowMs);
    return this.answer(group, member);
  }

  /** Answered once the leave is durable: a restart must not bring back a member that was told it left. */
  private async leave(group: Group, member: GroupMember, nowMs: number, reason: RemovalReason): Promise<HeartbeatResponse> {
    this.remove(group, member, nowMs, reason);
    await this.membership.durable(group);
    return { memberId: member.memberId, memberEpoch: LEAVE_EPOCH, heartbeatIntervalMs: this.intervalFor(member), assignment: [], pendingPartitions: [] };
  }

  /**
   * A static member going away for less than its session timeout keeps its partitions: it stays
   * a member, and its session timeout (counted from now) removes it unless it comes back.
   */
  private leaveForNow(group: Group, member: GroupMember, nowMs: number): Promise<HeartbeatResponse> {
    if (member.spec.instanceId === null) return this.leave(group, member, nowMs, 'left');
    member.lastHeartbeatMs = nowMs;
    this.wakeParked(member);
    return Promise.resolve({ memberId: member.memberId, memberEpoch: STATIC_LEAVE_EPOCH, heartbeatIntervalMs: this.intervalFor(member), assignment: [], pendingPartitions: [] });
  }

  private remove(group: Group, member: GroupMember, nowMs: number, reason: RemovalReason): void {
    group.remove(member, nowMs);
    this.wakeParked(member);
    this.logger.info({ groupId: group.groupId, memberId: member.memberId, reason, members: group.members.size }, 'member left the group');
    if (group.members.size === 0) {
      this.membership.write(group);
      // Kept while it has offsets (describe, reset); otherwise there is nothing left of it.
      this.forgetIfGone(group.groupId);
      return;
    }
    this.retarget(group);
    this.reconcile(group, nowMs);
  }

  /**
   * The member's state now, sent once it is durable. Every change was written when it happened,
   * so waiting for the writes issued so far covers this state (a later change may come with a
   * later answer; a member may hold any epoch up to the current one).
   */
  private async answer(group: Group, member: GroupMember): Promise<HeartbeatResponse> {
    const response: HeartbeatResponse = {
      memberId: member.memberId,
      memberEpoch: member.epoch,
      heartbeatIntervalMs: this.intervalFor(member),
      assignment: toTopicPartitionLists(member.announced),
      pendingPartitions: toTopicPartitionLists(group.pendingOf(member)),
    };
    await this.membership.durable(group);
    return response;
  }

  /** Three heartbeats per session at least, so one lost heartbeat never ends a session. */
  private intervalFor(member: GroupMember): number {
    return Math.min(this.config.heartbeatIntervalMs, Math.floor(member.spec.sessionTimeoutMs / 3));
  }

  private retarget(group: Group): void {
    group.computeTarget((topic) => this.topics.partitionCount(topic));
  }

  /**
   * Reconciles the group (unless partitions are still held back after start), writes what
   * changed (the membership change that led here too), and wakes the members that moved: their
   * answers wait for the write.
   */
  private reconcile(group: Group, nowMs: number): void {
    const held = nowMs - this.startedAtMs < this.config.initialAssignmentDelayMs || nowMs < (this.holds.get(group.groupId) ?? -Infinity);
    const moved = held ? [] : group.reconcileAll(nowMs);
    this.membership.write(group);
    for (const member of moved) this.wakeParked(member);
  }

  private reconcileEverything(): void {
    const nowMs = this.monotonicNowMs();
    for (const group of this.groups.values()) this.reconcile(group, nowMs);
  }

  private park(member: GroupMember, waitMs: number, cancelled: AbortSignal): Promise<void> {
    this.wakeParked(member);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        cancelled.removeEventListener('abort', done);
        if (this.parked.get(member) === entry) this.parked.delete(member);
        resolve();
      };
      const entry: Parked = { wake: done };
      const timer = setTimeout(done, waitMs);
      cancelled.addEventListener('abort', done, { once: true });
      this.parked.set(member, entry);
    });
  }

  private wakeParked(member: GroupMember): void {
    this.parked.get(member)?.wake();
  }

  /** Removes members past their session or rebalance timeout. */
  expireMembers(): void {
    const nowMs = this.monotonicNowMs();
    for (const group of [...this.groups.values()]) {
      for (const { member, reason } of group.expired(nowMs)) this.remove(group, member, nowMs, reason);
    }
  }

  /** The subscribed topics changed (created, deleted, more partitions): recompute those groups' targets. */
  onTopicsChanged(topics: readonly string[]): void {
    const nowMs = this.monotonicNowMs();
    for (const group of this.groups.values()) {
      if (!group.subscribedTopics.some((t) => topics.includes(t))) continue;
      group.groupEpoch++;
      this.retarget(group);
      this.reconcile(group, nowMs);
    }
  }

  // ---- offsets --------------------------------------------------------------------------------

  /** Validates the committer and every offset, stores the valid ones durably; errors per partition. */
  async commitOffsets(request: CommitRequest): Promise<PartitionResult[]> {
    this.checkOpen();
    validateGroupId(request.groupId);
    if (request.offsets.length > this.config.maxPartitionsPerRequest) {
      throw new RunnelError('LIMIT_EXCEEDED', `${request.offsets.length} offsets in one commit; at most ${this.config.maxPartitionsPerRequest}`);
    }
    const owned = this.committerPartitions(request);
    const results: PartitionResult[] = [];
    const valid: CommitRequest['offsets'] = [];
    const seen = new Set<TpKey>();
    for (const entry of request.offsets) {
      const error = this.checkCommit(entry, owned, seen);
      results.push({ topic: entry.topic, partition: entry.partition, error });
      if (error === null) valid.push(entry);
    }
    await this.store.commit(request.groupId, valid, this.clock.nowMs());
    return results;
  }

  /** Partitions the committer may commit (null: any, for a commit from outside a group's membership). */
  private committerPartitions({ groupId, memberId, memberEpoch }: CommitRequest): ReadonlySet<TpKey> | null {
    const group = this.groups.get(groupId);
    if (memberId === '') {
      if (group !== undefined && group.members.size > 0) {
        throw new RunnelError('UNKNOWN_MEMBER_ID', `group "${groupId}" has members: commits must come from one of them, with its member id and epoch`);
      }
      return null;
    }
    const member = group?.members.get(memberId);
    if (member === undefined) throw new RunnelError('UNKNOWN_MEMBER_ID', `member ${memberId} is not in group "${groupId}"`);
    // Ownership of each partition is checked too: that is what keeps a zombie from committing.
    if (member.acceptsEpoch(memberEpoch)) return member.owned;
    throw new RunnelError('STALE_MEMBER_EPOCH', `member ${memberId} committed with epoch ${memberEpoch}; its epoch is ${member.epoch} (it last sent ${member.ackedEpoch})`);
  }

  private checkCommit(entry: CommitRequest['offsets'][number], owned: ReadonlySet<TpKey> | null, seen: Set<TpKey>): RunnelError | null {
    const { topic, partition, offset, metadata } = entry;
    const key = tpKey(topic, partition);
    const count = this.topics.partitionCount(topic);
    if (count === undefined) return new RunnelError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`, { topic });
    if (partition >= count) return new RunnelError('UNKNOWN_PARTITION', `topic "${topic}" has partitions 0..${count - 1}`, { topic, partition });
    if (seen.has(key)) return new RunnelError('INVALID_ARGUMENT', `partition ${partition} of "${topic}" appears twice in one commit`, { topic, partition });
    seen.add(key);
    if (!Number.isSafeInteger(offset) || offset < 0) return new RunnelError('INVALID_ARGUMENT', `offset must be a non-negative integer, got ${offset}`, { topic, partition });
    if (Buffer.byteLength(metadata, 'utf8') > this.config.offsetMetadataMaxBytes) {
      return new RunnelError('OFFSET_METADATA_TOO_LARGE', `metadata of ${Buffer.byteLength(metadata, 'utf8')} bytes; at most ${this.config.offsetMetadataMaxBytes}`, { topic, partition });
    }
    if (owned !== null && !owned.has(key)) return new RunnelError('STALE_MEMBER_EPOCH', `partition ${partition} of "${topic}" is not assigned to this member`, { topic, partition });
    return null;
  }

  /**
   * Committed offsets of the named partitions (all of the group's when none are named); a named
   * partition that does not exist gets UNKNOWN_TOPIC or UNKNOWN_PARTITION.
   */
  fetchOffsets(groupId: string, partitions: readonly { topic: string; partition: number }[]): { topic: string; partition: number; committed: CommittedOffset | null; error: RunnelError | null }[] {
    this.checkOpen();
    validateGroupId(groupId);
    const offsets = this.store.offsetsOf(groupId);
    if (partitions.length === 0) {
      return [...offsets].map(([key, committed]) => ({ ...parseTpKey(key), committed, error: null })).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    }
    return partitions.map(({ topic, partition }) => {
      const count = this.topics.partitionCount(topic);
      const error =
        count === undefined
          ? new RunnelError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`, { topic })
          : partition >= count
            ? new RunnelError('UNKNOWN_PARTITION', `topic "${topic}" has partitions 0..${count - 1}`, { topic, partition })
            : null;
      return { topic, partition, committed: error === null ? (offsets.get(tpKey(topic, partition)) ?? null) : null, error };
    });
  }

  /** Forgets offsets of a deleted topic in every group. */
  async onTopicDeleted(topic: string): Promise<void> {
    for (const groupId of this.store.groupIds()) {
      const doomed = [...this.store.offsetsOf(groupId).keys()].filter((key) => parseTpKey(key).topic === topic);
      if (doomed.length > 0) await this.store.remove(groupId, doomed);
      this.forgetIfGone(groupId);
    }
    this.onTopicsChanged([topic]);
  }

  /** Removes the offsets of groups that have had no members for offsetsRetentionMs. */
  async expireOffsets(): Promise<number> {
    const nowMs = this.clock.nowMs();
    const monotonicNowMs = this.monotonicNowMs();
    let removed = 0;
    for (const groupId of this.store.groupIds()) {
      const group = this.groups.get(groupId);
      if (group !== undefined && group.members.size > 0) continue;
      // Empty since (monotonic, in this process) and last commit (wall time, stored): both must be old enough.
      const emptyForMs = Math.min(group === undefined ? Infinity : monotonicNowMs - group.emptySinceMs, nowMs - this.store.newestCommitMs(groupId));
      if (emptyForMs <= this.config.offsetsRetentionMs) continue;
      try {
        await this.store.remove(groupId);
        this.groups.delete(groupId);
        removed++;
        this.logger.info({ groupId, emptyForMs }, 'removed the offsets of an empty group (offsetsRetentionMs)');
      } catch (err) {
        this.logger.warn({ err, groupId }, 'could not remove expired group offsets');
      }
    }
    return removed;
  }

  /** Groups with at least one member (what groups.maxGroups bounds). */
  private activeGroups(): number {
    let active = 0;
    for (const group of this.groups.values()) if (group.members.size > 0) active++;
    return active;
  }

  /** Forgets a group with neither members nor offsets left. */
  forgetIfGone(groupId: string): void {
    const group = this.groups.get(groupId);
    if (group !== undefined && group.members.size === 0 && this.store.offsetsOf(groupId).size === 0) this.groups.delete(groupId);
  }

  isEmpty(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) === 0;
  }

  private checkOpen(): void {
    if (this.closed) throw new RunnelError('BROKER_SHUTTING_DOWN');
  }
}

/** Whether a heartbeat changed a stored part of the spec that does not reshape the group. */
function storedSpecChanged(before: MemberSpec, after: MemberSpec): boolean {
  return before.clientId !== after.clientId || before.sessionTimeoutMs !== after.sessionTimeoutMs || before.rebalanceTimeoutMs !== after.rebalanceTimeoutMs;
}
