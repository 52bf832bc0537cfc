/**
 * The Groups service: decode, call the coordinator (src/coordinator), encode. A group-level
 * failure (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH, GROUP_NOT_EMPTY...) travels in the response's
 * `error` field, so a client reads every group error in one place; only a request the broker
 * cannot take at all (shutting down, malformed beyond decoding) fails with a gRPC status.
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import { deleteGroup, describeGroup, listGroups, resetOffsets, type GroupDescription, type ResetTarget } from '../../coordinator/group-admin.js';
import type { GroupStateName } from '../../coordinator/group.js';
import type { HeartbeatRequest } from '../../coordinator/requests.js';
import type { Broker } from '../broker.js';
import { asRunnelError, errorMessage, unary, withCancelSignal, type ErrorMessage } from './rpc.js';

type Lists = { topic: string; partitions: number[] }[];

const STATE_NAMES: Readonly<Record<GroupStateName, string>> = {
  empty: 'GROUP_STATE_EMPTY',
  reconciling: 'GROUP_STATE_RECONCILING',
  stable: 'GROUP_STATE_STABLE',
};

/** Runs `fn`; a RunnelError becomes the response's `error` (with `empty` for the other fields). */
async function withError<T extends object>(broker: Broker, rpc: string, empty: T, fn: () => Promise<T> | T): Promise<T & { error: ErrorMessage | null }> {
  try {
    return { ...(await fn()), error: null };
  } catch (err) {
    const error = asRunnelError(broker, err, rpc);
    if (error.code === 'BROKER_SHUTTING_DOWN') throw error;
    return { ...empty, error: errorMessage(error) };
  }
}

function checkCount(broker: Broker, count: number): void {
  const max = broker.config.limits.maxPartitionsPerRequest;
  if (count > max) throw new RunnelError('LIMIT_EXCEEDED', `${count} items in one request; at most ${max}`);
}

function resetTarget(request: ResetRequest): ResetTarget {
  switch (request.to) {
    case 'toEarliest':
      return { kind: 'earliest' };
    case 'toLatest':
      return { kind: 'latest' };
    case 'toOffset':
      if (!Number.isSafeInteger(request.toOffset) || request.toOffset < 0) throw new RunnelError('INVALID_ARGUMENT', `to_offset must be >= 0, got ${request.toOffset}`);
      return { kind: 'offset', offset: request.toOffset };
    case 'toTimestampMs':
      if (!Number.isSafeInteger(request.toTimestampMs) || request.toTimestampMs < 0) throw new RunnelError('INVALID_ARGUMENT', `to_timestamp_ms must be >= 0, got ${request.toTimestampMs}`);
      return { kind: 'timestamp', timestampMs: request.toTimestampMs };
    case 'shiftBy':
      if (!Number.isSafeInteger(request.shiftBy)) throw new RunnelError('INVALID_ARGUMENT', `shift_by must be an integer, got ${request.shiftBy}`);
      return { kind: 'shift', by: request.shiftBy };
    default:
      throw new RunnelError('INVALID_ARGUMENT', 'reset needs one of to_earliest, to_latest, to_offset, to_timestamp_ms, shift_by');
  }
}

interface ResetRequest {
  groupId: string;
  topic: string;
  partitions: number[];
  to?: 'toEarliest' | 'toLatest' | 'toOffset' | 'toTimestampMs' | 'shiftBy';
  toOffset: number;
  toTimestampMs: number;
  shiftBy: number;
  dryRun: boolean;
}

function describeWire(d: GroupDescription): object {
  return {
    groupId: d.groupId,
    state: STATE_NAMES[d.state],
    groupEpoch: d.groupEpoch,
    assignor: d.assignor,
    members: d.members.map((m) => ({ ...m, instanceId: m.instanceId ?? '' })),
    offsets: d.offsets,
  };
}

export function groupsHandlers(broker: Broker): grpc.UntypedServiceImplementation {
  type CommitReq = { groupId: string; memberId: string; memberEpoch: number; offsets: { topic: string; partition: number; offset: number; metadata: string }[] };
  type FetchReq = { groupId: string; partitions: Lists };
  type Ids = { groupIds: string[] };
  return {
    heartbeat: unary(broker, 'Heartbeat', (req: HeartbeatRequest, call: grpc.ServerUnaryCall<HeartbeatRequest, unknown>) =>
      withError(broker, 'Heartbeat', { memberId: req.memberId, memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [], pendingPartitions: [] }, () =>
        withCancelSignal(broker, call, (signal) => broker.coordinator.heartbeat(req, signal)),
      ),
    ),
    commitOffsets: unary(broker, 'CommitOffsets', (req: CommitReq) =>
      withError(broker, 'CommitOffsets', { results: [] as object[] }, async () => {
        const results = await broker.coordinator.commitOffsets(req);
        return { results: results.map(({ topic, partition, error }) => ({ topic, partition, error: errorMessage(error) })) };
      }),
    ),
    fetchOffsets: unary(broker, 'FetchOffsets', (req: FetchReq) =>
      withError(broker, 'FetchOffsets', { offsets: [] as object[] }, () => {
        const wanted = req.partitions.flatMap(({ topic, partitions }) => partitions.map((partition) => ({ topic, partition })));
        checkCount(broker, wanted.length);
        const offsets = broker.coordinator.fetchOffsets(req.groupId, wanted).map(({ topic, partition, committed, error }) => ({
          topic,
          partition,
          offset: committed?.offset ?? -1,
          metadata: committed?.metadata ?? '',
          commitTimestampMs: committed?.commitTimestampMs ?? -1,
          error: errorMessage(error),
        }));
        return { offsets };
      }),
    ),
    listGroups: unary(broker, 'ListGroups', () => ({
      groups: listGroups(broker.coordinator).map((g) => ({ groupId: g.groupId, state: STATE_NAMES[g.state], members: g.members })),
    })),
    describeGroups: unary(broker, 'DescribeGroups', async (req: Ids) => {
      checkCount(broker, req.groupIds.length);
      const groups = [];
      for (const groupId of req.groupIds) {
        groups.push(await withError(broker, 'DescribeGroups', { groupId, state: 'GROUP_STATE_UNSPECIFIED' }, () => describeWire(describeGroup(broker.coordinator, groupId))));
      }
      return { groups };
    }),
    deleteGroups: unary(broker, 'DeleteGroups', async (req: Ids) => {
      checkCount(broker, req.groupIds.length);
      const results = [];
      for (const groupId of req.groupIds) results.push(await withError(broker, 'DeleteGroups', { groupId }, async () => (await deleteGroup(broker.coordinator, groupId), { groupId })));
      return { results };
    }),
    resetOffsets: unary(broker, 'ResetOffsets', (req: ResetRequest) =>
      withError(broker, 'ResetOffsets', { results: [] as object[] }, async () => {
        checkCount(broker, req.partitions.length);
        const results = await resetOffsets(broker.coordinator, req.groupId, req.topic, req.partitions, resetTarget(req), req.dryRun);
        return { results: results.map((r) => ({ ...r, error: null })) };
      }),
    ),
  };
}
