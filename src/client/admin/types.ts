/**
 * What the Admin client takes and returns. Batch calls (`createTopics`, `deleteTopics`,
 * `describeTopics`, `listOffsets`) answer per item: each item carries `error`, null on success
 * and a RunnelError otherwise, so one bad item never hides the others. Single-item calls
 * (`createTopic`, `describeTopic`, `alterConfigs`, `offsets`, `deleteRecords`...) throw that
 * RunnelError instead. A request that fails as a whole always throws.
 */
import type { RunnelError } from '../../common/errors.js';

/** Topic configs by name (see proto/runnel/v1/admin.proto), as strings, as Kafka's are. */
export type TopicConfigs = Record<string, string>;

/** Config values given by the application; numbers and booleans are sent as strings. */
export type TopicConfigsInput = Record<string, string | number | boolean>;

export interface NewTopic {
  name: string;
  /** Defaults to 1. */
  partitions?: number;
  configs?: TopicConfigsInput;
}

export interface ValidateOnlyOption {
  /** Check the request on the broker, change nothing. */
  validateOnly?: boolean;
}

/** One item of a batch call about topics. */
export interface TopicOutcome {
  name: string;
  error: RunnelError | null;
}

export interface TopicSummary {
  name: string;
  partitions: number;
  internal: boolean;
}

/** Where a partition's log stands. */
export interface PartitionOffsets {
  /** First offset still readable (moves with retention and deleteRecords). */
  logStartOffset: number;
  /** Last offset + 1 that consumers may read. */
  highWatermark: number;
  /** Offset the next appended record gets (= highWatermark on one broker). */
  logEndOffset: number;
}

export interface PartitionDescription extends PartitionOffsets {
  partition: number;
  sizeBytes: number;
  segments: number;
  leaderId: number;
  leaderEpoch: number;
}

export interface TopicDescription {
  name: string;
  error: null;
  internal: boolean;
  createdAtMs: number;
  /** Every config with its effective value. */
  configs: TopicConfigs;
  /** Sorted by partition. */
  partitions: PartitionDescription[];
}

export interface FailedTopic {
  name: string;
  error: RunnelError;
}

/** Narrow with `if (result.error)`. */
export type TopicDescriptionResult = TopicDescription | FailedTopic;

/** Which offset to look up: the log start, the log end, or the first record at or after a time. */
export type OffsetSpec = 'earliest' | 'latest' | { timestampMs: number };

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface OffsetQuery extends TopicPartition {
  spec: OffsetSpec;
}

export interface PartitionOffset extends TopicPartition, PartitionOffsets {
  error: null;
  /**
   * The offset asked for. For a time: the first record whose timestamp is at or after it, or
   * the log end when every record is older.
   */
  offset: number;
  /** For a time: the timestamp of the record at `offset`; null otherwise or when none was found. */
  timestampMs: number | null;
}

export interface FailedPartition extends TopicPartition {
  error: RunnelError;
}

/** Narrow with `if (result.error)`. */
export type OffsetResult = PartitionOffset | FailedPartition;

export interface BrokerDescription {
  brokerId: number;
  host: string;
  port: number;
  version: string;
}

export interface ClusterDescription {
  clusterId: string;
  controllerId: number;
  brokers: BrokerDescription[];
}
