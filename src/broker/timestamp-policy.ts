/**
 * The timestamp rules of produce (Kafka's KIP-937 and KIP-1030), in the topic configs:
 *
 *   messageTimestampType          "CreateTime" (the producer's) | "LogAppendTime" (the broker's)
 *   messageTimestampAfterMaxMs    how far a CreateTime may be ahead of the broker clock (1 hour)
 *   messageTimestampBeforeMaxMs   how far it may be behind (unlimited: Number.MAX_SAFE_INTEGER)
 *
 * Policy, not structure: it runs on produce only, never on recovery, compaction or replication,
 * so data accepted once is never refused later. The record walk (src/format/record-walk.ts)
 * supplies the records' own smallest and largest timestamps; a timestamp past 2^53 arrives as
 * ±Infinity and fails any window.
 */
import { RunnelError, type ErrorContext } from '../common/errors.js';
import { Attr, Pos } from '../format/batch-header.js';
import type { CheckedBatch } from '../storage/checked-batch.js';

export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface TimestampPolicy {
  type: TimestampType;
  afterMaxMs: number;
  beforeMaxMs: number;
}

export const DEFAULT_TIMESTAMP_POLICY: Readonly<TimestampPolicy> = Object.freeze({
  type: 'CreateTime',
  afterMaxMs: 60 * 60 * 1000,
  beforeMaxMs: Number.MAX_SAFE_INTEGER,
});

/**
 * Checks one batch against the policy at the broker's `nowMs`. Returns the batch to append: for
 * CreateTime with a header maxTimestamp other than the records' largest, the same bytes rewritten
 * in place to it (CheckedBatch.withMaxTimestamp; Kafka does the same), so the segment maximum that retention and the time index use is the
 * records'. LogAppendTime batches are stamped by the log at append (PartitionLog).
 */
export function applyTimestampPolicy(batch: CheckedBatch, policy: TimestampPolicy, nowMs: number, context: ErrorContext): CheckedBatch {
  if ((batch.bytes.readInt16BE(Pos.attributes) & Attr.timestampTypeLogAppend) !== 0) {
    throw new RunnelError('INVALID_TIMESTAMP', 'a produced batch must use CreateTime; the broker stamps LogAppendTime when the topic says so', context);
  }
  if (policy.type === 'LogAppendTime') return batch;
  const { minTimestampMs, maxTimestampMs } = batch.records;
  if (maxTimestampMs - nowMs > policy.afterMaxMs) {
    throw new RunnelError('INVALID_TIMESTAMP', `record timestamp ${maxTimestampMs} is more than messageTimestampAfterMaxMs (${policy.afterMaxMs}) after the broker's time ${nowMs}`, context);
  }
  if (nowMs - minTimestampMs > policy.beforeMaxMs) {
    throw new RunnelError('INVALID_TIMESTAMP', `record timestamp ${minTimestampMs} is more than messageTimestampBeforeMaxMs (${policy.beforeMaxMs}) before the broker's time ${nowMs}`, context);
  }
  return batch.maxTimestampMs === maxTimestampMs ? batch : batch.withMaxTimestamp(maxTimestampMs, false);
}
