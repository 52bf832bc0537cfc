/**
 * Encoder and decoder of a whole RecordBatch v2: the 61-byte header (layout owned by
 * batch-header.ts) followed by the records section, lz4-frame-compressed as one block when the
 * codec says so. Each record, in Kafka's varint layout (zigzag varints, see varint.ts):
 *
 *   length             varint   bytes of the record after this field
 *   attributes         int8     unused by magic 2, written as 0
 *   timestampDelta     varlong  timestamp - baseTimestamp
 *   offsetDelta        varint   offset - baseOffset
 *   keyLength          varint   -1 = null key
 *   key                bytes
 *   valueLength        varint   -1 = null value
 *   value              bytes
 *   headerCount        varint
 *   headers, each:
 *     keyLength        varint   never null
 *     key              UTF-8
 *     valueLength      varint   -1 = null value
 *     value            bytes
 *
 * The broker never runs this on the hot path (it checks headers with checkBatch and stamps the
 * base offset); clients, compaction, tools and tests do. Encoding computes the exact size first
 * and writes into one Buffer. Decoding returns keys, values and header values as views into
 * the input (or into the decompressed records): copy them if the input buffer is reused.
 *
 * Errors: bad encoder input is INVALID_ARGUMENT (BATCH_TOO_LARGE past 2 GiB); anything wrong
 * with bytes being decoded is CORRUPT_BATCH with `context.reason` a BatchProblem, and the
 * decoder throws nothing else.
 */
import { assert } from '../common/assert.js';
import { RunnelError } from '../common/errors.js';
import {
  Attr,
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_PREFIX_BYTES,
  CURRENT_MAGIC,
  Codec,
  Pos,
  checkBatch,
  computeBatchCrc,
  readBatchHeader,
  writeBaseOffset,
  type BatchHeader,
  type BatchProblem,
} from './batch-header.js';
import { compressRecords, decompressRecords } from './compression.js';
import { ByteReader, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
  /** Defaults to the time of encoding. */
  timestampMs?: number;
  /** Defaults to the record's index; compaction passes the original deltas of the records it keeps. */
  offsetDelta?: number;
}

export interface BatchOptions {
  baseOffset?: number;
  codec?: Codec;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  control?: boolean;
  logAppendTime?: boolean;
  /** Defaults to the last record's offsetDelta; compaction keeps the original batch's. */
  lastOffsetDelta?: number;
}

export interface RecordBatchInput extends BatchOptions {
  records: readonly RecordInput[];
}

export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: readonly RecordHeader[];
}

export interface DecodedBatch<R = DecodedRecord> extends BatchHeader {
  codec: Codec;
  transactional: boolean;
  control: boolean;
  logAppendTime: boolean;
  records: R[];
}

/**
 * Builds a caller's own record object from the decoded fields, so that a reader that wants
 * another shape (the SDK consumer's messages) allocates one object per record, not two.
 */
export type RecordFactory<R> = (offset: number, timestampMs: number, key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[]) => R;

const plainRecord: RecordFactory<DecodedRecord> = (offset, timestampMs, key, value, headers) => ({ offset, timestampMs, key, value, headers });

const INT16_MIN = -0x8000;
const INT16_MAX = 0x7fff;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
/** batchLength is an int32 counting the header bytes after it plus the records. */
const MAX_RECORDS_BYTES = INT32_MAX - (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES);
const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

// ---------------------------------------------------------------------------------------------
// Encoding

/** Everything the header needs plus the sizes computed in the sizing pass. */
interface BatchPlan {
  baseOffset: number;
  codec: Codec;
  attributes: number;
  partitionLeaderEpoch: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  baseTimestampMs: number;
  maxTimestampMs: number;
  /** Timestamp of records that have none; one clock read per batch. */
  nowMs: number;
  recordCount: number;
  bodySizes: Int32Array;
  recordsBytes: number;
}

function invalid(detail: string): RunnelError {
  return new RunnelError('INVALID_ARGUMENT', detail);
}

function requireInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

