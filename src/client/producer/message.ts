/**
 * Validation of a `send` and the turning of its messages into records ready for a batch: keys,
 * values and header values as bytes, a timestamp each, and the bytes each will take on the wire
 * (what `bufferBytes` accounts). Runs once per message, so it builds error text only on failure.
 */
import { RunnelError } from '../../common/errors.js';
import { validateTopicName } from '../../common/topic-name.js';
import type { RecordHeader, RecordInput } from '../../format/record-batch.js';
import { toBytes, type Serializer } from '../serialization.js';
import type { Acks, HeaderValue, MessageHeaders, ProducerMessage, SendRequest } from './types.js';

/** A message as it goes into a batch. */
export interface PreparedRecord extends RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  timestampMs: number;
  /** The explicit partition, or -1 to let the partitioner choose. */
  partition: number;
  /** Bytes the record takes in a batch, about (varint widths rounded up). */
  sizeBytes: number;
}

/**
 * Record fields besides key, value and headers: length (<= 5 bytes), attributes (1),
 * timestampDelta (<= 10), offsetDelta (<= 5), key and value lengths (<= 5 each), header count (<= 5).
 */
const RECORD_OVERHEAD_BYTES = 21;
/** Key and value lengths of one header. */
const HEADER_OVERHEAD_BYTES = 10;
const NO_HEADERS: RecordHeader[] = [];
const ACKS: readonly Acks[] = ['none', 'leader', 'all'];

function invalid(detail: string, topic?: string): RunnelError {
  return new RunnelError('INVALID_ARGUMENT', detail, topic === undefined ? {} : { topic });
}

/** Checks the shape of the request (not its messages); returns its acks, or `fallback`. */
export function validateSendRequest(request: SendRequest, fallback: Acks): Acks {
  if (typeof request !== 'object' || request === null) throw invalid('send takes { topic, messages }');
  if (typeof request.topic !== 'string' || request.topic.length === 0) throw invalid('send needs a topic (a non-empty string)');
  validateTopicName(request.topic);
  if (!Array.isArray(request.messages)) throw invalid('messages must be an array', request.topic);
  if (request.acks !== undefined && !ACKS.includes(request.acks)) {
    throw invalid(`acks must be one of ${ACKS.join(', ')}, got ${String(request.acks)}`, request.topic);
  }
  return request.acks ?? fallback;
}

/** Validates and serializes every message; throws INVALID_ARGUMENT naming the first bad one. */
export function prepareRecords(topic: string, messages: readonly ProducerMessage[], serializer: Serializer, nowMs: number): PreparedRecord[] {
  const records = new Array<PreparedRecord>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    try {
      records[i] = prepareRecord(messages[i]!, i, serializer, nowMs);
    } catch (err) {
      throw err instanceof RunnelError ? err.withContext({ topic, messageIndex: i }) : err;
    }
  }
  return records;
}

function prepareRecord(message: ProducerMessage, i: number, serializer: Serializer, nowMs: number): PreparedRecord {
  if (typeof message !== 'object' || message === null) throw invalid(`messages[${i}] must be an object`);
  if (!('value' in message)) throw invalid(`messages[${i}].value is missing (use null for a tombstone)`);
  const { partition, timestampMs } = message;
  if (partition !== undefined && (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff)) {
    throw invalid(`messages[${i}].partition must be a non-negative integer, got ${String(partition)}`);
  }
  if (timestampMs !== undefined && (typeof timestampMs !== 'number' || !Number.isSafeInteger(timestampMs) || timestampMs < 0)) {
    throw invalid(`messages[${i}].timestampMs must be a non-negative safe integer (ms since the epoch), got ${String(timestampMs)}`);
  }
  const key = toBytes(message.key, serializer, `messages[${i}].key`);
  const value = toBytes(message.value, serializer, `messages[${i}].value`);
  const headers = message.headers === undefined ? NO_HEADERS : prepareHeaders(message.headers, i);
  let sizeBytes = RECORD_OVERHEAD_BYTES + (key?.length ?? 0) + (value?.length ?? 0);
  for (const header of headers) sizeBytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(header.key, 'utf8') + (header.value?.length ?? 0);
  return { key, value, headers, timestampMs: timestampMs ?? nowMs, partition: partition ?? -1, sizeBytes };
}

function prepareHeaders(headers: MessageHeaders, i: number): RecordHeader[] {
  if (typeof headers !== 'object' || headers === null) throw invalid(`messages[${i}].headers must be an object or a list of { key, value }`);
  if (Array.isArray(headers)) {
    return (headers as readonly { key: string; value: HeaderValue }[]).map((header, h) => {
      if (typeof header !== 'object' || header === null || typeof header.key !== 'string') {
        throw invalid(`messages[${i}].headers[${h}] must be { key: string, value: string | Buffer | null }`);
      }
      return { key: header.key, value: headerBytes(header.value, `messages[${i}].headers[${h}].value`) };
    });
  }
  return Object.entries(headers as Record<string, HeaderValue>).map(([key, value]) => ({ key, value: headerBytes(value, `messages[${i}].headers.${key}`) }));
}

function headerBytes(value: HeaderValue, what: string): Buffer | null {
  if (value === null) return null;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalid(`${what} must be a string, a Buffer or null, got ${typeof value}`);
}
