/**
 * KIP-848's "uniform" assignor: balanced and sticky. Like Kafka's server-side UniformAssignor it
 * has two paths, chosen by the subscriptions:
 *
 *   - Homogeneous (every member subscribes to every assignable topic): with P partitions and N
 *     members, P mod N members get a quota of ceil(P/N) and the rest floor(P/N). The ceil quotas
 *     go to the members that held the most valid partitions before (ties: lower member id), so
 *     each member keeps min(previous count, quota) of its previous partitions, the most any
 *     balanced assignment can keep. Freed and new partitions fill the members below quota.
 *   - Heterogeneous: keep every valid previous owner, give each unowned partition to the
 *     least-loaded subscriber of its topic, then move partitions until no move improves the
 *     balance: no member owns a partition of a topic with a subscriber holding at least 2
 *     fewer partitions in total. Moves take partitions the member did not hold before first.
 *
 * "Valid previous" means: the member is still in the group, the topic exists and the member
 * subscribes to it, the partition exists, and no lower member id claimed it first.
 *
 * Everything works in index space: members sorted by id, topics sorted by name, an owner array
 * per topic. No choice depends on the order of `members` or on Map iteration order, so every
 * broker computes the same assignment. Cost, for S subscriptions: O(P + S + N log N) on the
 * homogeneous path; O((P + S) log N) for the heterogeneous fill; each heterogeneous balancing
 * pass over a topic costs O((subscribers + moves) log N), and a topic gets another pass only
 * when a subscriber's total changed (1,000 members x 10,000 partitions: a few milliseconds).
 */
import { assert } from '../../common/assert.js';
import type { Assignor, AssignorInput, AssignorOutput, TopicPartitionsMap } from './assignor.js';

export const uniformAssignor: Assignor = { name: 'uniform', assign: assignUniform };

/** The input in index space; every list ascending. */
interface Group {
  readonly memberIds: readonly string[];
  /** Existing topics with at least one partition and at least one subscriber. */
  readonly topics: readonly string[];
  readonly partitionCounts: readonly number[];
  readonly subscribersByTopic: readonly (readonly number[])[];
  readonly topicsByMember: readonly (readonly number[])[];
}

/** Owner (member index) of every partition, one array per topic index; UNOWNED while free. */
type Owners = Int32Array[];
const UNOWNED = -1;

function assignUniform(input: AssignorInput): AssignorOutput {
  const group = buildGroup(input);
  const owners = validPreviousOwners(group, input.previous);
  const homogeneous = group.topicsByMember.every((topics) => topics.length === group.topics.length);
  if (homogeneous) assignHomogeneous(group, owners);
  else assignHeterogeneous(group, owners);
  return toOutput(group, owners);
}

function compareStrings(a: string, b: string): number {
  // Code-unit order, not localeCompare: the result must not depend on the broker's locale.
  return a < b ? -1 : a > b ? 1 : 0;
}

function buildGroup(input: AssignorInput): Group {
  const memberIds = input.members.map((m) => m.memberId).sort(compareStrings);
  for (let i = 1; i < memberIds.length; i++) assert(memberIds[i - 1] !== memberIds[i], `duplicate member id ${memberIds[i]}`);
  const subscriptionsById = new Map(input.members.map((m) => [m.memberId, m.subscribedTopics]));

  const topicNames = new Set<string>();
  for (const member of input.members) {
    for (const topic of member.subscribedTopics) {
      const count = input.topicPartitionCounts.get(topic);
      if (count === undefined) continue;
      assert(Number.isInteger(count) && count >= 0, `partition count of ${topic} is ${count}`);
      if (count > 0) topicNames.add(topic);
    }
  }
  const topics = [...topicNames].sort(compareStrings);
  const topicIndex = new Map(topics.map((topic, t) => [topic, t]));

  const subscribersByTopic: number[][] = topics.map(() => []);
  const topicsByMember = memberIds.map((memberId, m) => {
    const indices = new Set<number>();
    for (const topic of subscriptionsById.get(memberId) ?? []) {
      const t = topicIndex.get(topic);
      if (t !== undefined) indices.add(t);
    }
    const sorted = [...indices].sort((a, b) => a - b);
    for (const t of sorted) subscribersByTopic[t]!.push(m); // members in ascending order
    return sorted;
  });
  const partitionCounts = topics.map((topic) => input.topicPartitionCounts.get(topic)!);
  return { memberIds, topics, partitionCounts, subscribersByTopic, topicsByMember };
}

