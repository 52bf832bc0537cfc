import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, toPositive } from '../../src/format/murmur2.js';
import { expectRunnelError } from './helpers.js';

describe('murmur2', () => {
  // The vectors of Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils).
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('hashes %j to %d as Kafka does', (key, expected) => {
    expect(murmur2(Buffer.from(key, 'utf8'))).toBe(expected);
  });

  // Kafka's vectors leave no byte over with length % 4 === 1; these, computed with Kafka's
  // Utils.murmur2, come from Akka's Murmur2Spec (akka-cluster-sharding-typed), which ports it.
  it.each([
    ['1', -1993445489],
    ['12', 126087238],
    ['123', -267702483],
    ['1234', -1614185708],
    ['12345', -1188365604],
  ])('hashes %j to %d (every tail length)', (key, expected) => {
    expect(murmur2(Buffer.from(key, 'utf8'))).toBe(expected);
  });

  it('returns a signed int32 for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const h = murmur2(bytes);
        expect(h).toBe(h | 0);
      }),
    );
  });
});

describe('toPositive', () => {
  it('clears the sign bit rather than negating', () => {
    expect(toPositive(5)).toBe(5);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-0x80000000)).toBe(0);
    expect(toPositive(-973932308)).toBe(1173551340);
  });
});

describe('partitionForKey', () => {
  it.each([
    ['21', 3, 0],
    ['21', 32, 12],
    ['foobar', 10, 6],
    ['a-little-bit-long-string', 3, 2],
    ['a-little-bit-longer-string', 1000, 819],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', 32, 13],
    ['abc', 10, 7],
    ['abc', 1, 0],
  ])('puts key %j in partition %#: of %d -> %d', (key, partitions, expected) => {
    expect(partitionForKey(Buffer.from(key), partitions)).toBe(expected);
  });

  it('always lands in [0, numPartitions)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const p = partitionForKey(key, n);
        expect(p >= 0 && p < n && Number.isInteger(p)).toBe(true);
      }),
    );
  });

  it('rejects a partition count that is not a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) {
      expectRunnelError(() => partitionForKey(Buffer.from('k'), n), 'INVALID_ARGUMENT');
    }
  });
});
