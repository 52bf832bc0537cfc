/**
 * Topic-partitions as the coordinator handles them: one string key per partition
 * (`topic` NUL `partition`; NUL cannot occur in a topic name), so assignments are plain Sets
 * and set differences stay cheap; and conversions to and from the wire's grouped form.
 */
export type TpKey = string;

export interface TopicPartitionList {
  topic: string;
  partitions: number[];
}

export function tpKey(topic: string, partition: number): TpKey {
  return `${topic}\u0000${partition}`;
}

export function parseTpKey(key: TpKey): { topic: string; partition: number } {
  const cut = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)) };
}

/** Grouped by topic, topics and partitions ascending (the wire form). */
export function toTopicPartitionLists(keys: Iterable<TpKey>): TopicPartitionList[] {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const { topic, partition } = parseTpKey(key);
    let list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, (list = []));
    list.push(partition);
  }
  return [...byTopic.keys()].sort().map((topic) => ({ topic, partitions: byTopic.get(topic)!.sort((a, b) => a - b) }));
}

export function fromTopicPartitionLists(lists: readonly { topic: string; partitions: readonly number[] }[]): Set<TpKey> {
  const keys = new Set<TpKey>();
  for (const { topic, partitions } of lists) for (const partition of partitions) keys.add(tpKey(topic, partition));
  return keys;
}

/** Elements of `a` not in `b`. */
export function difference(a: ReadonlySet<TpKey>, b: ReadonlySet<TpKey>): Set<TpKey> {
  const out = new Set<TpKey>();
  for (const key of a) if (!b.has(key)) out.add(key);
  return out;
}

export function intersection(a: ReadonlySet<TpKey>, b: ReadonlySet<TpKey>): Set<TpKey> {
  const out = new Set<TpKey>();
  for (const key of a) if (b.has(key)) out.add(key);
  return out;
}

export function sameKeys(a: ReadonlySet<TpKey>, b: ReadonlySet<TpKey>): boolean {
  if (a.size !== b.size) return false;
  for (const key of a) if (!b.has(key)) return false;
  return true;
}