export function encodeRecordBatch(input: RecordBatchInput): Buffer {
  const plan = planBatch(input);
  if (plan.codec === Codec.None) {
    // Every byte is written (asserted in writeRecords), so skip zero-filling; not pooled so a
    // batch kept in a cache does not pin an unrelated 8 KiB slab.
    const out = Buffer.allocUnsafeSlow(BATCH_HEADER_BYTES + plan.recordsBytes);
    writeRecords(out, BATCH_HEADER_BYTES, input.records, plan);
    writeHeader(out, plan);
    return out;
  }
  const raw = Buffer.allocUnsafe(plan.recordsBytes);
  writeRecords(raw, 0, input.records, plan);
  const compressed = compressRecords(plan.codec, raw);
  if (compressed.length > MAX_RECORDS_BYTES) throw tooLarge(compressed.length);
  const out = Buffer.allocUnsafeSlow(BATCH_HEADER_BYTES + compressed.length);
  compressed.copy(out, BATCH_HEADER_BYTES);
  writeHeader(out, plan);
  return out;
}

/**
 * A batch without records (recordCount 0, no records section, codec none): what compaction keeps
 * of a batch whose records it all removed while that batch holds an idempotent producer's last
 * sequence, as Kafka does, so the producer's state can still be rebuilt from the log. Offsets,
 * producer fields and timestamps are the original batch's. Only non-dense (compacted) logs hold
 * one; produce refuses it (recordCount must be lastOffsetDelta + 1).
 */
export function encodeEmptyBatch(header: Pick<BatchHeader, 'baseOffset' | 'lastOffsetDelta' | 'partitionLeaderEpoch' | 'producerId' | 'producerEpoch' | 'baseSequence' | 'baseTimestampMs' | 'maxTimestampMs' | 'attributes'>): Buffer {
  const out = Buffer.alloc(BATCH_HEADER_BYTES);
  writeHeader(out, {
    baseOffset: header.baseOffset,
    codec: Codec.None,
    // The codec bits go (there is nothing to compress); timestamp type and flags stay.
    attributes: header.attributes & ~Attr.codecMask,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    lastOffsetDelta: header.lastOffsetDelta,
    baseTimestampMs: header.baseTimestampMs,
    maxTimestampMs: header.maxTimestampMs,
    nowMs: header.maxTimestampMs,
    recordCount: 0,
    bodySizes: new Int32Array(0),
    recordsBytes: 0,
  });
  return out;
}

function tooLarge(recordsBytes: number): RunnelError {
  return new RunnelError('BATCH_TOO_LARGE', `records take ${recordsBytes} bytes, at most ${MAX_RECORDS_BYTES} fit a batch`);
}

