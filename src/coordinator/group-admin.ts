/**
 * Group administration over the coordinator: list, describe (members, committed offsets, high
 * watermark and lag per partition), delete, and reset offsets for replay. Deleting and
 * resetting are refused while a group has members (as Kafka refuses them), since members would
 * overwrite the new offsets with their next commit.
 */
import { RunnelError } from '../common/errors.js';
import { validatePartition } from '../common/topic-name.js';
import type { GroupCoordinator } from './coordinator.js';
import type { GroupStateName } from './group.js';
import { validateGroupId } from './requests.js';
import { parseTpKey, toTopicPartitionLists, tpKey, type TopicPartitionList, type TpKey } from './topic-partition.js';

export interface GroupSummary {
  groupId: string;
  state: GroupStateName;
  members: number;
}

export interface MemberDescription {
  memberId: string;
  instanceId: string | null;
  clientId: string;
  memberEpoch: number;
  subscribedTopics: string[];
  assignment: TopicPartitionList[];
  targetAssignment: TopicPartitionList[];
  sessionTimeoutMs: number;
  lastHeartbeatAgeMs: number;
}

export interface PartitionOffsetDescription {
  topic: string;
  partition: number;
  /** -1 when none is committed. */
  committedOffset: number;
  /** -1 when the partition no longer exists. */
  highWatermark: number;
  lag: number;
  metadata: string;
  /** Empty when no member owns it. */
  memberId: string;
}

export interface GroupDescription {
  groupId: string;
  state: GroupStateName;
  groupEpoch: number;
  assignor: string;
  members: MemberDescription[];
  offsets: PartitionOffsetDescription[];
}

export type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset'; offset: number } | { kind: 'timestamp'; timestampMs: number } | { kind: 'shift'; by: number };

export interface ResetResult {
  partition: number;
  previousOffset: number;
  newOffset: number;
}

export function listGroups(coordinator: GroupCoordinator): GroupSummary[] {
  const ids = new Set([...coordinator.groups.keys(), ...coordinator.store.groupIds()]);
  return [...ids].sort().map((groupId) => {
    const group = coordinator.groups.get(groupId);
    return { groupId, state: group?.state ?? 'empty', members: group?.members.size ?? 0 };
  });
}

export function describeGroup(coordinator: GroupCoordinator, groupId: string, nowMs = coordinator.monotonicNowMs()): GroupDescription {
  validateGroupId(groupId);
  const group = coordinator.groups.get(groupId);
  const offsets = coordinator.store.offsetsOf(groupId);
  if ((group === undefined || group.members.size === 0) && offsets.size === 0) throw new RunnelError('UNKNOWN_GROUP', `group "${groupId}" has neither members nor committed offsets`, { groupId });
  const members: MemberDescription[] = [...(group?.members.values() ?? [])].map((m) => ({
    memberId: m.memberId,
    instanceId: m.spec.instanceId,
    clientId: m.spec.clientId,
    memberEpoch: m.epoch,
    subscribedTopics: m.spec.subscribedTopics,
    assignment: toTopicPartitionLists(m.owned),
    targetAssignment: toTopicPartitionLists(group!.targetOf(m.memberId)),
    sessionTimeoutMs: m.spec.sessionTimeoutMs,
    lastHeartbeatAgeMs: Math.max(0, nowMs - m.lastHeartbeatMs),
  }));
  // Every partition of the subscribed topics, plus every partition with an offset.
  const keys = new Set<TpKey>(offsets.keys());
  for (const topic of group?.subscribedTopics ?? []) {
    const count = coordinator.topics.partitionCount(topic) ?? 0;
    for (let p = 0; p < count; p++) keys.add(tpKey(topic, p));
  }
  const partitionOffsets = [...keys].map((key): PartitionOffsetDescription => {
    const { topic, partition } = parseTpKey(key);
    const committed = offsets.get(key);
    const log = coordinator.topics.offsets(topic, partition);
    const committedOffset = committed?.offset ?? -1;
    const lag = log === undefined ? -1 : Math.max(0, log.highWatermark - (committedOffset >= 0 ? committedOffset : log.logStartOffset));
    return { topic, partition, committedOffset, highWatermark: log?.highWatermark ?? -1, lag, metadata: committed?.metadata ?? '', memberId: group?.ownerOf(key) ?? '' };
  });
  partitionOffsets.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  return { groupId, state: group?.state ?? 'empty', groupEpoch: group?.groupEpoch ?? 0, assignor: group?.assignorName ?? 'uniform', members, offsets: partitionOffsets };
}

