/**
 * ListOffsets by time: the offset of the first record whose timestamp is at or after a given
 * time. The log finds the batch (sparse time index, batch headers); the record inside it is
 * found by decoding that one batch, off the append path.
 */
import { decodeRecordBatch } from '../format/record-batch.js';
import type { PartitionLog } from './partition-log.js';

export interface TimestampOffset {
  offset: number;
  timestampMs: number;
}

/** Null when every record is older than `timestampMs` (Kafka then answers with the log end). */
export async function offsetForTimestamp(log: PartitionLog, timestampMs: number): Promise<TimestampOffset | null> {
  let fromOffset = log.logStartOffset;
  while (fromOffset < log.logEndOffset) {
    const bytes = await log.batchForTimestamp(timestampMs, fromOffset);
    if (bytes === null) return null;
    const batch = decodeRecordBatch(bytes);
    for (const record of batch.records) {
      if (record.offset >= fromOffset && record.timestampMs >= timestampMs) return { offset: record.offset, timestampMs: record.timestampMs };
    }
    // The only newer records of this batch lie below the log start: look further on.
    fromOffset = batch.baseOffset + batch.lastOffsetDelta + 1;
  }
  return null;
}
