/**
 * Reads for fetches and subscribe streams: from the recent-batch cache when it reaches back to
 * the offset (tailing readers), else from the log. Both return whole stored batches. Offsets
 * outside [log start, log end] are OFFSET_OUT_OF_RANGE, with the range in the error context.
 */
import type { Partition } from './broker.js';
import type { LogReadResult } from '../storage/partition-log.js';

export async function readPartition(partition: Partition, offset: number, maxBytes: number): Promise<LogReadResult> {
  const { log, recent } = partition;
  if (offset >= log.logStartOffset && offset < log.logEndOffset) {
    const hit = recent.read(offset, maxBytes);
    if (hit !== null) return { ...hit, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset };
  }
  return log.read(offset, maxBytes);
}
