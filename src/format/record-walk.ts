/**
 * The record walk: the structural check of a batch's records, as Kafka's LogValidator makes on
 * produce, without copying the batch or building a record. checkBatch (batch-header.ts) proves
 * the header and the CRC; only the walk proves that the records are what the header claims:
 *
 *   - every record's length varint fits the section, and its fields end exactly where it does;
 *   - offset deltas strictly increase and stay within lastOffsetDelta (with recordCount =
 *     lastOffsetDelta + 1, checked by checkBatch for produced batches, that makes them dense);
 *   - key, value and header lengths fit their record; header keys are never null; header counts
 *     are not negative;
 *   - the section holds exactly recordCount records and nothing after them;
 *   - lz4 sections decompress, within the fixed cap (compression.ts), to such records.
 *
 * It also returns the smallest and largest record timestamps (CreateTime), which produce policy
 * checks against the timestamp window and the header's maxTimestamp. Structure only: no policy
 * here, so the same walk can run wherever bytes enter a log (produce, recovery, compaction,
 * replication) and never refuses data that was accepted once.
 */
import { RunnelError } from '../common/errors.js';
import { Attr, BATCH_HEADER_BYTES, Pos, checkBatch, readBatchSize } from './batch-header.js';
import { decompressRecords } from './compression.js';
import { ByteReader } from './varint.js';

export interface RecordsSummary {
  /** Smallest and largest record timestamp (baseTimestamp + delta), as safe integers or ±Infinity when unsafe. */
  minTimestampMs: number;
  maxTimestampMs: number;
}

function badRecords(detail: string): RunnelError {
  return new RunnelError('CORRUPT_BATCH', detail, { reason: 'bad-records' });
}

/**
 * Walks the records of the batch at `pos` (which checkBatch accepted). Throws CORRUPT_BATCH
 * (reason bad-records or record-count-mismatch) or, for an lz4 section that could inflate past
 * the cap, BATCH_TOO_LARGE. Allocates nothing per record.
 */
export function walkRecords(buf: Buffer, pos = 0): RecordsSummary {
  const sizeBytes = readBatchSize(buf, pos);
  const codec = buf.readInt16BE(pos + Pos.attributes) & Attr.codecMask;
  const lastOffsetDelta = buf.readInt32BE(pos + Pos.lastOffsetDelta);
  const recordCount = buf.readInt32BE(pos + Pos.recordCount);
  const baseTimestampMs = Number(buf.readBigInt64BE(pos + Pos.baseTimestamp));
  const section = decompressRecords(codec, buf.subarray(pos + BATCH_HEADER_BYTES, pos + sizeBytes));
  const reader = new ByteReader(section);
  let count = 0;
  let previousDelta = -1;
  let minDelta = Infinity;
  let maxDelta = -Infinity;
  while (reader.remaining > 0) {
    if (count === recordCount) throw countMismatch(recordCount, `bytes after record ${count}`);
    const start = reader.pos;
    const length = reader.varint();
    if (length <= 0 || length > reader.remaining) throw badRecords(`record ${count} at byte ${start} declares ${length} bytes, ${reader.remaining} remain`);
    const sectionEnd = reader.end;
    const bodyEnd = reader.pos + length;
    reader.end = bodyEnd;
    reader.skip(1); // attributes: unused by magic 2
    const timestampDelta = reader.varlong();
    const offsetDelta = reader.varint();
    if (offsetDelta <= previousDelta || offsetDelta > lastOffsetDelta) {
      throw badRecords(`record ${count} has offsetDelta ${offsetDelta}, expected above ${previousDelta} and at most ${lastOffsetDelta}`);
    }
    skipNullable(reader); // key
    skipNullable(reader); // value
    skipHeaders(reader);
    if (reader.pos !== bodyEnd) throw badRecords(`record ${count} declares ${length} bytes but its fields end ${bodyEnd - reader.pos} bytes early`);
    reader.end = sectionEnd;
    if (timestampDelta < minDelta) minDelta = timestampDelta;
    if (timestampDelta > maxDelta) maxDelta = timestampDelta;
    previousDelta = offsetDelta;
    count++;
  }
  if (count !== recordCount) throw countMismatch(recordCount, `${count} records`);
  return { minTimestampMs: safeSum(baseTimestampMs, minDelta), maxTimestampMs: safeSum(baseTimestampMs, maxDelta) };
}

/**
 * checkBatch and then the record walk, never throwing: the structural check of stored bytes
 * (recovery). Returns the batch size, or a problem naming what failed.
 */
export function checkBatchStructure(
  buf: Buffer,
  pos: number,
  end: number,
  options: { denseOffsets?: boolean } = {},
): { sizeBytes: number } | { problem: string; sizeBytes?: number } {
  const checked = checkBatch(buf, pos, end, options);
  if ('problem' in checked) return checked;
  try {
    walkRecords(buf, pos);
  } catch (err) {
    return { problem: `records: ${err instanceof Error ? err.message : String(err)}`, sizeBytes: checked.sizeBytes };
  }
  return checked;
}

function countMismatch(recordCount: number, found: string): RunnelError {
  return new RunnelError('CORRUPT_BATCH', `recordCount says ${recordCount} records, the batch holds ${found}`, { reason: 'record-count-mismatch' });
}

/** base + delta when exact; ±Infinity beyond 2^53, so a window check refuses it. */
function safeSum(baseMs: number, deltaMs: number): number {
  const sum = baseMs + deltaMs;
  if (Number.isSafeInteger(baseMs) && Number.isSafeInteger(sum)) return sum;
  return sum < 0 ? -Infinity : Infinity;
}

function skipNullable(reader: ByteReader): void {
  const length = reader.varint();
  if (length !== -1) reader.skip(length);
}

function skipHeaders(reader: ByteReader): void {
  const count = reader.varint();
  // A header takes at least 2 bytes; checking first keeps a corrupt count from looping long.
  if (count < 0 || count * 2 > reader.remaining) throw badRecords(`header count ${count} does not fit the ${reader.remaining} bytes left in the record`);
  for (let i = 0; i < count; i++) {
    const keyLength = reader.varint();
    if (keyLength < 0) throw badRecords(`header key length ${keyLength} is negative`);
    reader.skip(keyLength);
    skipNullable(reader);
  }
}
