/**
 * Value (and key) serialization for the SDK. Buffers and strings pass through untouched (a
 * string as UTF-8); anything else goes through the producer's serializer, msgpackr by default
 * (compact, fast, keeps Dates, Maps and binary). JSON is provided for interoperability. The
 * consumer hands values back as Buffers unless given a deserializer.
 */
import { Packr } from 'msgpackr';
import { RunnelError } from '../common/errors.js';

export interface Serializer {
  readonly name: string;
  serialize(value: unknown): Buffer;
}

export interface Deserializer<T = unknown> {
  readonly name: string;
  deserialize(bytes: Buffer): T;
}

const packr = new Packr({ useRecords: false, moreTypes: true });

export const msgpack: Serializer & Deserializer = {
  name: 'msgpack',
  serialize: (value) => packr.pack(value),
  deserialize: (bytes) => packr.unpack(bytes) as unknown,
};

export const json: Serializer & Deserializer = {
  name: 'json',
  serialize: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
  deserialize: (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
};

/** Values as UTF-8 strings. */
export const text: Deserializer<string> = { name: 'text', deserialize: (bytes) => bytes.toString('utf8') };

/** Bytes for the wire: null stays null, Buffers and strings pass through, the rest is serialized. */
export function toBytes(value: unknown, serializer: Serializer, what: string): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  try {
    return serializer.serialize(value);
  } catch (err) {
    throw new RunnelError('INVALID_ARGUMENT', `cannot serialize ${what} with ${serializer.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
