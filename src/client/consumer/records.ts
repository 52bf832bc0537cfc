/**
 * From stored batches to application messages. A source answers with whole batches, the first
 * of which may start below the offset asked for (a batch is never split): records below it
 * are skipped here, so starting at an offset in the middle of a batch yields exactly the
 * records from that offset.
 */
import { RunnelError } from '../../common/errors.js';
import { decodeRecordBatches, type DecodedRecord, type RecordHeader } from '../../format/record-batch.js';
import type { Deserializer } from '../serialization.js';
import type { ConsumerMessage, ConsumerHeaders } from './types.js';

const NO_HEADERS: ConsumerHeaders = Object.freeze(Object.create(null) as Record<string, Buffer | null>);

/** The records at or after `fromOffset` (lz4 batches decoded transparently; control batches skipped). */
export function recordsFrom(bytes: Buffer, fromOffset: number): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  for (const batch of decodeRecordBatches(bytes)) {
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

export function toMessage<V>(topic: string, partition: number, record: DecodedRecord, deserializer: Deserializer<V> | null): ConsumerMessage<V> {
  return {
    topic,
    partition,
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: record.key,
    value: deserialize(record, deserializer, topic, partition),
    headers: headersOf(record.headers),
  };
}

function deserialize<V>(record: DecodedRecord, deserializer: Deserializer<V> | null, topic: string, partition: number): V | null {
  if (record.value === null) return null;
  if (deserializer === null) return record.value as V;
  try {
    return deserializer.deserialize(record.value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const detail = `cannot deserialize the value at offset ${record.offset} with ${deserializer.name}: ${reason}; seek past it to skip it`;
    throw new RunnelError('INVALID_ARGUMENT', detail, { topic, partition, offset: record.offset }, { cause: err });
  }
}
