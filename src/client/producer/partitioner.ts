/**
 * Partition choice, as Kafka's default partitioner:
 * - a keyed record goes to toPositive(murmur2(key)) % partitions (src/format/murmur2.ts), so a key
 *   lands where a Kafka client would put it;
 * - an unkeyed record goes to the topic's "sticky" partition, which changes only when a batch of
 *   that partition is completed (KIP-480): unkeyed records fill one batch at a time instead of
 *   spreading one record per partition, which makes fewer, larger batches at the same linger.
 */
import { partitionForKey } from '../../format/murmur2.js';

export class Partitioner {
  private readonly sticky = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  /** The partition of a keyed record. */
  forKey(key: Buffer, partitionCount: number): number {
    return partitionForKey(key, partitionCount);
  }

  /** The topic's sticky partition for unkeyed records (chosen at random the first time). */
  stickyPartition(topic: string, partitionCount: number): number {
    const current = this.sticky.get(topic);
    if (current !== undefined && current < partitionCount) return current;
    const chosen = Math.floor(this.random() * partitionCount);
    this.sticky.set(topic, chosen);
    return chosen;
  }

  /** A batch of `partition` was completed: unkeyed records of the topic move to another partition. */
  batchCompleted(topic: string, partition: number, partitionCount: number): void {
    if (this.sticky.get(topic) !== partition) return;
    if (partitionCount < 2) return;
    // Any partition but the one just filled, uniformly.
    const other = Math.floor(this.random() * (partitionCount - 1));
    this.sticky.set(topic, other >= partition ? other + 1 : other);
  }
}
