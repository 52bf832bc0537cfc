/**
 * The group coordinator's settings. The broker configures them as `groups.*` keys (see
 * src/broker/config.ts for ranges, environment names and cross-field rules); defaults here.
 */
export interface CoordinatorConfig {
  /** How often members heartbeat, and the longest a heartbeat is held when nothing changes. */
  heartbeatIntervalMs: number;
  /** A member's session timeout when it asks for none. */
  defaultSessionTimeoutMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** Longest time a member may take to give up partitions it is asked to revoke. */
  maxRebalanceTimeoutMs: number;
  /**
   * After the coordinator starts, partitions are held back this long. 0 by default: membership
   * is stored in the offsets topic and replayed, so the coordinator knows after a restart who
   * owns what. Worth setting (to more than the members' heartbeat retry backoff) only for the
   * first start after an upgrade from a version that did not store membership, when members
   * that were consuming are unknown to it.
   */
  initialAssignmentDelayMs: number;
  maxGroups: number;
  maxMembersPerGroup: number;
  maxSubscribedTopics: number;
  /** Partitions named in one heartbeat or commit. */
  maxPartitionsPerRequest: number;
  /** Partitions `__consumer_offsets` is created with. */
  offsetsTopicPartitions: number;
  offsetMetadataMaxBytes: number;
  /** Offsets of a group with no members are removed this long after it became empty. */
  offsetsRetentionMs: number;
  offsetsRetentionCheckIntervalMs: number;
}

const SECOND_MS = 1000;
const DAY_MS = 24 * 60 * 60 * SECOND_MS;

export const DEFAULT_COORDINATOR_CONFIG: Readonly<CoordinatorConfig> = Object.freeze({
  heartbeatIntervalMs: 3 * SECOND_MS,
  defaultSessionTimeoutMs: 10 * SECOND_MS,
  minSessionTimeoutMs: 1 * SECOND_MS,
  maxSessionTimeoutMs: 300 * SECOND_MS,
  maxRebalanceTimeoutMs: 600 * SECOND_MS,
  initialAssignmentDelayMs: 0,
  maxGroups: 10_000,
  maxMembersPerGroup: 1000,
  maxSubscribedTopics: 1000,
  maxPartitionsPerRequest: 10_000,
  offsetsTopicPartitions: 8,
  offsetMetadataMaxBytes: 4096,
  offsetsRetentionMs: 7 * DAY_MS,
  offsetsRetentionCheckIntervalMs: 10 * 60 * SECOND_MS,
});