function planBatch(input: RecordBatchInput): BatchPlan {
  const { records } = input;
  if (records.length === 0) throw invalid('a record batch needs at least one record');
  const codec = input.codec ?? Codec.None;
  if (codec !== Codec.None && codec !== Codec.Lz4) throw invalid(`unsupported codec ${String(codec)}`);
  const baseOffset = requireInt('baseOffset', input.baseOffset ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const attributes =
    codec |
    (input.logAppendTime ? Attr.timestampTypeLogAppend : 0) |
    (input.transactional ? Attr.transactional : 0) |
    (input.control ? Attr.control : 0);
  const nowMs = Date.now();
  const { lastRecordDelta, ...sized } = sizeRecords(records, nowMs);
  const lastOffsetDelta = input.lastOffsetDelta ?? lastRecordDelta;
  requireInt('lastOffsetDelta', lastOffsetDelta, lastRecordDelta, INT32_MAX);
  if (!Number.isSafeInteger(baseOffset + lastOffsetDelta)) throw invalid('baseOffset + lastOffsetDelta exceeds 2^53');
  return {
    baseOffset,
    codec,
    attributes,
    partitionLeaderEpoch: requireInt('partitionLeaderEpoch', input.partitionLeaderEpoch ?? 0, INT32_MIN, INT32_MAX),
    producerId: requireInt('producerId', input.producerId ?? -1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    producerEpoch: requireInt('producerEpoch', input.producerEpoch ?? -1, INT16_MIN, INT16_MAX),
    baseSequence: requireInt('baseSequence', input.baseSequence ?? -1, INT32_MIN, INT32_MAX),
    lastOffsetDelta,
    nowMs,
    recordCount: records.length,
    ...sized,
  };
}

/** The sizing pass: validates every record and computes the exact bytes each takes. */
function sizeRecords(records: readonly RecordInput[], nowMs: number) {
  const baseTimestampMs = records[0]!.timestampMs ?? nowMs;
  let maxTimestampMs = baseTimestampMs;
  let lastRecordDelta = -1;
  let recordsBytes = 0;
  const bodySizes = new Int32Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const timestampMs = record.timestampMs ?? nowMs;
    const offsetDelta = record.offsetDelta ?? i;
    const timestampDelta = timestampMs - baseTimestampMs;
    // Messages are built only on failure: this loop runs once per record.
    if (!Number.isSafeInteger(timestampMs) || !Number.isSafeInteger(timestampDelta)) {
      throw invalid(`records[${i}].timestampMs must be a safe integer within 2^53 of the first record's, got ${timestampMs}`);
    }
    if (!Number.isInteger(offsetDelta) || offsetDelta <= lastRecordDelta || offsetDelta > INT32_MAX) {
      throw invalid(`records[${i}].offsetDelta must be an int32 above the previous record's (${lastRecordDelta}), got ${offsetDelta}`);
    }
    lastRecordDelta = offsetDelta;
    if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
    const body = recordBodySize(record, timestampDelta, offsetDelta);
    recordsBytes += sizeOfVarint(body) + body;
    if (recordsBytes > MAX_RECORDS_BYTES) throw tooLarge(recordsBytes);
    bodySizes[i] = body;
  }
  return { baseTimestampMs, maxTimestampMs, lastRecordDelta, recordsBytes, bodySizes };
}

function sizeOfNullable(bytes: Uint8Array | null): number {
  return bytes ? sizeOfVarint(bytes.length) + bytes.length : 1;
}

function recordBodySize(record: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let size = 1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta);
  size += sizeOfNullable(record.key) + sizeOfNullable(record.value);
  const headers = record.headers ?? NO_HEADERS;
  size += sizeOfVarint(headers.length);
  for (const header of headers) {
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    size += sizeOfVarint(keyBytes) + keyBytes + sizeOfNullable(header.value);
  }
  return size;
}

function writeNullable(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (!bytes) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function writeRecords(buf: Buffer, pos: number, records: readonly RecordInput[], plan: BatchPlan): void {
  const end = pos + plan.recordsBytes;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const body = plan.bodySizes[i]!;
    pos = writeVarint(buf, pos, body);
    const bodyEnd = pos + body;
    buf[pos++] = 0;
    pos = writeVarlong(buf, pos, (record.timestampMs ?? plan.nowMs) - plan.baseTimestampMs);
    pos = writeVarint(buf, pos, record.offsetDelta ?? i);
    pos = writeNullable(buf, pos, record.key);
    pos = writeNullable(buf, pos, record.value);
    const headers = record.headers ?? NO_HEADERS;
    pos = writeVarint(buf, pos, headers.length);
    for (const header of headers) {
      const keyBytes = Buffer.byteLength(header.key, 'utf8');
      pos = writeVarint(buf, pos, keyBytes);
      pos += buf.write(header.key, pos, keyBytes, 'utf8');
      pos = writeNullable(buf, pos, header.value);
    }
    // Typed-array writes past the end are silently dropped, so a sizing bug must stop here.
    if (pos !== bodyEnd) assert(false, `record ${i} took ${pos - bodyEnd + body} bytes, sized ${body}`);
  }
  assert(pos === end, 'the records section differs from its computed size');
}

