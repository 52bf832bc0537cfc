/**
 * What the coordinator accepts from a member, checked once at the edge so the state machine
 * below only sees well-formed values: group ids (the topic-name alphabet, so they are safe in
 * logs, metrics labels and file names), member and instance ids, subscriptions, timeouts
 * within the broker's bounds, and the assignor's name.
 */
import { RunnelError } from '../common/errors.js';
import { TOPIC_NAME_MAX_LENGTH, validateTopicName } from '../common/topic-name.js';
import { ASSIGNOR_NAMES, type AssignorName } from './assignors/index.js';
import type { CoordinatorConfig } from './config.js';
import type { MemberSpec } from './group.js';
import { fromTopicPartitionLists, type TpKey } from './topic-partition.js';

const GROUP_ID_PATTERN = /^[a-zA-Z0-9._-]+$/;
/** Printable ASCII: a UUID, or whatever id a client picks, but nothing that breaks a log line. */
const MEMBER_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;
const FREE_TEXT_MAX_LENGTH = 249;

export const JOIN_EPOCH = 0;
export const LEAVE_EPOCH = -1;
export const STATIC_LEAVE_EPOCH = -2;

export interface HeartbeatRequest {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string;
  clientId: string;
  subscribedTopics: string[];
  ownedPartitions: { topic: string; partitions: number[] }[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  assignor: string;
  maxWaitMs: number;
}

export interface CheckedHeartbeat {
  groupId: string;
  memberEpoch: number;
  spec: MemberSpec;
  owned: Set<TpKey>;
  maxWaitMs: number;
}

export function validateGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0) throw new RunnelError('INVALID_GROUP_ID', 'a group id must be a non-empty string');
  if (groupId.length > TOPIC_NAME_MAX_LENGTH) throw new RunnelError('INVALID_GROUP_ID', `group id is ${groupId.length} characters, at most ${TOPIC_NAME_MAX_LENGTH}`);
  if (!GROUP_ID_PATTERN.test(groupId)) throw new RunnelError('INVALID_GROUP_ID', `group id "${groupId}" may only contain ASCII letters, digits, '.', '_' and '-'`, { groupId });
}

export function checkHeartbeat(request: HeartbeatRequest, config: CoordinatorConfig): CheckedHeartbeat {
  validateGroupId(request.groupId);
  const { memberId, memberEpoch } = request;
  if (!MEMBER_ID_PATTERN.test(memberId)) throw new RunnelError('INVALID_ARGUMENT', 'member_id must be 1 to 64 printable ASCII characters (a UUID chosen by the member at its first join)');
  if (!Number.isInteger(memberEpoch) || memberEpoch < STATIC_LEAVE_EPOCH) throw new RunnelError('INVALID_ARGUMENT', `member_epoch must be -2, -1, 0 or a member epoch, got ${memberEpoch}`);
  const instanceId = request.instanceId === '' ? null : request.instanceId;
  if (instanceId !== null && (instanceId.length > FREE_TEXT_MAX_LENGTH || !/^[\x20-\x7e]+$/.test(instanceId))) {
    throw new RunnelError('INVALID_ARGUMENT', `instance_id must be at most ${FREE_TEXT_MAX_LENGTH} printable ASCII characters`);
  }
  if (request.clientId.length > FREE_TEXT_MAX_LENGTH) throw new RunnelError('INVALID_ARGUMENT', `client_id is longer than ${FREE_TEXT_MAX_LENGTH} characters`);
  const sessionTimeoutMs = checkSessionTimeout(request.sessionTimeoutMs, config);
  return {
    groupId: request.groupId,
    memberEpoch,
    spec: {
      memberId,
      instanceId,
      clientId: request.clientId,
      subscribedTopics: checkSubscription(request.subscribedTopics, config),
      sessionTimeoutMs,
      rebalanceTimeoutMs: checkRebalanceTimeout(request.rebalanceTimeoutMs, sessionTimeoutMs, config),
      assignor: checkAssignor(request.assignor),
    },
    owned: checkOwned(request.ownedPartitions, config),
    maxWaitMs: Math.max(0, request.maxWaitMs),
  };
}

/** Defaults to the session timeout; at most the broker's groups.maxRebalanceTimeoutMs. */
function checkRebalanceTimeout(requested: number, sessionTimeoutMs: number, config: CoordinatorConfig): number {
  const rebalanceTimeoutMs = requested === 0 ? sessionTimeoutMs : requested;
  if (rebalanceTimeoutMs > config.maxRebalanceTimeoutMs) {
    throw new RunnelError('INVALID_ARGUMENT', `rebalance_timeout_ms ${rebalanceTimeoutMs} is above the broker's groups.maxRebalanceTimeoutMs ${config.maxRebalanceTimeoutMs}`);
  }
  return rebalanceTimeoutMs;
}

function checkSubscription(topics: readonly string[], config: CoordinatorConfig): string[] {
  if (topics.length > config.maxSubscribedTopics) throw new RunnelError('LIMIT_EXCEEDED', `${topics.length} subscribed topics; at most ${config.maxSubscribedTopics}`);
  for (const topic of topics) validateTopicName(topic);
  return [...new Set(topics)].sort();
}

function checkSessionTimeout(requested: number, config: CoordinatorConfig): number {
  const sessionTimeoutMs = requested === 0 ? config.defaultSessionTimeoutMs : requested;
  if (sessionTimeoutMs < config.minSessionTimeoutMs || sessionTimeoutMs > config.maxSessionTimeoutMs) {
    throw new RunnelError('INVALID_SESSION_TIMEOUT', `session_timeout_ms ${sessionTimeoutMs} is outside ${config.minSessionTimeoutMs}..${config.maxSessionTimeoutMs} (broker groups.minSessionTimeoutMs..groups.maxSessionTimeoutMs)`);
  }
  return sessionTimeoutMs;
}

function checkAssignor(name: string): AssignorName {
  if (name === '') return 'uniform';
  if (!(ASSIGNOR_NAMES as readonly string[]).includes(name)) throw new RunnelError('UNSUPPORTED_ASSIGNOR', `assignor "${name}"; the broker has ${ASSIGNOR_NAMES.join(', ')}`);
  return name as AssignorName;
}

function checkOwned(lists: HeartbeatRequest['ownedPartitions'], config: CoordinatorConfig): Set<TpKey> {
  let count = 0;
  for (const { topic, partitions } of lists) {
    validateTopicName(topic);
    count += partitions.length;
  }
  if (count > config.maxPartitionsPerRequest) throw new RunnelError('LIMIT_EXCEEDED', `${count} owned partitions in one heartbeat; at most ${config.maxPartitionsPerRequest}`);
  return fromTopicPartitionLists(lists);
}
