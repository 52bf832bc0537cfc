/**
 * Consumer-group administration for the Admin client, over the Groups service: list,
 * describe (members, partitions, committed offsets, lag), delete, fetch committed offsets, and
 * reset them for replay. The wire's enum names become short words ('stable', 'reconciling',
 * 'empty'); -1 stays "none" for offsets, as on the wire.
 */
import { RunnelError } from '../../common/errors.js';
import { errorFromMessage } from '../connection.js';
import { toLists } from '../groups/partitions.js';
import { invalidArgument, requireInt, requireTopic } from './arguments.js';

export type GroupState = 'empty' | 'reconciling' | 'stable';

export interface GroupListing {
  groupId: string;
  state: GroupState;
  members: number;
}

export interface GroupMemberDescription {
  memberId: string;
  instanceId: string | null;
  clientId: string;
  memberEpoch: number;
  subscribedTopics: string[];
  /** What it owns now (including what it is revoking). */
  assignment: { topic: string; partitions: number[] }[];
  targetAssignment: { topic: string; partitions: number[] }[];
  sessionTimeoutMs: number;
  lastHeartbeatAgeMs: number;
}

export interface GroupPartitionOffset {
  topic: string;
  partition: number;
  /** -1 when none is committed. */
  committedOffset: number;
  highWatermark: number;
  lag: number;
  metadata: string;
  /** Null when no member owns it. */
  memberId: string | null;
}

export interface GroupDescription {
  groupId: string;
  state: GroupState;
  groupEpoch: number;
  assignor: string;
  members: GroupMemberDescription[];
  offsets: GroupPartitionOffset[];
}

export interface CommittedGroupOffset {
  topic: string;
  partition: number;
  /** -1 when none is committed. */
  offset: number;
  metadata: string;
  commitTimestampMs: number;
}

/** Where reset-offsets moves a group: the log start or end, an offset, a time, or a shift from the committed offset. */
export type GroupOffsetTarget = 'earliest' | 'latest' | { offset: number } | { timestampMs: number } | { shiftBy: number };

export interface GroupOffsetReset {
  partition: number;
  previousOffset: number;
  newOffset: number;
}

type Call = <Res>(method: string, request: unknown) => Promise<Res>;
type WireError = { code: string; message: string } | null;

const STATES: Readonly<Record<string, GroupState>> = { GROUP_STATE_EMPTY: 'empty', GROUP_STATE_RECONCILING: 'reconciling', GROUP_STATE_STABLE: 'stable' };

function throwIf(error: WireError, context: Record<string, unknown> = {}): void {
  const typed = errorFromMessage(error, context);
  if (typed !== null) throw typed;
}

function requireGroupId(groupId: unknown): string {
  if (typeof groupId !== 'string' || groupId === '') throw invalidArgument('groupId must be a non-empty string');
  return groupId;
}

export async function listGroups(call: Call): Promise<GroupListing[]> {
  const { groups } = await call<{ groups: { groupId: string; state: string; members: number }[] }>('listGroups', {});
  return groups.map((g) => ({ groupId: g.groupId, state: STATES[g.state] ?? 'empty', members: g.members }));
}

export async function describeGroup(call: Call, groupId: string): Promise<GroupDescription> {
  type Wire = Omit<GroupDescription, 'state' | 'members' | 'offsets'> & {
    error: WireError;
    state: string;
    members: (Omit<GroupMemberDescription, 'instanceId'> & { instanceId: string })[];
    offsets: (Omit<GroupPartitionOffset, 'memberId'> & { memberId: string })[];
  };
  const { groups } = await call<{ groups: Wire[] }>('describeGroups', { groupIds: [requireGroupId(groupId)] });
  const wire = groups[0];
  if (wire === undefined) throw new RunnelError('INTERNAL', 'describeGroups: the broker answered with no group');
  throwIf(wire.error, { groupId });
  return {
    groupId: wire.groupId,
    state: STATES[wire.state] ?? 'empty',
    groupEpoch: wire.groupEpoch,
    assignor: wire.assignor,
    members: wire.members.map((m) => ({ ...m, instanceId: m.instanceId === '' ? null : m.instanceId })),
    offsets: wire.offsets.map((o) => ({ ...o, memberId: o.memberId === '' ? null : o.memberId })),
  };
}

export async function deleteGroup(call: Call, groupId: string): Promise<void> {
  const { results } = await call<{ results: { groupId: string; error: WireError }[] }>('deleteGroups', { groupIds: [requireGroupId(groupId)] });
  throwIf(results[0]?.error ?? null, { groupId });
}

/** The group's committed offsets: of the named partitions, or all it has. */
export async function fetchGroupOffsets(call: Call, groupId: string, partitions: readonly { topic: string; partition: number }[] = []): Promise<CommittedGroupOffset[]> {
  const checked = partitions.map(({ topic, partition }) => ({ topic: requireTopic(topic), partition: requireInt(partition, 'partition') }));
  const request = { groupId: requireGroupId(groupId), partitions: toLists(checked) };
  const response = await call<{ error: WireError; offsets: CommittedGroupOffset[] }>('fetchOffsets', request);
  throwIf(response.error, { groupId });
  return response.offsets.map(({ topic, partition, offset, metadata, commitTimestampMs }) => ({ topic, partition, offset, metadata, commitTimestampMs }));
}

export async function resetGroupOffsets(
  call: Call,
  groupId: string,
  topic: string,
  target: GroupOffsetTarget,
  options: { partitions?: readonly number[]; dryRun?: boolean } = {},
): Promise<GroupOffsetReset[]> {
  const request = { groupId: requireGroupId(groupId), topic: requireTopic(topic), partitions: (options.partitions ?? []).map((p) => requireInt(p, 'partition')), dryRun: options.dryRun === true, ...targetFields(target) };
  const response = await call<{ error: WireError; results: (GroupOffsetReset & { error: WireError })[] }>('resetOffsets', request);
  throwIf(response.error, { groupId, topic });
  return response.results.map(({ partition, previousOffset, newOffset }) => ({ partition, previousOffset, newOffset }));
}

function targetFields(target: GroupOffsetTarget): Record<string, unknown> {
  if (target === 'earliest') return { toEarliest: true };
  if (target === 'latest') return { toLatest: true };
  if (typeof target === 'object' && target !== null) {
    if ('offset' in target) return { toOffset: requireInt(target.offset, 'offset') };
    if ('timestampMs' in target) return { toTimestampMs: requireInt(target.timestampMs, 'timestampMs') };
    if ('shiftBy' in target && Number.isSafeInteger(target.shiftBy)) return { shiftBy: target.shiftBy };
  }
  throw invalidArgument("target must be 'earliest', 'latest', { offset }, { timestampMs } or { shiftBy }");
}
