/**
 * Kafka's variable-length integers, as used inside RecordBatch v2 records: zigzag-mapped (so
 * small negative numbers stay short: 0→0, -1→1, 1→2, -2→3...) and written in base-128 groups,
 * least significant group first, high bit set on every byte but the last.
 *
 *   varint   int32, at most 5 bytes   (lengths, offset deltas, counts)
 *   varlong  int64, at most 10 bytes  (timestamp deltas)
 *
 * A varlong is carried as a JS number, so values must be safe integers (|n| < 2^53): enough for
 * any timestamp or offset delta. Encoding splits the zigzag value as z = 2b + s (s the sign bit)
 * so that nothing ever computes 2|n| - 1, which is not exact above 2^52.
 *
 * Writers assume the caller sized the buffer (sizeOfVarint / sizeOfVarlong) and return the next
 * position. Readers never read past `end`: a truncated or over-long number throws
 * RunnelError('CORRUPT_BATCH', ..., { reason: 'bad-records' }), never a raw exception.
 */
import { assert } from '../common/assert.js';
import { RunnelError } from '../common/errors.js';

export const MAX_VARINT_BYTES = 5;
export const MAX_VARLONG_BYTES = 10;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function badRecords(detail: string): RunnelError {
  return new RunnelError('CORRUPT_BATCH', detail, { reason: 'bad-records' });
}

export function sizeOfVarint(value: number): number {
  const z = ((value << 1) ^ (value >> 31)) >>> 0;
  if (z < 0x80) return 1;
  if (z < 0x4000) return 2;
  if (z < 0x200000) return 3;
  if (z < 0x10000000) return 4;
  return 5;
}

export function sizeOfVarlong(value: number): number {
  // Within int32 the 64-bit zigzag value equals the 32-bit one, so the bytes are identical.
  if (value >= INT32_MIN && value <= INT32_MAX) return sizeOfVarint(value);
  // z = 2b + s, and floor(z / 128) = floor(b / 64) because 2b + s never crosses a multiple of 128.
  let rest = Math.floor((value < 0 ? -value - 1 : value) / 64);
  let n = 1;
  while (rest > 0) {
    rest = Math.floor(rest / 128);
    n++;
  }
  return n;
}

/** Writes `value` (an int32) at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  // Not assert(cond, `...`): that would format a message on every call of a per-field hot path.
  if (value !== (value | 0)) assert(false, `varint out of int32 range: ${value}`);
  let z = ((value << 1) ^ (value >> 31)) >>> 0;
  while (z >= 0x80) {
    buf[pos++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[pos++] = z;
  return pos;
}

/** Writes `value` (a safe integer) at `pos`; returns the position after it. */
export function writeVarlong(buf: Buffer, pos: number, value: number): number {
  if (!Number.isSafeInteger(value)) assert(false, `varlong not a safe integer: ${value}`);
  if (value >= INT32_MIN && value <= INT32_MAX) return writeVarint(buf, pos, value);
  const sign = value < 0 ? 1 : 0;
  const b = value < 0 ? -value - 1 : value;
  let rest = Math.floor(b / 64);
  buf[pos++] = ((b % 64) * 2 + sign) | (rest > 0 ? 0x80 : 0);
  while (rest > 0) {
    const group = rest % 128;
    rest = Math.floor(rest / 128);
    buf[pos++] = group | (rest > 0 ? 0x80 : 0);
  }
  return pos;
}

/**
 * A bounds-checked cursor over `buf[pos, end)`. One reader decodes a whole records section, so
 * reading a record costs no allocation beyond the values it returns. `end` may be lowered
 * temporarily to confine reads to one record.
 */
export class ByteReader {
  readonly buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    if (!Number.isInteger(pos) || pos < 0) assert(false, `reader position must be a non-negative integer: ${pos}`);
    this.buf = buf;
    this.pos = pos;
    this.end = Math.min(end, buf.length);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) throw badRecords(`truncated data at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }

  int8(): number {
    const b = this.byte();
    return b > 0x7f ? b - 0x100 : b;
  }

  varint(): number {
    let z = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.byte();
      z |= (b & 0x7f) << shift;
      if (b < 0x80) return (z >>> 1) ^ -(z & 1);
    }
    // Fifth byte: only 4 bits are left in an int32, and no continuation is allowed.
    const b = this.byte();
    if (b > 0x0f) throw badRecords(`varint longer than 32 bits at byte ${this.pos - 1}`);
    z |= b << 28;
    return (z >>> 1) ^ -(z & 1);
  }

  varlong(): number {
    const first = this.byte();
    if (first < 0x80) return (first >>> 1) ^ -(first & 1);
    // Accumulate everything after the first byte, then b = (first7 >> 1) + 64 * rest (see top).
    let rest = 0;
    let scale = 1;
    for (let i = 1; i < MAX_VARLONG_BYTES; i++) {
      const b = this.byte();
      rest += (b & 0x7f) * scale;
      if (b < 0x80) {
        const magnitude = ((first & 0x7f) >>> 1) + 64 * rest;
        const value = first & 1 ? -magnitude - 1 : magnitude;
        if (!Number.isSafeInteger(value)) throw badRecords(`varlong beyond 2^53 at byte ${this.pos - 1}`);
        return value;
      }
      scale *= 128;
    }
    throw badRecords(`varlong longer than ${MAX_VARLONG_BYTES} bytes at byte ${this.pos - 1}`);
  }

  /** A view (not a copy) of the next `length` bytes. */
  bytes(length: number): Buffer {
    if (length < 0) throw badRecords(`invalid length ${length} before byte ${this.pos}`);
    if (length > this.end - this.pos) {
      throw badRecords(`length ${length} at byte ${this.pos} runs past the end (${this.end})`);
    }
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, this.pos);
  }

  /** Moves past the next `length` bytes without looking at them (the record walk). */
  skip(length: number): void {
    if (length < 0 || length > this.end - this.pos) {
      throw badRecords(`length ${length} at byte ${this.pos} is negative or runs past the end (${this.end})`);
    }
    this.pos += length;
  }

  /** A varint length (-1 = null) followed by that many bytes, as a view. */
  nullableBytes(): Buffer | null {
    const length = this.varint();
    if (length === -1) return null;
    return this.bytes(length);
  }

  utf8(length: number): string {
    const start = this.pos;
    this.bytes(length);
    return this.buf.toString('utf8', start, this.pos);
  }
}

export interface Decoded {
  value: number;
  /** Position right after the number. */
  next: number;
}

export function readVarint(buf: Buffer, pos = 0, end = buf.length): Decoded {
  const reader = new ByteReader(buf, pos, end);
  const value = reader.varint();
  return { value, next: reader.pos };
}

export function readVarlong(buf: Buffer, pos = 0, end = buf.length): Decoded {
  const reader = new ByteReader(buf, pos, end);
  const value = reader.varlong();
  return { value, next: reader.pos };
}
