/**
 * The RecordBatch v2 header (Kafka's "magic 2" layout), big-endian, 61 bytes. This file owns the
 * byte layout; nothing else hard-codes a field position.
 *
 *   pos  width  field
 *    0     8    baseOffset            stamped by the broker on append (clients send 0)
 *    8     4    batchLength           bytes after this field (total size - 12)
 *   12     4    partitionLeaderEpoch  not covered by the CRC
 *   16     1    magic                 2
 *   17     4    crc                   CRC-32C of bytes [21, end)
 *   21     2    attributes            bits 0-2 codec, bit 3 timestamp type, bit 4 transactional, bit 5 control
 *   23     4    lastOffsetDelta       offset of the last record - baseOffset
 *   27     8    baseTimestamp         ms since epoch
 *   35     8    maxTimestamp          ms since epoch
 *   43     8    producerId            -1 when not idempotent
 *   51     2    producerEpoch         -1 when not idempotent
 *   53     4    baseSequence          -1 when not idempotent
 *   57     4    recordCount
 *   61     ...  records (varint layout, possibly compressed as one block)
 *
 * baseOffset and the CRC range are disjoint, so the broker stamps offsets by overwriting 8 bytes.
 * The functions here read header fields only; they never decode records (the hot path).
 */
import { crc32c } from './crc32c.js';

export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: what must be read to know a batch's total size. */
export const BATCH_LENGTH_PREFIX_BYTES = 12;
export const CURRENT_MAGIC = 2;

export const Pos = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
  records: 61,
} as const;

/** The CRC covers everything from `attributes` to the end of the batch. */
export const CRC_START = Pos.attributes;

export const Attr = {
  codecMask: 0x07,
  timestampTypeLogAppend: 0x08,
  transactional: 0x10,
  control: 0x20,
} as const;

export enum Codec {
  None = 0,
  Lz4 = 3,
}

export type BatchProblem =
  | 'short-buffer'
  | 'bad-magic'
  | 'length-mismatch'
  | 'crc-mismatch'
  | 'record-count-mismatch'
  | 'unknown-codec'
  | 'bad-records';

/** Header fields as numbers; 64-bit offsets fit a double up to 2^53, timestamps are clamped to it. */
export interface BatchHeader {
  baseOffset: number;
  /** Total bytes of the batch on the wire and on disk, header included. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestampMs: number;
  maxTimestampMs: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export function readBaseOffset(buf: Buffer, pos = 0): number {
  return Number(buf.readBigInt64BE(pos + Pos.baseOffset));
}

export function writeBaseOffset(buf: Buffer, baseOffset: number, pos = 0): void {
  buf.writeBigInt64BE(BigInt(baseOffset), pos + Pos.baseOffset);
}

/** Total size of the batch starting at `pos`, from its length prefix (caller checked 12 bytes exist). */
export function readBatchSize(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + Pos.batchLength) + BATCH_LENGTH_PREFIX_BYTES;
}

export function readLastOffsetDelta(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + Pos.lastOffsetDelta);
}

/**
 * A timestamp field as a number, clamped to ±(2^53 - 1): produce refuses timestamps outside
 * its window, but a batch stored before it did (or by a tool) may hold any int64, and every
 * timestamp inside Runnel (segment maximums, index entries, retention) must stay exact.
 */
