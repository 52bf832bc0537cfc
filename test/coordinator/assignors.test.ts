import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ASSIGNOR_NAMES,
  assignorByName,
  rangeAssignor,
  uniformAssignor,
  type Assignor,
  type AssignorInput,
  type AssignorMember,
  type AssignorOutput,
} from '../../src/coordinator/assignors/index.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function member(memberId: string, subscribedTopics: string[], instanceId: string | null = null): AssignorMember {
  return { memberId, instanceId, subscribedTopics };
}

function input(members: AssignorMember[], topics: Record<string, number>, previous: AssignorOutput = new Map()): AssignorInput {
  return { members, topicPartitionCounts: new Map(Object.entries(topics)), previous };
}

/** Member ids m1..mN, all subscribed to `topics`. */
function members(count: number, topics: string[], firstId = 1): AssignorMember[] {
  return Array.from({ length: count }, (_, i) => member(`m${firstId + i}`, topics));
}

/** The output as plain arrays, in its own iteration order: equal strings mean equal outputs, order included. */
function canonical(output: AssignorOutput): string {
  return JSON.stringify([...output].map(([memberId, topics]) => [memberId, [...topics]]));
}

function total(output: AssignorOutput, memberId: string): number {
  let sum = 0;
  for (const partitions of output.get(memberId)?.values() ?? []) sum += partitions.length;
  return sum;
}

/** Partitions (as "topic:partition") that `after` gives to the same member as `before` did. */
function keptCount(before: AssignorOutput, after: AssignorOutput, memberId: string): number {
  const held = new Set<string>();
  for (const [topic, partitions] of before.get(memberId) ?? []) for (const p of partitions) held.add(`${topic}:${p}`);
  let kept = 0;
  for (const [topic, partitions] of after.get(memberId) ?? []) for (const p of partitions) if (held.has(`${topic}:${p}`)) kept++;
  return kept;
}

/** Existing topics (with partitions) that a member subscribes to, sorted. */
function assignableTopics(group: AssignorInput, m: AssignorMember): string[] {
  return [...new Set(m.subscribedTopics)].filter((t) => (group.topicPartitionCounts.get(t) ?? 0) > 0).sort();
}

function isHomogeneous(group: AssignorInput): boolean {
  const sets = group.members.map((m) => assignableTopics(group, m).join(','));
  return sets.every((s) => s === sets[0]);
}

/** The validity rules of AssignorOutput, as expect() calls. */
function expectValid(group: AssignorInput, output: AssignorOutput): void {
  expect([...output.keys()].sort()).toEqual(group.members.map((m) => m.memberId).sort());
  const owners = new Map<string, string>();
  for (const m of group.members) {
    const subscribed = new Set(m.subscribedTopics);
    for (const [topic, partitions] of output.get(m.memberId)!) {
      expect(subscribed.has(topic), `${m.memberId} subscribes to ${topic}`).toBe(true);
      const count = group.topicPartitionCounts.get(topic);
      expect(count, `${topic} exists`).toBeDefined();
      expect(partitions.length, `${m.memberId} ${topic} not empty`).toBeGreaterThan(0);
      partitions.forEach((p, i) => {
        expect(Number.isInteger(p) && p >= 0 && p < count!, `${topic}:${p} exists`).toBe(true);
        if (i > 0) expect(p, `${m.memberId} ${topic} ascending`).toBeGreaterThan(partitions[i - 1]);
        const key = `${topic}:${p}`;
        expect(owners.get(key), `${key} has one owner`).toBeUndefined();
        owners.set(key, m.memberId);
      });
    }
  }
  const subscribedTopics = new Set(group.members.flatMap((m) => m.subscribedTopics));
  let expected = 0;
  for (const [topic, count] of group.topicPartitionCounts) if (subscribedTopics.has(topic)) expected += count;
  expect(owners.size, 'every subscribed partition is assigned').toBe(expected);
}

/** A member owning a partition that a subscriber with 2 or more fewer partitions could take. */
function improvingMove(group: AssignorInput, output: AssignorOutput): string | undefined {
  for (const topic of group.topicPartitionCounts.keys()) {
    const subscribers = group.members.filter((m) => m.subscribedTopics.includes(topic)).map((m) => m.memberId);
    if (subscribers.length === 0) continue;
    const least = Math.min(...subscribers.map((id) => total(output, id)));
    for (const id of subscribers) {
      if (output.get(id)!.has(topic) && total(output, id) - least >= 2) return `${id} (${total(output, id)}) could give ${topic} to a member with ${least}`;
    }
  }
  return undefined;
}

