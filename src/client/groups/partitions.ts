/** Topic-partitions on the client side of the group protocol: keys for maps, and the wire's grouped lists. */
import type { TopicPartition } from '../admin/types.js';

export type { TopicPartition };

export function keyOf({ topic, partition }: TopicPartition): string {
  return `${topic}\u0000${partition}`;
}

export function fromLists(lists: readonly { topic: string; partitions: readonly number[] }[]): Map<string, TopicPartition> {
  const out = new Map<string, TopicPartition>();
  for (const { topic, partitions } of lists) for (const partition of partitions) out.set(keyOf({ topic, partition }), { topic, partition });
  return out;
}

export function toLists(partitions: Iterable<TopicPartition>): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    let list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, (list = []));
    list.push(partition);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}