function writeHeader(out: Buffer, plan: BatchPlan): void {
  writeBaseOffset(out, plan.baseOffset);
  out.writeInt32BE(out.length - BATCH_LENGTH_PREFIX_BYTES, Pos.batchLength);
  out.writeInt32BE(plan.partitionLeaderEpoch, Pos.partitionLeaderEpoch);
  out.writeInt8(CURRENT_MAGIC, Pos.magic);
  out.writeInt16BE(plan.attributes, Pos.attributes);
  out.writeInt32BE(plan.lastOffsetDelta, Pos.lastOffsetDelta);
  out.writeBigInt64BE(BigInt(plan.baseTimestampMs), Pos.baseTimestamp);
  out.writeBigInt64BE(BigInt(plan.maxTimestampMs), Pos.maxTimestamp);
  out.writeBigInt64BE(BigInt(plan.producerId), Pos.producerId);
  out.writeInt16BE(plan.producerEpoch, Pos.producerEpoch);
  out.writeInt32BE(plan.baseSequence, Pos.baseSequence);
  out.writeInt32BE(plan.recordCount, Pos.recordCount);
  // Last: the CRC covers attributes through the end, all written above.
  out.writeUInt32BE(computeBatchCrc(out), Pos.crc);
}

// ---------------------------------------------------------------------------------------------
// Decoding

const PROBLEM_TEXT: Record<BatchProblem, string> = {
  'short-buffer': 'the buffer ends before the batch does',
  'bad-magic': `magic byte is not ${CURRENT_MAGIC}`,
  'length-mismatch': 'batchLength is shorter than a batch header',
  'crc-mismatch': 'CRC-32C does not match the batch contents',
  'record-count-mismatch': 'recordCount does not fit lastOffsetDelta',
  'unknown-codec': 'unsupported compression codec',
  'bad-records': 'malformed records',
};

function corrupt(reason: BatchProblem, position: number, detail = PROBLEM_TEXT[reason], extra: Record<string, unknown> = {}): RunnelError {
  return new RunnelError('CORRUPT_BATCH', `${detail} (batch at byte ${position})`, { reason, position, ...extra });
}

function badRecords(detail: string): RunnelError {
  return new RunnelError('CORRUPT_BATCH', detail, { reason: 'bad-records' });
}

/**
 * Decodes the batch starting at `pos`, which must end within `buf`. Throws only
 * RunnelError('CORRUPT_BATCH') with `context.reason` saying what is wrong.
 */
export function decodeRecordBatch(buf: Buffer, pos?: number): DecodedBatch;
export function decodeRecordBatch<R>(buf: Buffer, pos: number, make: RecordFactory<R>): DecodedBatch<R>;
export function decodeRecordBatch<R>(buf: Buffer, pos = 0, make?: RecordFactory<R>): DecodedBatch<R | DecodedRecord> {
  try {
    return decodeBatchAt<R | DecodedRecord>(buf, pos, make ?? plainRecord);
  } catch (err) {
    if (err instanceof RunnelError) throw err;
    // E.g. a RangeError from a Buffer read on a path the checks did not foresee.
    const detail = `undecodable batch at byte ${pos}: ${err instanceof Error ? err.message : String(err)}`;
    throw new RunnelError('CORRUPT_BATCH', detail, { reason: 'bad-records', position: pos }, { cause: err });
  }
}

/** Decodes a buffer holding whole consecutive batches (a segment slice, a fetch response). */
export function decodeRecordBatches(buf: Buffer): DecodedBatch[];
export function decodeRecordBatches<R>(buf: Buffer, make: RecordFactory<R>): DecodedBatch<R>[];
export function decodeRecordBatches<R>(buf: Buffer, make?: RecordFactory<R>): DecodedBatch<R | DecodedRecord>[] {
  const batches: DecodedBatch<R | DecodedRecord>[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const batch = decodeRecordBatch<R | DecodedRecord>(buf, pos, make ?? plainRecord);
    batches.push(batch);
    pos += batch.sizeBytes;
  }
  return batches;
}

