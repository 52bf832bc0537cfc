/**
 * From stored batches to application messages. A source answers with whole batches, the first
 * of which may start below the offset asked for (a batch is never split): records below it
 * are skipped here, so starting at an offset in the middle of a batch yields exactly the
 * records from that offset.
 */
import { RunnelError } from '../../common/errors.js';
import { BATCH_HEADER_BYTES, Pos, readBaseOffset, readBatchSize, readLastOffsetDelta } from '../../format/batch-header.js';
import { decodeRecordBatches, type RecordHeader } from '../../format/record-batch.js';
import type { Deserializer } from '../serialization.js';
import type { ConsumerMessage, ConsumerHeaders } from './types.js';

const NO_HEADERS: ConsumerHeaders = Object.freeze(Object.create(null) as Record<string, Buffer | null>);

/** One stored batch of a source's answer, not decoded yet. */
export interface StoredPiece {
  bytes: Buffer;
  /** The header's record count (what the buffer counts until the piece is decoded). */
  recordCount: number;
  /** Where the partition's position goes once the piece is used up. */
  nextOffset: number;
}

/**
 * Cuts a source's answer at the batches' length fields, reading headers only: the records are
 * decoded (and their CRC checked) when the application reaches them, one stored batch at a
 * time, so the consumer holds at most one batch of decoded messages per partition ahead of the
 * application instead of a whole 1 MiB answer (whose messages then outlive young-generation
 * collections and cost a copy each). Whatever does not parse as a batch header ends the cut:
 * the rest is one piece, and its decode reports what is wrong. The last piece goes to
 * `nextOffset` (the broker's, which may pass a compaction gap).
 */
export function splitStored(bytes: Buffer, nextOffset: number): StoredPiece[] {
  const pieces: StoredPiece[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const remaining = bytes.length - pos;
    const sizeBytes = remaining >= BATCH_HEADER_BYTES ? readBatchSize(bytes, pos) : -1;
    if (sizeBytes < BATCH_HEADER_BYTES || sizeBytes > remaining) {
      pieces.push({ bytes: bytes.subarray(pos), recordCount: 1, nextOffset });
      break;
    }
    const recordCount = Math.max(0, bytes.readInt32BE(pos + Pos.recordCount));
    const end = readBaseOffset(bytes, pos) + readLastOffsetDelta(bytes, pos) + 1;
    pieces.push({ bytes: bytes.subarray(pos, pos + sizeBytes), recordCount, nextOffset: end });
    pos += sizeBytes;
  }
  const last = pieces[pieces.length - 1];
  if (last !== undefined) last.nextOffset = Math.max(last.nextOffset, nextOffset);
  return pieces;
}

/**
 * The records at or after `fromOffset` (lz4 batches decoded transparently; control batches
 * skipped), decoded straight into messages with Buffer values: one object per record, handed
 * out as they are when the consumer has no deserializer (see toMessage).
 */
export function recordsFrom(bytes: Buffer, fromOffset: number, topic: string, partition: number): ConsumerMessage[] {
  const make = (offset: number, timestampMs: number, key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[]): ConsumerMessage => ({
    topic,
    partition,
    offset,
    timestampMs,
    key,
    value,
    headers: headersOf(headers),
  });
  const out: ConsumerMessage[] = [];
  for (const batch of decodeRecordBatches(bytes, make)) {
    if (batch.control || batch.baseOffset + batch.lastOffsetDelta < fromOffset) continue;
    const whole = batch.baseOffset >= fromOffset;
    for (const record of batch.records) if (whole || record.offset >= fromOffset) out.push(record);
  }
  return out;
}

/** Headers by key; a key that repeats keeps its last value. Null prototype: any key is safe. */
export function headersOf(list: readonly RecordHeader[]): ConsumerHeaders {
  if (list.length === 0) return NO_HEADERS;
  const headers = Object.create(null) as Record<string, Buffer | null>;
  for (const { key, value } of list) headers[key] = value;
  return headers;
}

/** The message the application gets: the record itself without a deserializer, else a copy with the value deserialized. */
export function toMessage<V>(record: ConsumerMessage, deserializer: Deserializer<V> | null): ConsumerMessage<V> {
  if (deserializer === null) return record as ConsumerMessage<V>;
  return { ...record, value: deserialize(record, deserializer) };
}

function deserialize<V>(record: ConsumerMessage, deserializer: Deserializer<V>): V | null {
  if (record.value === null) return null;
  const { topic, partition } = record;
  try {
    return deserializer.deserialize(record.value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const detail = `cannot deserialize the value at offset ${record.offset} with ${deserializer.name}: ${reason}; seek past it to skip it`;
    throw new RunnelError('INVALID_ARGUMENT', detail, { topic, partition, offset: record.offset }, { cause: err });
  }
}