/** Owners from `previous`, keeping only valid claims; members in id order, so the lowest id wins a duplicate. */
function validPreviousOwners(group: Group, previous: ReadonlyMap<string, TopicPartitionsMap>): Owners {
  const owners = group.partitionCounts.map((count) => new Int32Array(count).fill(UNOWNED));
  const topicIndex = new Map(group.topics.map((topic, t) => [topic, t]));
  group.memberIds.forEach((memberId, m) => {
    const held = previous.get(memberId);
    if (held === undefined) return;
    const subscribed = new Set(group.topicsByMember[m]);
    for (const [topic, partitions] of held) {
      const t = topicIndex.get(topic);
      if (t === undefined || !subscribed.has(t)) continue;
      const topicOwners = owners[t]!;
      for (const p of partitions) {
        if (Number.isInteger(p) && p >= 0 && p < topicOwners.length && topicOwners[p] === UNOWNED) topicOwners[p] = m;
      }
    }
  });
  return owners;
}

function ownedCounts(memberCount: number, owners: Owners): Int32Array {
  const counts = new Int32Array(memberCount);
  for (const topicOwners of owners) for (const m of topicOwners) if (m !== UNOWNED) counts[m]!++;
  return counts;
}

/** Balanced to within 1; see the file comment for who gets the ceil quotas. */
function assignHomogeneous(group: Group, owners: Owners): void {
  const memberCount = group.memberIds.length;
  if (memberCount === 0) return;
  const totalPartitions = group.partitionCounts.reduce((sum, count) => sum + count, 0);
  const floorQuota = Math.floor(totalPartitions / memberCount);
  const ceilQuotas = totalPartitions % memberCount;

  const previousCounts = ownedCounts(memberCount, owners);
  const byPreviousCount = Array.from({ length: memberCount }, (_, m) => m);
  byPreviousCount.sort((a, b) => previousCounts[b]! - previousCounts[a]! || a - b);
  const quotas = new Int32Array(memberCount);
  byPreviousCount.forEach((m, rank) => (quotas[m] = floorQuota + (rank < ceilQuotas ? 1 : 0)));

  // A member over quota keeps its first previous partitions in (topic, partition) order.
  const counts = new Int32Array(memberCount);
  for (const topicOwners of owners) {
    for (let p = 0; p < topicOwners.length; p++) {
      const m = topicOwners[p]!;
      if (m === UNOWNED) continue;
      if (counts[m]! < quotas[m]!) counts[m]!++;
      else topicOwners[p] = UNOWNED;
    }
  }
  // Free partitions go, in order, to the members below quota in id order: contiguous runs.
  let next = 0;
  for (const topicOwners of owners) {
    for (let p = 0; p < topicOwners.length; p++) {
      if (topicOwners[p] !== UNOWNED) continue;
      while (counts[next]! >= quotas[next]!) next++;
      assert(next < memberCount, 'quotas cover every partition');
      topicOwners[p] = next;
      counts[next]!++;
    }
  }
}

/** What one member holds of one topic: partitions it held before, and partitions given to it now. */
interface Holding {
  readonly kept: number[];
  readonly given: number[];
}

/** The heterogeneous path's working state; `counts` are totals over all topics. */
interface BalanceState {
  readonly group: Group;
  readonly owners: Owners;
  readonly previousOwners: Owners;
  readonly counts: Int32Array;
  /** By topic index: member index -> holding; a member holding nothing of the topic is absent. */
  readonly holdings: Map<number, Holding>[];
}

