/**
 * Reads for fetches and subscribe streams: from the recent-batch cache when it reaches back to
 * the offset (tailing readers), else from the log. Both return whole stored batches, never past
 * what the partition's consumers may read (watermarks.ts: below the durable high watermark for
 * `durability: all` topics). Offsets outside [log start, log end] are OFFSET_OUT_OF_RANGE, with
 * the range in the error context; an offset in [readable end, log end] reads nothing yet.
 */
import type { Partition } from './broker.js';
import type { LogReadResult } from '../storage/partition-log.js';
import { readableEnd, truncateRead } from './watermarks.js';

const EMPTY = Buffer.alloc(0);

export async function readPartition(partition: Partition, offset: number, maxBytes: number): Promise<LogReadResult> {
  const { log, recent } = partition;
  const endOffset = readableEnd(partition);
  if (offset >= endOffset && offset <= log.logEndOffset && offset >= log.logStartOffset) {
    return { bytes: EMPTY, firstOffset: offset, nextOffset: offset, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset };
  }
  // An offline log (a lost or damaged segment) decides itself what may still be read.
  if (offset >= log.logStartOffset && offset < log.logEndOffset && log.offline === null) {
    const hit = recent.read(offset, maxBytes);
    if (hit !== null) return truncateRead({ ...hit, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset }, offset, endOffset);
  }
  return truncateRead(await log.read(offset, maxBytes), offset, endOffset);
}