function decodeBatchAt<R>(buf: Buffer, pos: number, make: RecordFactory<R>): DecodedBatch<R> {
  // Compacted batches legitimately hold fewer records than lastOffsetDelta + 1.
  const check = checkBatch(buf, pos, buf.length, { denseOffsets: false });
  if ('problem' in check) {
    if (check.problem !== 'unknown-codec') throw corrupt(check.problem, pos);
    const codec = buf.readInt16BE(pos + Pos.attributes) & Attr.codecMask;
    throw corrupt('unknown-codec', pos, `unsupported compression codec ${codec}`, { codec });
  }
  const header = readBatchHeader(buf, pos);
  if (!Number.isSafeInteger(header.baseOffset + header.lastOffsetDelta)) {
    throw corrupt('bad-records', pos, `baseOffset ${header.baseOffset} is beyond 2^53`);
  }
  const codec = header.attributes & Attr.codecMask;
  const section = buf.subarray(pos + Pos.records, pos + check.sizeBytes);
  const records = decodeRecords(decompressRecords(codec, section), header, make);
  if (records.length !== header.recordCount) {
    const detail = `recordCount says ${header.recordCount} records, the batch holds ${records.length}`;
    throw corrupt('record-count-mismatch', pos, detail);
  }
  return {
    ...header,
    codec,
    transactional: (header.attributes & Attr.transactional) !== 0,
    control: (header.attributes & Attr.control) !== 0,
    logAppendTime: (header.attributes & Attr.timestampTypeLogAppend) !== 0,
    records,
  };
}

/** Reads records until the section ends; the caller compares the count with the header's. */
function decodeRecords<R>(data: Buffer, header: BatchHeader, make: RecordFactory<R>): R[] {
  const reader = new ByteReader(data);
  const logAppendTime = (header.attributes & Attr.timestampTypeLogAppend) !== 0;
  const records: R[] = [];
  const decoded: { offsetDelta: number } = { offsetDelta: -1 };
  while (reader.remaining > 0) records.push(readRecord(reader, header, decoded, logAppendTime, make));
  return records;
}

/** Reads one record; `last.offsetDelta` is the previous record's on entry and this one's on return. */
function readRecord<R>(reader: ByteReader, header: BatchHeader, last: { offsetDelta: number }, logAppendTime: boolean, make: RecordFactory<R>): R {
  const previousDelta = last.offsetDelta;
  const start = reader.pos;
  const length = reader.varint();
  if (length < 0 || length > reader.remaining) {
    throw badRecords(`record at byte ${start} of the records declares ${length} bytes, ${reader.remaining} remain`);
  }
  const sectionEnd = reader.end;
  const bodyEnd = reader.pos + length;
  // Confine reads to this record, so a bad inner length cannot consume the next record.
  reader.end = bodyEnd;
  reader.int8(); // attributes: unused by magic 2
  const timestampDelta = reader.varlong();
  const offsetDelta = reader.varint();
  if (offsetDelta <= previousDelta || offsetDelta > header.lastOffsetDelta) {
    throw badRecords(`record at byte ${start} has offsetDelta ${offsetDelta}, expected above ${previousDelta} and at most ${header.lastOffsetDelta}`);
  }
  const key = reader.nullableBytes();
  const value = reader.nullableBytes();
  const headers = readHeaders(reader);
  if (reader.pos !== bodyEnd) {
    throw badRecords(`record at byte ${start} declares ${length} bytes but its fields end ${bodyEnd - reader.pos} bytes early`);
  }
  reader.end = sectionEnd;
  // With LogAppendTime the broker's time, stored as maxTimestamp, is every record's timestamp.
  const timestampMs = logAppendTime ? header.maxTimestampMs : header.baseTimestampMs + timestampDelta;
  if (!Number.isSafeInteger(timestampMs)) throw badRecords(`record at byte ${start} has a timestamp beyond 2^53`);
  last.offsetDelta = offsetDelta;
  return make(header.baseOffset + offsetDelta, timestampMs, key, value, headers);
}

function readHeaders(reader: ByteReader): readonly RecordHeader[] {
  const count = reader.varint();
  if (count === 0) return NO_HEADERS;
  // A header takes at least 2 bytes; checking first keeps a corrupt count from looping long.
  if (count < 0 || count * 2 > reader.remaining) {
    throw badRecords(`header count ${count} does not fit the ${reader.remaining} bytes left in the record`);
  }
  const headers: RecordHeader[] = [];
  for (let i = 0; i < count; i++) {
    const keyLength = reader.varint();
    if (keyLength < 0) throw badRecords(`header key length ${keyLength} is negative`);
    const key = reader.utf8(keyLength);
    const value = reader.nullableBytes();
    headers.push({ key, value });
  }
  return headers;
}
