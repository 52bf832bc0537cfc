/**
 * Kafka's RangeAssignor, topic by topic: the subscribers of a topic in a fixed order, and with P
 * partitions and N subscribers the first P mod N of them get ceil(P/N) contiguous partitions,
 * the rest floor(P/N), in order. Co-partitioned topics (same partition count, same subscribers)
 * therefore put the same partition numbers on the same member, which is what range is for.
 *
 * Order of the subscribers (Kafka's MemberInfo order): static members (instanceId set) first,
 * sorted by instanceId, then dynamic members sorted by memberId; equal instanceIds fall back to
 * memberId. Static members keep their place across restarts, so they keep their partitions.
 *
 * Not sticky: `previous` is ignored. Cost O(S log N + P) for S subscriptions.
 */
import type { Assignor, AssignorInput, AssignorMember, AssignorOutput } from './assignor.js';

export const rangeAssignor: Assignor = { name: 'range', assign: assignRange };

function compareStrings(a: string, b: string): number {
  // Code-unit order, not localeCompare: the result must not depend on the broker's locale.
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRangeOrder(a: AssignorMember, b: AssignorMember): number {
  if (a.instanceId !== null && b.instanceId !== null) {
    return compareStrings(a.instanceId, b.instanceId) || compareStrings(a.memberId, b.memberId);
  }
  if (a.instanceId !== null) return -1;
  if (b.instanceId !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

function assignRange(input: AssignorInput): AssignorOutput {
  const members = [...input.members].sort((a, b) => compareStrings(a.memberId, b.memberId));
  const output: AssignorOutput = new Map(members.map((m) => [m.memberId, new Map<string, number[]>()]));

  const subscribersByTopic = new Map<string, AssignorMember[]>();
  for (const member of members) {
    for (const topic of new Set(member.subscribedTopics)) {
      const partitionCount = input.topicPartitionCounts.get(topic) ?? 0; // unknown topics have none
      if (partitionCount === 0) continue;
      let subscribers = subscribersByTopic.get(topic);
      if (subscribers === undefined) subscribersByTopic.set(topic, (subscribers = []));
      subscribers.push(member);
    }
  }

  // Topics in name order, so each member's Map lists its topics in the same order everywhere.
  for (const topic of [...subscribersByTopic.keys()].sort(compareStrings)) {
    const subscribers = subscribersByTopic.get(topic)!.sort(compareRangeOrder);
    const partitionCount = input.topicPartitionCounts.get(topic)!;
    const floorCount = Math.floor(partitionCount / subscribers.length);
    const ceilMembers = partitionCount % subscribers.length;
    let next = 0;
    subscribers.forEach((member, i) => {
      const count = floorCount + (i < ceilMembers ? 1 : 0);
      if (count === 0) return;
      output.get(member.memberId)!.set(topic, Array.from({ length: count }, (_, k) => next + k));
      next += count;
    });
  }
  return output;
}
