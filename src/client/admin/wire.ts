/**
 * Shapes of the proto messages as @grpc/proto-loader hands them to the SDK (src/common/proto.ts):
 * camelCase fields, int64 as numbers, enums as their names, bytes as Buffers, and absent
 * message fields as null. Only the fields the SDK reads or writes are listed.
 */

export interface WireError {
  code: string;
  message: string;
  retriable: boolean;
}

export interface WireOffsets {
  logStartOffset: number;
  highWatermark: number;
  logEndOffset: number;
}

export interface WireConfigEntry {
  name: string;
  value: string;
}

export type WireOffsetSpec = 'OFFSET_SPEC_LATEST' | 'OFFSET_SPEC_EARLIEST' | 'OFFSET_SPEC_TIMESTAMP';

export interface WireListOffsetsRequest {
  partitions: { topic: string; partition: number; spec: WireOffsetSpec; timestampMs: number }[];
}

export interface WireListOffsetsResponse {
  partitions: { topic: string; partition: number; error: WireError | null; offset: number; timestampMs: number; offsets: WireOffsets | null }[];
}

export interface WireTopicResult {
  name: string;
  error: WireError | null;
}

export interface WireTopicDescription {
  name: string;
  error: WireError | null;
  internal: boolean;
  configs: WireConfigEntry[];
  partitions: { partition: number; offsets: WireOffsets | null; sizeBytes: number; segments: number; leaderId: number; leaderEpoch: number }[];
  createdAtMs: number;
}

export interface WireDeleteRecordsResponse {
  partitions: { topic: string; partition: number; error: WireError | null; logStartOffset: number }[];
}

export interface WireClusterDescription {
  clusterId: string;
  controllerId: number;
  brokers: { brokerId: number; host: string; port: number; version: string }[];
}