function assignHeterogeneous(group: Group, owners: Owners): void {
  const holdings = group.topics.map(() => new Map<number, Holding>());
  owners.forEach((topicOwners, t) => {
    for (let p = 0; p < topicOwners.length; p++) {
      const m = topicOwners[p]!;
      if (m !== UNOWNED) holdingOf(holdings[t]!, m).kept.push(p);
    }
  });
  const state: BalanceState = {
    group,
    owners,
    previousOwners: owners.map((topicOwners) => topicOwners.slice()),
    counts: ownedCounts(group.memberIds.length, owners),
    holdings,
  };
  fillUnowned(state);
  balance(state);
}

function holdingOf(topicHoldings: Map<number, Holding>, m: number): Holding {
  let holding = topicHoldings.get(m);
  if (holding === undefined) topicHoldings.set(m, (holding = { kept: [], given: [] }));
  return holding;
}

/**
 * Each unowned partition to the subscriber with the fewest partitions (ties: lower id). Topics
 * with fewer subscribers go first: their partitions have fewer places to go, and later topics
 * can fill around them.
 */
function fillUnowned(state: BalanceState): void {
  const { group, owners, counts, holdings } = state;
  const order = group.topics.map((_, t) => t);
  order.sort((a, b) => group.subscribersByTopic[a]!.length - group.subscribersByTopic[b]!.length || a - b);
  for (const t of order) {
    const topicOwners = owners[t]!;
    if (!topicOwners.includes(UNOWNED)) continue;
    const receivers = new MemberHeap(counts, 'fewest-first');
    for (const m of group.subscribersByTopic[t]!) receivers.push(m);
    for (let p = 0; p < topicOwners.length; p++) {
      if (topicOwners[p] !== UNOWNED) continue;
      const m = receivers.top();
      assert(m !== NO_MEMBER, 'a topic with partitions has a subscriber');
      topicOwners[p] = m;
      holdingOf(holdings[t]!, m).given.push(p);
      counts[m]!++;
      receivers.push(m);
    }
  }
}

/**
 * Balance topic by topic until every topic is balanced. A topic stays balanced until the total
 * of one of its subscribers changes, and only its own pass moves its partitions, so after a pass
 * only the topics of the members whose totals changed need another. Every move lowers the sum
 * of squared totals (it moves from a total c to a total <= c - 2), so this ends.
 */
function balance(state: BalanceState): void {
  const { group } = state;
  const topicCount = group.topics.length;
  // Each topic is queued at most once at a time, so a ring of topicCount slots suffices.
  const queue = Int32Array.from(group.topics.keys());
  const queued = new Uint8Array(topicCount).fill(1);
  let head = 0;
  let length = topicCount;
  while (length > 0) {
    const t = queue[head]!;
    head = (head + 1) % topicCount;
    length--;
    queued[t] = 0;
    for (const m of balanceTopic(state, t)) {
      for (const u of group.topicsByMember[m]!) {
        if (u === t || queued[u] === 1) continue;
        queued[u] = 1;
        queue[(head + length) % topicCount] = u;
        length++;
      }
    }
  }
}

/**
 * Moves partitions of topic t from its most-loaded holder to its least-loaded subscriber while
 * they differ by 2 or more; returns the members whose totals changed.
 */