function expectBalanced(group: AssignorInput, output: AssignorOutput): void {
  expect(improvingMove(group, output)).toBeUndefined();
  if (isHomogeneous(group) && group.members.length > 0) {
    const totals = group.members.map((m) => total(output, m.memberId));
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(1);
  }
}

/**
 * The stickiness promised for homogeneous groups: with quotas floor(P/N) and ceil(P/N), the
 * ceil ones going to the members that held the most, each member keeps min(previous, quota).
 */
function expectHomogeneousSticky(previous: AssignorOutput, output: AssignorOutput): void {
  const ids = [...output.keys()];
  const held = ids.map((id) => total(previous, id));
  const partitionCount = ids.reduce((sum, id) => sum + total(output, id), 0);
  for (const [i, id] of ids.entries()) {
    expect(keptCount(previous, output, id), `${id} keeps min(previous, quota)`).toBe(Math.min(held[i], total(output, id)));
  }
  const floor = Math.floor(partitionCount / ids.length);
  const ceilCount = partitionCount % ids.length;
  const best = [...held].sort((a, b) => b - a).reduce((sum, h, rank) => sum + Math.min(h, floor + (rank < ceilCount ? 1 : 0)), 0);
  const kept = ids.reduce((sum, id) => sum + keptCount(previous, output, id), 0);
  expect(kept, 'as many partitions kept as any balanced assignment could').toBe(best);
}

/** Partitions whose owner changed between two outputs (a partition new in `after` does not count). */
function movedCount(before: AssignorOutput, after: AssignorOutput): number {
  const ownerBefore = new Map<string, string>();
  for (const [id, topics] of before) for (const [topic, ps] of topics) for (const p of ps) ownerBefore.set(`${topic}:${p}`, id);
  let moved = 0;
  for (const [id, topics] of after) {
    for (const [topic, ps] of topics) for (const p of ps) if ((ownerBefore.get(`${topic}:${p}`) ?? id) !== id) moved++;
  }
  return moved;
}

// ---------------------------------------------------------------------------------------------
// Random groups for property tests

/** Six topics that may exist; `ghost` never does. */
const TOPICS = ['t0', 't1', 't2', 't3', 't4', 't5'];
const SUBSCRIBABLE = [...TOPICS, 'ghost'];
const MAX_MEMBERS = 20;
const PROPERTY_RUNS = { numRuns: 200, seed: 848 };

interface GroupSpec {
  readonly homogeneous: boolean;
}

/**
 * Up to 20 members (ids m0..m39, so string order differs from numeric order; some static),
 * up to 6 topics of 0..50 partitions, random subscriptions (the same for all when homogeneous;
 * in any order, with duplicates and unknown topics),
 * and a garbage previous assignment: unknown topics, partitions out of range or duplicated, two
 * owners for one partition, members that are gone.
 */
function groupArb({ homogeneous }: GroupSpec): fc.Arbitrary<AssignorInput> {
  const claim = fc.record({
    owner: fc.integer({ min: 0, max: MAX_MEMBERS + 4 }),
    topic: fc.constantFrom(...SUBSCRIBABLE),
    partitions: fc.array(fc.integer({ min: -2, max: 55 }), { maxLength: 12 }),
  });
  return fc
    .record({
      partitionCounts: fc.array(fc.option(fc.integer({ min: 0, max: 50 }), { freq: 6, nil: undefined }), { minLength: 6, maxLength: 6 }),
      memberNumbers: fc.uniqueArray(fc.integer({ min: 0, max: 39 }), { maxLength: MAX_MEMBERS }),
      isStatic: fc.array(fc.boolean(), { minLength: MAX_MEMBERS, maxLength: MAX_MEMBERS }),
      // Any order, duplicates allowed.
      subscriptions: fc.array(fc.array(fc.constantFrom(...SUBSCRIBABLE), { maxLength: 9 }), { minLength: MAX_MEMBERS, maxLength: MAX_MEMBERS }),
      claims: fc.array(claim, { maxLength: 30 }),
    })
    .map(({ partitionCounts, memberNumbers, isStatic, subscriptions, claims }) => {
      const topics: Record<string, number> = {};
      partitionCounts.forEach((count, t) => count !== undefined && (topics[TOPICS[t]] = count));
      const groupMembers = memberNumbers.map((n, i) =>
        // (7n mod 40) keeps instance ids unique and orders them unlike member ids.
        member(`m${n}`, homogeneous ? subscriptions[0] : subscriptions[i], isStatic[i] ? `i${(7 * n) % 40}` : null),
      );
      const previous: AssignorOutput = new Map();
      for (const { owner, topic, partitions } of claims) {
        const id = owner < groupMembers.length ? groupMembers[owner].memberId : `gone${owner}`;
        if (!previous.has(id)) previous.set(id, new Map());
        previous.get(id)!.set(topic, partitions);
      }
      return input(groupMembers, topics, previous);
    });
}

