/**
 * The offsets that bound what a partition's consumers see, in one place, so that replication
 * changes how they are computed here and nowhere else:
 *
 *   highWatermark          last offset + 1 that consumers of a `durability: leader` topic may read:
 *                          the log end on one broker (in a cluster, the lowest log end over the ISR)
 *   durableHighWatermark   every offset below it is fsynced: the log's recovery point on one broker
 *                          (in a cluster, the lowest fsynced offset over the ISR); acks=all
 *                          completes here, and `durability: all` topics are read only below it
 *
 * Both always fall on batch boundaries (a log's durable offset is a log end it had), so a read
 * bounded by them returns whole batches. Responses report the readable end as `high_watermark`
 * (the proto's "last offset + 1 that consumers may read") and the durable one beside it.
 */
import { readBaseOffset, readBatchSize, readLastOffsetDelta } from '../format/batch-header.js';
import type { LogReadResult } from '../storage/partition-log.js';
import type { Partition } from './broker.js';

export interface PartitionOffsets {
  logStartOffset: number;
  /** What this topic's consumers may read up to (see readableEnd). */
  highWatermark: number;
  durableHighWatermark: number;
  logEndOffset: number;
}

/** Every offset below it is fsynced: the durable high watermark (one broker: the recovery point). */
function durableHighWatermark(partition: Partition): number {
  return Math.min(partition.log.recoveryPoint, partition.log.logEndOffset);
}

/** What this partition's consumers may read below: the durable high watermark for `durability: all`. */
export function readableEnd(partition: Partition): number {
  return partition.topic.settings.durability === 'all' ? durableHighWatermark(partition) : partition.log.logEndOffset;
}

export function partitionOffsets(partition: Partition): PartitionOffsets {
  const { log } = partition;
  return {
    logStartOffset: log.logStartOffset,
    highWatermark: readableEnd(partition),
    durableHighWatermark: durableHighWatermark(partition),
    logEndOffset: log.logEndOffset,
  };
}

/**
 * Drops the batches of a read of `offset` that reach `endOffset` or beyond (whole batches: see
 * above); with none left, an empty read that goes on from `offset`.
 */
export function truncateRead(read: LogReadResult, offset: number, endOffset: number): LogReadResult {
  if (read.nextOffset <= endOffset) return read;
  const bytes = read.bytes;
  let at = 0;
  let nextOffset = offset;
  while (at < bytes.length) {
    const lastOffset = readBaseOffset(bytes, at) + readLastOffsetDelta(bytes, at);
    if (lastOffset >= endOffset) break;
    nextOffset = lastOffset + 1;
    at += readBatchSize(bytes, at);
  }
  return { ...read, bytes: bytes.subarray(0, at), firstOffset: at === 0 ? offset : read.firstOffset, nextOffset };
}