export async function deleteGroup(coordinator: GroupCoordinator, groupId: string): Promise<void> {
  validateGroupId(groupId);
  const group = coordinator.groups.get(groupId);
  if (group !== undefined && group.members.size > 0) throw new RunnelError('GROUP_NOT_EMPTY', `group "${groupId}" has ${group.members.size} members; stop them first`, { groupId });
  if (coordinator.store.offsetsOf(groupId).size === 0) {
    coordinator.forgetIfGone(groupId);
    throw new RunnelError('UNKNOWN_GROUP', `group "${groupId}" does not exist`, { groupId });
  }
  await coordinator.store.remove(groupId);
  coordinator.forgetIfGone(groupId);
}

/**
 * Computes new committed offsets for partitions of one topic (all when none are named),
 * clamped to [log start, high watermark], and stores them unless `dryRun`. A group that does
 * not exist yet may be given offsets (then its first members start from them).
 */
export async function resetOffsets(coordinator: GroupCoordinator, groupId: string, topic: string, partitions: readonly number[], target: ResetTarget, dryRun: boolean): Promise<ResetResult[]> {
  validateGroupId(groupId);
  if (!coordinator.isEmpty(groupId)) throw new RunnelError('GROUP_NOT_EMPTY', `group "${groupId}" has members: stop them before resetting its offsets`, { groupId });
  const count = coordinator.topics.partitionCount(topic);
  if (count === undefined) throw new RunnelError('UNKNOWN_TOPIC', `topic "${topic}" does not exist`, { topic });
  const chosen = partitions.length === 0 ? Array.from({ length: count }, (_, p) => p) : [...new Set(partitions)].sort((a, b) => a - b);
  for (const p of chosen) validatePartition(topic, p, count);
  const committed = coordinator.store.offsetsOf(groupId);
  const results: ResetResult[] = [];
  for (const partition of chosen) {
    const log = coordinator.topics.offsets(topic, partition);
    if (log === undefined) throw new RunnelError('UNKNOWN_PARTITION', `partition ${partition} of "${topic}" is gone`, { topic, partition });
    const previousOffset = committed.get(tpKey(topic, partition))?.offset ?? -1;
    const wanted = await resolveTarget(coordinator, topic, partition, target, previousOffset, log);
    results.push({ partition, previousOffset, newOffset: Math.min(Math.max(wanted, log.logStartOffset), log.highWatermark) });
  }
  if (!dryRun) {
    const offsets = results.map(({ partition, newOffset }) => ({ topic, partition, offset: newOffset, metadata: '' }));
    await coordinator.store.commit(groupId, offsets, Date.now());
  }
  return results;
}

async function resolveTarget(coordinator: GroupCoordinator, topic: string, partition: number, target: ResetTarget, previousOffset: number, log: { logStartOffset: number; highWatermark: number }): Promise<number> {
  switch (target.kind) {
    case 'earliest':
      return log.logStartOffset;
    case 'latest':
      return log.highWatermark;
    case 'offset':
      return target.offset;
    case 'timestamp':
      return coordinator.topics.offsetForTimestamp(topic, partition, target.timestampMs);
    case 'shift':
      return (previousOffset >= 0 ? previousOffset : log.logStartOffset) + target.by;
  }
}