/** A small deterministic PRNG (mulberry32), so shuffles are reproducible from a seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function shuffled<T>(items: Iterable<T>, next: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The same group with members, previous entries and previous topics in another order. */
function reordered(group: AssignorInput, seed: number): AssignorInput {
  const next = random(seed);
  const previous: AssignorOutput = new Map(
    shuffled(group.previous, next).map(([id, topics]) => [id, new Map(shuffled(topics, next).map(([t, ps]) => [t, [...ps]]))]),
  );
  return { members: shuffled(group.members, next), topicPartitionCounts: new Map(shuffled(group.topicPartitionCounts, next)), previous };
}

// ---------------------------------------------------------------------------------------------
// Examples

describe('assignorByName', () => {
  it('knows every name in ASSIGNOR_NAMES and nothing else', () => {
    for (const name of ASSIGNOR_NAMES) expect(assignorByName(name)?.name).toBe(name);
    expect(assignorByName('uniform')).toBe(uniformAssignor);
    expect(assignorByName('range')).toBe(rangeAssignor);
    expect(assignorByName('cooperative-sticky')).toBeUndefined();
    expect(assignorByName('constructor')).toBeUndefined();
  });
});

describe('uniform assignor examples', () => {
  it('spreads a 12-partition topic over 1..8 members in contiguous runs, lower ids taking the extra ones', () => {
    const layouts: Record<number, number[]> = {
      1: [12],
      2: [6, 6],
      3: [4, 4, 4],
      4: [3, 3, 3, 3],
      5: [3, 3, 2, 2, 2],
      6: [2, 2, 2, 2, 2, 2],
      7: [2, 2, 2, 2, 2, 1, 1],
      8: [2, 2, 2, 2, 1, 1, 1, 1],
    };
    for (const [n, sizes] of Object.entries(layouts)) {
      const group = input(members(Number(n), ['orders']), { orders: 12 });
      const output = uniformAssignor.assign(group);
      expectValid(group, output);
      let next = 0;
      const expected = sizes.map((size, i) => [`m${i + 1}`, [['orders', Array.from({ length: size }, () => next++)]]]);
      expect(JSON.parse(canonical(output))).toEqual(expected);
      expect(canonical(rangeAssignor.assign(group))).toBe(canonical(output)); // from scratch, the same as range
    }
  });

  it('moves one partition when a ninth member joins a group of 8 over 12 partitions', () => {
    const before = uniformAssignor.assign(input(members(8, ['orders']), { orders: 12 }));
    const group = input(members(9, ['orders']), { orders: 12 }, before);
    const after = uniformAssignor.assign(group);
    expectValid(group, after);
    // Quotas 2,2,2 and six 1s: m1-m3 keep their two, m4 gives up its second to m9.
    expect(after.get('m4')).toEqual(new Map([['orders', [6]]]));
    expect(after.get('m9')).toEqual(new Map([['orders', [7]]]));
    expect(movedCount(before, after)).toBe(1);
    expectHomogeneousSticky(before, after);
  });

  it('gives the extra partitions to the members that held the most, not to the lowest ids', () => {
    const before = uniformAssignor.assign(input(members(8, ['orders']), { orders: 12 }));
    // m0 sorts first but held nothing: it gets a floor quota of 1, and m1-m3 keep their two.
    const group = input([member('m0', ['orders']), ...members(8, ['orders'])], { orders: 12 }, before);
    const after = uniformAssignor.assign(group);
    expect(after.get('m0')).toEqual(new Map([['orders', [7]]]));
    expect(movedCount(before, after)).toBe(1);
    expectHomogeneousSticky(before, after);
  });

  it('moves only the leaver’s partitions when one of 8 members leaves', () => {
    const before = uniformAssignor.assign(input(members(8, ['orders']), { orders: 12 }));
    for (const leaver of ['m3', 'm5']) {
      const group = input(members(8, ['orders']).filter((m) => m.memberId !== leaver), { orders: 12 }, before);
      const after = uniformAssignor.assign(group);
      expectValid(group, after);
      const moved = movedCount(before, after);
      console.log(`12 partitions, 8 -> 7 members, ${leaver} (${total(before, leaver)} partitions) left: ${moved} moved`);
      expect(moved).toBe(total(before, leaver));
      for (const id of after.keys()) expect(keptCount(before, after, id)).toBe(total(before, id));
    }
    // m3 held [4, 5]; the members below their new quota of 2 (m5, m6) take one each.
    const after = uniformAssignor.assign(input(members(8, ['orders']).filter((m) => m.memberId !== 'm3'), { orders: 12 }, before));
    expect(after.get('m5')).toEqual(new Map([['orders', [4, 8]]]));
    expect(after.get('m6')).toEqual(new Map([['orders', [5, 9]]]));
  });

  it('balances heterogeneous subscriptions as far as the subscriptions allow', () => {
    // m1 can only take `a`, so m2 takes all of `b` and the rest of `a`: 4 and 4.
    const shared = input([member('m1', ['a']), member('m2', ['a', 'b'])], { a: 6, b: 2 });
    const output = uniformAssignor.assign(shared);
    expectValid(shared, output);
    expect(output.get('m1')!.get('a')).toHaveLength(4);
    expect(output.get('m2')!.get('b')).toEqual([0, 1]);
    expect(output.get('m2')!.get('a')).toHaveLength(2);

    // Disjoint subscriptions cannot be balanced, and no move is attempted.
    const disjoint = input([member('m1', ['a']), member('m2', ['b'])], { a: 1, b: 5 });
    const apart = uniformAssignor.assign(disjoint);
    expect(JSON.parse(canonical(apart))).toEqual([
      ['m1', [['a', [0]]]],
      ['m2', [['b', [0, 1, 2, 3, 4]]]],
    ]);

    // A previous assignment that piles everything on m2 is rebalanced by moving m2's partitions of `a`.
    const piled: AssignorOutput = new Map([['m2', new Map([['a', [0, 1, 2, 3, 4, 5]], ['b', [0, 1]]])]]);
    const rebalanced = uniformAssignor.assign({ ...shared, previous: piled });
    expectValid(shared, rebalanced);
    expect(total(rebalanced, 'm1')).toBe(4);
    expect(rebalanced.get('m2')!.get('b')).toEqual([0, 1]);
  });

  it('gives members nothing for unknown topics, and never assigns topics nobody subscribes to', () => {
    const group = input([member('m1', ['ghost', 'a']), member('m2', ['ghost'])], { a: 3, unwatched: 4, empty: 0 });
    for (const assignor of [uniformAssignor, rangeAssignor]) {
      const output = assignor.assign(group);
      expectValid(group, output);
      expect(JSON.parse(canonical(output))).toEqual([
        ['m1', [['a', [0, 1, 2]]]],
        ['m2', []],
      ]);
    }
  });

  it('returns an empty assignment for zero members, and empty Maps for members without topics', () => {
    for (const assignor of [uniformAssignor, rangeAssignor]) {
      expect(assignor.assign(input([], { a: 3 }))).toEqual(new Map());
      const output = assignor.assign(input([member('m1', []), member('m2', ['ghost'])], { a: 3 }));
      expect(JSON.parse(canonical(output))).toEqual([
        ['m1', []],
        ['m2', []],
      ]);
    }
  });

  it('keeps only valid previous claims: existing, subscribed, in range, first member id wins a duplicate', () => {
    const previous: AssignorOutput = new Map([
      ['m2', new Map([['a', [0, 1, 7, -1, 1.5]], ['b', [0]], ['ghost', [0]]])],
      ['m1', new Map([['a', [1, 2]], ['b', [1]]])],
      ['gone', new Map([['a', [3]]])],
    ]);
    const group = input([member('m2', ['a', 'b']), member('m1', ['a'])], { a: 4, b: 2 }, previous);
    const output = uniformAssignor.assign(group);
    expectValid(group, output);
    // m1 (lower id) wins a-1 and keeps a-2 but not b-1 (not subscribed); m2 keeps a-0 and b-0
    // (a-7, a-(-1), a-1.5 do not exist). The free a-3 and b-1 then go where they balance.
    expect(JSON.parse(canonical(output))).toEqual([
      ['m1', [['a', [1, 2, 3]]]],
      ['m2', [['a', [0]], ['b', [0, 1]]]],
    ]);

    // Balancing can hide who won a duplicate above; here it cannot: m1 keeps 1 and 2, m2 keeps 0.
    const duplicated: AssignorOutput = new Map([
      ['m2', new Map([['a', [0, 1]]])],
      ['m1', new Map([['a', [2, 1]]])],
    ]);
    const twoOwners = uniformAssignor.assign(input(members(2, ['a']), { a: 4 }, duplicated));
    expect(JSON.parse(canonical(twoOwners))).toEqual([
      ['m1', [['a', [1, 2]]]],
      ['m2', [['a', [0, 3]]]],
    ]);
  });
});