function balanceTopic(state: BalanceState, t: number): Set<number> {
  const { counts } = state;
  const topicHoldings = state.holdings[t]!;
  const receivers = new MemberHeap(counts, 'fewest-first');
  const holders = new MemberHeap(counts, 'most-first');
  for (const m of state.group.subscribersByTopic[t]!) receivers.push(m);
  for (const m of topicHoldings.keys()) holders.push(m);
  const holdsTopic = (m: number): boolean => topicHoldings.has(m);

  const changed = new Set<number>();
  while (true) {
    const from = holders.top(holdsTopic);
    if (from === NO_MEMBER) break;
    const to = receivers.top();
    assert(to !== NO_MEMBER, 'a topic with partitions has a subscriber');
    if (counts[from]! - counts[to]! < 2) break;
    movePartition(state, t, from, to);
    changed.add(from).add(to);
    for (const m of [from, to]) {
      receivers.push(m);
      if (holdsTopic(m)) holders.push(m);
    }
  }
  return changed;
}

function movePartition(state: BalanceState, t: number, from: number, to: number): void {
  const topicHoldings = state.holdings[t]!;
  const source = topicHoldings.get(from)!;
  // A partition given in this round costs no stickiness to move; a kept one does.
  const p = source.given.pop() ?? source.kept.pop();
  assert(p !== undefined, 'a holder holds a partition');
  if (source.given.length === 0 && source.kept.length === 0) topicHoldings.delete(from);
  const target = holdingOf(topicHoldings, to);
  if (state.previousOwners[t]![p] === to) target.kept.push(p);
  else target.given.push(p);
  state.owners[t]![p] = to;
  state.counts[from]!--;
  state.counts[to]!++;
}

/** Every member gets an entry; topics in name order, partitions ascending, empty topics left out. */
function toOutput(group: Group, owners: Owners): AssignorOutput {
  const assignments = group.memberIds.map(() => new Map<string, number[]>());
  owners.forEach((topicOwners, t) => {
    const topic = group.topics[t]!;
    for (let p = 0; p < topicOwners.length; p++) {
      const m = topicOwners[p]!;
      assert(m !== UNOWNED, `partition ${topic}-${p} is assigned`);
      const topicAssignment = assignments[m]!;
      const partitions = topicAssignment.get(topic);
      if (partitions === undefined) topicAssignment.set(topic, [p]);
      else partitions.push(p);
    }
  });
  return new Map(group.memberIds.map((memberId, m) => [memberId, assignments[m]!]));
}

const NO_MEMBER = -1;

/**
 * Members ordered by their current total, ties to the lower member index. An entry is a
 * (total, member) snapshot packed into one number, so the heap holds plain numbers; the caller
 * pushes a member again after each change of its total, and `top` drops stale snapshots.
 */
class MemberHeap {
  private readonly heap = new MinHeap();

  constructor(
    private readonly counts: Int32Array,
    private readonly order: 'fewest-first' | 'most-first',
  ) {}

  push(m: number): void {
    this.heap.push(this.key(m));
  }

  /** The first member whose snapshot is current and that `accept`s (others are dropped), or NO_MEMBER. */
  top(accept: (m: number) => boolean = () => true): number {
    while (this.heap.size > 0) {
      const key = this.heap.peek();
      const m = this.memberOf(key);
      if (key === this.key(m) && accept(m)) return m;
      this.heap.pop();
    }
    return NO_MEMBER;
  }

  private key(m: number): number {
    const memberCount = this.counts.length;
    // Most-first negates the key of the reversed index, so ties still go to the lower index.
    if (this.order === 'fewest-first') return this.counts[m]! * memberCount + m;
    return -(this.counts[m]! * memberCount + (memberCount - 1 - m));
  }

  private memberOf(key: number): number {
    const memberCount = this.counts.length;
    return this.order === 'fewest-first' ? key % memberCount : memberCount - 1 - (-key % memberCount);
  }
}

/** A binary min-heap of numbers; the caller encodes its keys so that ties cannot occur between members. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    assert(this.items.length > 0, 'peek on an empty heap');
    return this.items[0]!;
  }

  push(value: number): void {
    const items = this.items;
    let i = items.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= value) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = this.peek();
    const last = items.pop()!;
    if (items.length === 0) return top;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && items[child + 1]! < items[child]!) child++;
      if (items[child]! >= last) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
