/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) and its default partitioner for
 * keyed records. It must stay bit-for-bit identical to Kafka's: a key hashes to the same
 * partition whether a Kafka client or a Runnel client produced it, and records of one key keep
 * landing on one partition across versions.
 */
import { RunnelError } from '../common/errors.js';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** The 32-bit murmur2 hash of `data` as a signed int32, as Java returns it. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const tail = length & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // Java's switch falls through from 3 to 1; the same as cumulative conditions.
  const left = length & 3;
  if (left === 3) h ^= data[tail + 2]! << 16;
  if (left >= 2) h ^= data[tail + 1]! << 8;
  if (left >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which differs for negatives). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for a record with a non-null key. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1 || numPartitions > 0x7fffffff) {
    throw new RunnelError('INVALID_ARGUMENT', `numPartitions must be a positive int32, got ${numPartitions}`);
  }
  return toPositive(murmur2(key)) % numPartitions;
}
