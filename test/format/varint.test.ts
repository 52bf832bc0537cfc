import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteReader,
  readVarint,
  readVarlong,
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
} from '../../src/format/varint.js';
import { expectCorrupt } from './helpers.js';

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function varint(value: number): Buffer {
  const buf = Buffer.alloc(sizeOfVarint(value));
  expect(writeVarint(buf, 0, value)).toBe(buf.length);
  return buf;
}

function varlong(value: number): Buffer {
  const buf = Buffer.alloc(sizeOfVarlong(value));
  expect(writeVarlong(buf, 0, value)).toBe(buf.length);
  return buf;
}

/** Kafka's zigzag varlong computed with 64-bit BigInt arithmetic, as Java does it. */
function referenceVarlong(value: bigint): Buffer {
  let z = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

describe('varint (int32)', () => {
  it.each([
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-2, '03'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [300, 'd804'],
    [-300, 'd704'],
    [INT32_MAX, 'feffffff0f'],
    [INT32_MIN, 'ffffffff0f'],
  ])('encodes %d as %s', (value, hex) => {
    expect(varint(value).toString('hex')).toBe(hex);
    expect(readVarint(Buffer.from(hex, 'hex'))).toEqual({ value, next: hex.length / 2 });
  });

  it('round-trips every int32, with sizeOfVarint equal to the bytes written', () => {
    fc.assert(
      fc.property(fc.integer({ min: INT32_MIN, max: INT32_MAX }), (value) => {
        const buf = varint(value);
        expect(buf.equals(referenceVarlong(BigInt(value)))).toBe(true);
        expect(readVarint(buf)).toEqual({ value, next: buf.length });
      }),
      { numRuns: 500 },
    );
  });

  it('reads at a position and stops at `end`', () => {
    const buf = Buffer.from('ff02d804', 'hex');
    expect(readVarint(buf, 1)).toEqual({ value: 1, next: 2 });
    expect(readVarint(buf, 2)).toEqual({ value: 300, next: 4 });
    expectCorrupt(() => readVarint(buf, 2, 3), 'bad-records');
  });

  it('reports truncated input as CORRUPT_BATCH', () => {
    const full = varint(INT32_MIN);
    for (let length = 0; length < full.length; length++) {
      expectCorrupt(() => readVarint(full.subarray(0, length)), 'bad-records');
    }
  });

  it('rejects a varint longer than 5 bytes or wider than 32 bits', () => {
    expectCorrupt(() => readVarint(Buffer.from('808080808001', 'hex')), 'bad-records');
    expectCorrupt(() => readVarint(Buffer.from('ffffffff1f', 'hex')), 'bad-records');
  });
});

describe('varlong (int64 as a safe integer)', () => {
  it.each([
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [300, 'd804'],
    [2 ** 31, '8080808010'],
    [-(2 ** 31) - 1, '8180808010'],
    [2 ** 32, '8080808020'],
    [1700000000000, '80a0abfef962'],
    [-1700000000000, 'ff9fabfef962'],
    [Number.MAX_SAFE_INTEGER, 'feffffffffffff1f'],
    [Number.MIN_SAFE_INTEGER, 'fdffffffffffff1f'],
  ])('encodes %d as %s', (value, hex) => {
    expect(referenceVarlong(BigInt(value)).toString('hex')).toBe(hex);
    expect(varlong(value).toString('hex')).toBe(hex);
    expect(readVarlong(Buffer.from(hex, 'hex'))).toEqual({ value, next: hex.length / 2 });
  });

  it('round-trips every safe integer, byte-identical to a 64-bit reference', () => {
    const safe = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 }));
    fc.assert(
      fc.property(safe, (value) => {
        const buf = varlong(value);
        expect(buf.equals(referenceVarlong(BigInt(value)))).toBe(true);
        expect(readVarlong(buf)).toEqual({ value, next: buf.length });
      }),
      { numRuns: 1000 },
    );
  });

  it('reports truncated input as CORRUPT_BATCH', () => {
    const full = varlong(Number.MIN_SAFE_INTEGER);
    for (let length = 0; length < full.length; length++) {
      expectCorrupt(() => readVarlong(full.subarray(0, length)), 'bad-records');
    }
  });

  it('rejects values beyond 2^53 and encodings longer than 10 bytes', () => {
    expectCorrupt(() => readVarlong(referenceVarlong(2n ** 53n)), 'bad-records');
    expectCorrupt(() => readVarlong(referenceVarlong(-(2n ** 53n))), 'bad-records');
    expectCorrupt(() => readVarlong(referenceVarlong(-(2n ** 63n))), 'bad-records');
    expectCorrupt(() => readVarlong(Buffer.from('8080808080808080808001', 'hex')), 'bad-records');
  });

  it('never throws anything but CORRUPT_BATCH on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        const buf = Buffer.from(bytes);
        for (const read of [readVarint, readVarlong]) {
          try {
            const { value, next } = read(buf);
            expect(Number.isSafeInteger(value)).toBe(true);
            expect(next).toBeLessThanOrEqual(buf.length);
          } catch (err) {
            expect(err).toMatchObject({ code: 'CORRUPT_BATCH', context: { reason: 'bad-records' } });
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('ByteReader', () => {
  it('reads nullable bytes as views and refuses lengths past the end', () => {
    const buf = Buffer.from('01066162630a6162', 'hex');
    const reader = new ByteReader(buf);
    expect(reader.nullableBytes()).toBeNull();
    const abc = reader.nullableBytes();
    expect(abc?.toString()).toBe('abc');
    expect(abc?.buffer).toBe(buf.buffer);
    expectCorrupt(() => reader.nullableBytes(), 'bad-records');
  });

  it('rejects negative lengths other than -1', () => {
    expectCorrupt(() => new ByteReader(Buffer.from('03', 'hex')).nullableBytes(), 'bad-records');
  });
});