function readTimestamp(buf: Buffer, at: number): number {
  const value = Number(buf.readBigInt64BE(at));
  return Math.min(Math.max(value, Number.MIN_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

export function readMaxTimestamp(buf: Buffer, pos = 0): number {
  return readTimestamp(buf, pos + Pos.maxTimestamp);
}

/**
 * Rewrites the batch's maxTimestamp and timestamp type (bit 3 of attributes) and recomputes its
 * CRC: the broker's LogAppendTime stamp, or a maxTimestamp corrected to the records' own. The
 * batch occupies exactly `batch`.
 */
export function rewriteMaxTimestamp(batch: Buffer, maxTimestampMs: number, logAppendTime: boolean): void {
  const attributes = batch.readInt16BE(Pos.attributes);
  batch.writeInt16BE(logAppendTime ? attributes | Attr.timestampTypeLogAppend : attributes & ~Attr.timestampTypeLogAppend, Pos.attributes);
  batch.writeBigInt64BE(BigInt(maxTimestampMs), Pos.maxTimestamp);
  batch.writeUInt32BE(computeBatchCrc(batch), Pos.crc);
}

/** Reads all header fields of the batch at `pos`; the caller has checked BATCH_HEADER_BYTES exist. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readBaseOffset(buf, pos),
    sizeBytes: readBatchSize(buf, pos),
    partitionLeaderEpoch: buf.readInt32BE(pos + Pos.partitionLeaderEpoch),
    magic: buf.readInt8(pos + Pos.magic),
    crc: buf.readUInt32BE(pos + Pos.crc),
    attributes: buf.readInt16BE(pos + Pos.attributes),
    lastOffsetDelta: readLastOffsetDelta(buf, pos),
    baseTimestampMs: readTimestamp(buf, pos + Pos.baseTimestamp),
    maxTimestampMs: readMaxTimestamp(buf, pos),
    producerId: Number(buf.readBigInt64BE(pos + Pos.producerId)),
    producerEpoch: buf.readInt16BE(pos + Pos.producerEpoch),
    baseSequence: buf.readInt32BE(pos + Pos.baseSequence),
    recordCount: buf.readInt32BE(pos + Pos.recordCount),
  };
}

/** CRC-32C over [attributes, end) of a batch occupying exactly `batch`. */
export function computeBatchCrc(batch: Buffer): number {
  return crc32c(batch.subarray(CRC_START));
}

/**
 * Checks the batch that starts at `pos` and must end by `end`: length, magic, CRC, codec and
 * the header's record count against lastOffsetDelta (a batch as produced holds dense offsets;
 * a compacted batch may hold fewer records, so storage recovery passes `denseOffsets: false`).
 * Returns the batch size in bytes, or the problem. Never throws, never decodes records.
 */
export function checkBatch(
  buf: Buffer,
  pos: number,
  end: number,
  options: { denseOffsets?: boolean } = {},
): { sizeBytes: number } | { problem: BatchProblem; sizeBytes?: number } {
  if (end - pos < BATCH_LENGTH_PREFIX_BYTES) return { problem: 'short-buffer' };
  const sizeBytes = readBatchSize(buf, pos);
  if (sizeBytes < BATCH_HEADER_BYTES) return { problem: 'length-mismatch' };
  if (end - pos < BATCH_HEADER_BYTES) return { problem: 'short-buffer' };
  if (buf.readInt8(pos + Pos.magic) !== CURRENT_MAGIC) return { problem: 'bad-magic' };
  if (end - pos < sizeBytes) return { problem: 'short-buffer', sizeBytes };
  const storedCrc = buf.readUInt32BE(pos + Pos.crc);
  if (crc32c(buf.subarray(pos + CRC_START, pos + sizeBytes)) !== storedCrc) return { problem: 'crc-mismatch', sizeBytes };
  const codec = (buf.readInt16BE(pos + Pos.attributes) & Attr.codecMask) as Codec;
  if (codec !== Codec.None && codec !== Codec.Lz4) return { problem: 'unknown-codec', sizeBytes };
  const recordCount = buf.readInt32BE(pos + Pos.recordCount);
  const lastOffsetDelta = readLastOffsetDelta(buf, pos);
  // recordCount 0 is an empty batch, which only compaction writes (non-dense): see record-batch.ts.
  if (recordCount < 0 || lastOffsetDelta < 0) return { problem: 'record-count-mismatch', sizeBytes };
  const dense = options.denseOffsets ?? true;
  if (dense ? recordCount !== lastOffsetDelta + 1 : recordCount > lastOffsetDelta + 1) {
    return { problem: 'record-count-mismatch', sizeBytes };
  }
  return { sizeBytes };
}