describe('range assignor examples', () => {
  it('orders static members by instance id ahead of dynamic members by member id', () => {
    const group = input([member('a', ['t']), member('b', ['t'], 'z'), member('c', ['t'], 'y'), member('d', ['t'])], { t: 10 });
    const output = rangeAssignor.assign(group);
    expectValid(group, output);
    // Order c (y), b (z), a, d; 10 over 4: 3, 3, 2, 2.
    expect(output.get('c')!.get('t')).toEqual([0, 1, 2]);
    expect(output.get('b')!.get('t')).toEqual([3, 4, 5]);
    expect(output.get('a')!.get('t')).toEqual([6, 7]);
    expect(output.get('d')!.get('t')).toEqual([8, 9]);
  });

  it('puts the same partition numbers of co-partitioned topics on the same member, and ignores previous', () => {
    const group = input(members(3, ['clicks', 'views']), { clicks: 5, views: 5 });
    const output = rangeAssignor.assign(group);
    for (const topics of output.values()) expect(topics.get('clicks')).toEqual(topics.get('views'));
    const previous: AssignorOutput = new Map([['m3', new Map([['clicks', [0, 1, 2, 3, 4]]])]]);
    expect(canonical(rangeAssignor.assign({ ...group, previous }))).toBe(canonical(output));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

describe.each<Assignor>([uniformAssignor, rangeAssignor])('$name assignor properties', (assignor) => {
  it('produces a valid assignment for any group and any previous assignment', () => {
    fc.assert(
      fc.property(fc.boolean().chain((homogeneous) => groupArb({ homogeneous })), (group) => {
        expectValid(group, assignor.assign(group));
      }),
      PROPERTY_RUNS,
    );
  });

  it('gives the same output whatever the order of members, topics and previous entries', () => {
    fc.assert(
      fc.property(groupArb({ homogeneous: false }), fc.integer(), (group, seed) => {
        expect(canonical(assignor.assign(reordered(group, seed)))).toBe(canonical(assignor.assign(group)));
      }),
      PROPERTY_RUNS,
    );
  });
});

describe('uniform assignor properties', () => {
  it('balances homogeneous groups to within 1', () => {
    fc.assert(
      fc.property(groupArb({ homogeneous: true }), (group) => {
        expectBalanced(group, uniformAssignor.assign(group));
      }),
      PROPERTY_RUNS,
    );
  });

  it('leaves no improving move in heterogeneous groups', () => {
    fc.assert(
      fc.property(groupArb({ homogeneous: false }), (group) => {
        expectBalanced(group, uniformAssignor.assign(group));
      }),
      PROPERTY_RUNS,
    );
  });

  it('is a fixed point: reassigning an unchanged group from its own output changes nothing', () => {
    fc.assert(
      fc.property(groupArb({ homogeneous: false }), (group) => {
        const output = uniformAssignor.assign(group);
        expect(canonical(uniformAssignor.assign({ ...group, previous: output }))).toBe(canonical(output));
      }),
      PROPERTY_RUNS,
    );
  });

  it('keeps min(previous, quota) per member when homogeneous members join or leave', () => {
    const change = fc.record({
      group: groupArb({ homogeneous: true }).filter((g) => g.members.length > 0),
      joiners: fc.integer({ min: 0, max: 5 }),
      leaverSeed: fc.integer(),
      leavers: fc.integer({ min: 0, max: MAX_MEMBERS - 1 }),
    });
    fc.assert(
      fc.property(change, ({ group, joiners, leaverSeed, leavers }) => {
        const before = uniformAssignor.assign(group);
        const stay = shuffled(group.members, random(leaverSeed)).slice(Math.min(leavers, group.members.length - 1));
        const subscribed = group.members[0].subscribedTopics;
        // Joiners sort both before and after the members (a quota by id order would show).
        const joined = Array.from({ length: joiners }, (_, i) => member(i % 2 === 0 ? `a${i}` : `z${i}`, [...subscribed]));
        const next: AssignorInput = { ...group, members: [...stay, ...joined], previous: before };
        const after = uniformAssignor.assign(next);
        expectValid(next, after);
        expectBalanced(next, after);
        expectHomogeneousSticky(before, after);
        if (joiners === 0) {
          // Only leaving: everyone who stays keeps everything, so only the leavers' partitions move.
          for (const m of stay) expect(keptCount(before, after, m.memberId)).toBe(total(before, m.memberId));
        }
      }),
      PROPERTY_RUNS,
    );
  });
});

describe('range assignor properties', () => {
  it('lays each topic out in contiguous runs over its subscribers in range order, ceil sizes first', () => {
    // Static members by instance id, then dynamic members by member id (instance ids are unique here).
    const key = (m: AssignorMember): string => (m.instanceId === null ? `1 ${m.memberId}` : `0 ${m.instanceId}`);
    const rangeOrder = (a: AssignorMember, b: AssignorMember): number => (key(a) < key(b) ? -1 : 1);
    fc.assert(
      fc.property(groupArb({ homogeneous: false }), (group) => {
        const output = rangeAssignor.assign(group);
        for (const [topic, count] of group.topicPartitionCounts) {
          const subscribers = group.members.filter((m) => m.subscribedTopics.includes(topic)).sort(rangeOrder);
          if (subscribers.length === 0) continue;
          const runs = subscribers.map((m) => output.get(m.memberId)!.get(topic) ?? []);
          expect(runs.flat()).toEqual(Array.from({ length: count }, (_, p) => p));
          const sizes = runs.map((run) => run.length);
          const floor = Math.floor(count / subscribers.length);
          expect(sizes).toEqual(sizes.map((_, i) => floor + (i < count % subscribers.length ? 1 : 0)));
        }
      }),
      PROPERTY_RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Scale

describe('uniform assignor at scale', () => {
  it('assigns 10,000 partitions (10 topics of 1,000) over 1,000 members in well under 2 s', () => {
    const topicNames = Array.from({ length: 10 }, (_, t) => `topic-${t}`);
    const topics = Object.fromEntries(topicNames.map((t) => [t, 1000]));
    const ids = Array.from({ length: 1000 }, (_, i) => `member-${String(i).padStart(4, '0')}`);
    const timed = (label: string, group: AssignorInput): AssignorOutput => {
      const startMs = performance.now();
      const output = uniformAssignor.assign(group);
      const elapsedMs = performance.now() - startMs;
      console.log(`uniform, 1,000 members x 10,000 partitions, ${label}: ${elapsedMs.toFixed(1)} ms`);
      expect(elapsedMs).toBeLessThan(2000);
      expectValid(group, output);
      return output;
    };

    const homogeneous = input(ids.map((id) => member(id, topicNames)), topics);
    const fresh = timed('homogeneous, from scratch', homogeneous);
    const changedMembers = [...homogeneous.members.slice(1), member('member-new', topicNames)];
    timed('homogeneous, one leaves and one joins', input(changedMembers, topics, fresh));

    // Member i subscribes to the topics t with (i + t) mod 3 != 0: about two thirds of them.
    const mixed = input(ids.map((id, i) => member(id, topicNames.filter((_, t) => (i + t) % 3 !== 0))), topics);
    const mixedFresh = timed('heterogeneous, from scratch', mixed);
    timed('heterogeneous, one leaves and one joins', input([...mixed.members.slice(1), member('member-new', topicNames.slice(0, 3))], topics, mixedFresh));
    timed('heterogeneous, from the homogeneous assignment', { ...mixed, previous: fresh });
  });
});
