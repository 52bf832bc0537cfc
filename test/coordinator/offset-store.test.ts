/**
 * OffsetStore (src/coordinator/offset-store.ts) over an in-memory OffsetLog (our own interface:
 * batches kept in arrays, in append order; durability resolved when the test says so), checked
 * against a reference model: commits, tombstones and replays round-trip; load() rebuilds
 * exactly what was committed; records that do not decode are skipped and counted; a group's
 * records all go to partitionFor(groupId); concurrent commits resolve in append order.
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { OffsetStore, partitionFor, type CommittedOffset, type OffsetLog, type OffsetToCommit } from '../../src/coordinator/offset-store.js';
import { tpKey, type TpKey } from '../../src/coordinator/topic-partition.js';
import { toPositive } from '../../src/format/murmur2.js';
import { decodeRecordBatches, encodeRecordBatch, type RecordInput } from '../../src/format/record-batch.js';

// ---- an in-memory OffsetLog -------------------------------------------------------------------

interface PendingAppend {
  partition: number;
  resolve(): void;
  reject(err: Error): void;
}

class MemoryOffsetLog implements OffsetLog {
  partitions: Buffer[][] | null;
  readonly creates: number[] = [];
  /** While true, appends are stored at once but their durability waits for release(). */
  hold = false;
  readonly pending: PendingAppend[] = [];
  /** Batches per chunk returned by read() (a chunk is whole batches). */
  chunkBatches = 2;

  constructor(partitions: number | null = null) {
    this.partitions = partitions === null ? null : Array.from({ length: partitions }, () => []);
  }

  partitionCount(): number | null {
    return this.partitions?.length ?? null;
  }

  create(partitions: number): Promise<number> {
    this.creates.push(partitions);
    this.partitions ??= Array.from({ length: partitions }, () => []);
    return Promise.resolve(this.partitions.length);
  }

  appendDurable(partition: number, batch: Buffer): Promise<void> {
    const log = this.partitions?.[partition];
    if (log === undefined) return Promise.reject(new Error(`no partition ${partition}`));
    log.push(Buffer.from(batch));
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve, reject) => this.pending.push({ partition, resolve, reject }));
  }

  fileOf(partition: number, offset: number): string {
    return `memory-${partition}@${offset}`;
  }

  async *read(partition: number): AsyncIterable<Buffer> {
    const batches = this.partitions?.[partition] ?? [];
    // Each chunk arrives on a later turn, as a read from disk would.
    for (let i = 0; i < batches.length; i += this.chunkBatches) yield await Promise.resolve(Buffer.concat(batches.slice(i, i + this.chunkBatches)));
  }

  /** Makes the held appends durable, in the given order of their indices. */
  release(order: readonly number[]): void {
    const held = this.pending.splice(0);
    for (const i of order) held[i].resolve();
  }

  /** Every record appended to a partition, in log order. */
  records(partition: number): { key: Buffer | null; value: Buffer | null }[] {
    return (this.partitions?.[partition] ?? []).flatMap((batch) => decodeRecordBatches(batch).flatMap((b) => b.records));
  }

  appendRaw(partition: number, records: RecordInput[]): void {
    this.partitions![partition].push(encodeRecordBatch({ records }));
  }
}

/** Lets pending promise callbacks run (bounded: a fixed number of microtask turns). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

type Model = Map<string, Map<TpKey, CommittedOffset>>;

function view(store: OffsetStore): Record<string, Record<string, CommittedOffset>> {
  const out: Record<string, Record<string, CommittedOffset>> = {};
  for (const groupId of [...store.groupIds()].sort()) {
    const entries = [...store.offsetsOf(groupId)].map(([key, { offset, metadata, commitTimestampMs }]) => [key, { offset, metadata, commitTimestampMs }] as const);
    out[groupId] = Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return out;
}

function modelView(model: Model): Record<string, Record<string, CommittedOffset>> {
  const out: Record<string, Record<string, CommittedOffset>> = {};
  for (const groupId of [...model.keys()].sort()) {
    const group = model.get(groupId)!;
    if (group.size === 0) continue;
    out[groupId] = Object.fromEntries([...group].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return out;
}

async function reloaded(log: OffsetLog, partitionsWanted = 4): Promise<{ store: OffsetStore; loaded: { records: number; groups: number; skipped: number } }> {
  const store = new OffsetStore(log, partitionsWanted, silentLogger);
  const loaded = await store.load();
  return { store, loaded };
}

const commitOf = (topic: string, partition: number, offset: number, metadata = ''): OffsetToCommit => ({ topic, partition, offset, metadata });

// ---- round trips against a model ------------------------------------------------------------------

const GROUPS = ['g0', 'g1', 'g2', 'orders-consumers'];
const TOPICS = ['t0', 't1'];

type StoreOp =
  | { kind: 'commit'; group: number; entries: { topic: number; partition: number; offset: number; metadata: string }[]; nowMs: number }
  | { kind: 'remove'; group: number; keys: { topic: number; partition: number }[] | null }
  | { kind: 'reload' };

const tpArb = fc.record({ topic: fc.nat(TOPICS.length - 1), partition: fc.nat(5) });
const storeOpArb: fc.Arbitrary<StoreOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      group: fc.nat(GROUPS.length - 1),
      entries: fc.uniqueArray(fc.record({ topic: fc.nat(TOPICS.length - 1), partition: fc.nat(5), offset: fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER)), metadata: fc.string({ maxLength: 20 }) }), {
        minLength: 0,
        maxLength: 6,
        selector: (e) => `${e.topic}/${e.partition}`,
      }),
      nowMs: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), group: fc.nat(GROUPS.length - 1), keys: fc.option(fc.array(tpArb, { maxLength: 4 }), { freq: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
);

describe('OffsetStore: commits, tombstones and replay against a model', () => {
  it('keeps exactly what was committed, in memory and after every reload', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(storeOpArb, { minLength: 1, maxLength: 40 }), fc.constantFrom(1, 3, 8), async (ops, partitions) => {
        const log = new MemoryOffsetLog();
        let store = new OffsetStore(log, partitions, silentLogger);
        await store.load();
        const model: Model = new Map();
        for (const op of ops) {
          const groupId = op.kind === 'reload' ? '' : GROUPS[op.group];
          if (op.kind === 'commit') {
            await store.commit(groupId, op.entries.map((e) => commitOf(TOPICS[e.topic], e.partition, e.offset, e.metadata)), op.nowMs);
            if (op.entries.length > 0 && !model.has(groupId)) model.set(groupId, new Map());
            for (const e of op.entries) model.get(groupId)!.set(tpKey(TOPICS[e.topic], e.partition), { offset: e.offset, metadata: e.metadata, commitTimestampMs: op.nowMs });
          } else if (op.kind === 'remove') {
            const keys = op.keys?.map((k) => tpKey(TOPICS[k.topic], k.partition));
            await store.remove(groupId, keys);
            const group = model.get(groupId);
            if (keys === undefined) model.delete(groupId);
            else for (const key of keys) group?.delete(key);
          } else {
            store = (await reloaded(log, partitions)).store;
          }
          expect(view(store)).toEqual(modelView(model));
          for (const g of GROUPS) {
            const times = [...(model.get(g)?.values() ?? [])].map((c) => c.commitTimestampMs);
            expect(store.newestCommitMs(g)).toBe(times.length === 0 ? -1 : Math.max(...times));
          }
        }
        const { store: again, loaded } = await reloaded(log, partitions);
        expect(view(again)).toEqual(modelView(model));
        expect(loaded.skipped).toBe(0);
        expect(loaded.groups).toBe(Object.keys(modelView(model)).length);
      }),
      { numRuns: 150, seed: 4242 },
    );
  });

  it('creates the topic on the first write only, with the wanted partitions, and keeps an existing topic’s count', async () => {
    const fresh = new MemoryOffsetLog();
    const store = new OffsetStore(fresh, 5, silentLogger);
    expect(await store.load()).toEqual({ records: 0, groups: 0, skipped: 0, skippedBatches: 0, unreadablePartitions: 0 });
    expect(fresh.creates).toEqual([]);
    await store.remove('nobody'); // nothing to remove: no write, no topic
    expect(fresh.creates).toEqual([]);
    await store.commit('g', [], 1);
    expect(fresh.creates).toEqual([]);
    await store.commit('g', [commitOf('t', 0, 1)], 1);
    expect(fresh.creates).toEqual([5]);
    expect(fresh.partitionCount()).toBe(5);

    const existing = new MemoryOffsetLog(3);
    const other = new OffsetStore(existing, 8, silentLogger);
    await other.load();
    await other.commit('g', [commitOf('t', 0, 1)], 1);
    expect(existing.creates).toEqual([]);
    expect(existing.records(partitionFor('g', 3))).toHaveLength(1);
  });

  it('writes tombstones that remove single offsets or a whole group, also after a reload', async () => {
    const log = new MemoryOffsetLog(4);
    const store = new OffsetStore(log, 4, silentLogger);
    await store.load();
    await store.commit('g', [commitOf('t', 0, 10, 'a'), commitOf('t', 1, 11, 'b'), commitOf('u', 0, 12)], 1000);
    await store.commit('h', [commitOf('t', 0, 20)], 2000);
    await store.remove('g', [tpKey('t', 1)]);
    expect([...store.offsetsOf('g').keys()].sort()).toEqual([tpKey('t', 0), tpKey('u', 0)]);
    const tombstones = log.records(partitionFor('g', 4)).filter((r) => r.value === null);
    expect(tombstones).toHaveLength(1);
    await store.remove('h');
    expect(store.groupIds()).toEqual(['g']);
    expect(store.offsetsOf('h').size).toBe(0);
    expect(store.newestCommitMs('h')).toBe(-1);

    const { store: again, loaded } = await reloaded(log);
    expect(view(again)).toEqual(view(store));
    expect(loaded).toEqual({ records: 6, groups: 1, skipped: 0, skippedBatches: 0, unreadablePartitions: 0 });
  });

  it('makes a commit visible only once it is durable, and not at all when the append fails', async () => {
    const log = new MemoryOffsetLog(2);
    const store = new OffsetStore(log, 2, silentLogger);
    await store.load();
    log.hold = true;
    const committing = store.commit('g', [commitOf('t', 0, 5)], 1);
    await flushMicrotasks();
    expect(store.offsetsOf('g').size).toBe(0);
    log.release([0]);
    await committing;
    expect(store.offsetsOf('g').get(tpKey('t', 0))?.offset).toBe(5);

    const failing = store.commit('g', [commitOf('t', 0, 9)], 2);
    await flushMicrotasks();
    log.pending.splice(0)[0].reject(new Error('fsync failed'));
    await expect(failing).rejects.toThrow('fsync failed');
    expect(store.offsetsOf('g').get(tpKey('t', 0))?.offset).toBe(5);
  });
});

// ---- records that do not decode -------------------------------------------------------------------

describe('OffsetStore: undecodable records', () => {
  const key = (...fields: unknown[]): Buffer => pack(fields);
  const value = (...fields: unknown[]): Buffer => pack(fields);
  const good = (groupId: string, topic: string, partition: number, offset: number): RecordInput => ({ key: key(1, groupId, topic, partition), value: value(1, offset, 'm', 1000) });

  it('skips and counts them, never throws, and keeps what the good records say', async () => {
    const log = new MemoryOffsetLog(2);
    log.appendRaw(0, [good('g', 't', 0, 7), good('g', 't', 1, 8)]);
    const bad: RecordInput[] = [
      { key: null, value: value(1, 1, '', 1) }, // no key
      { key: Buffer.from([0xc1]), value: value(1, 1, '', 1) }, // not msgpack (reserved byte)
      { key: Buffer.from([0x93, 0x01]), value: value(1, 1, '', 1) }, // truncated msgpack
      { key: Buffer.from('{"json":true}'), value: value(1, 1, '', 1) },
      { key: key(2, 'g', 't', 0), value: value(1, 1, '', 1) }, // a future key version
      { key: key(1, 'g', 't'), value: value(1, 1, '', 1) }, // too few fields
      { key: key(1, 'g', 't', 0, 'x'), value: value(1, 1, '', 1) }, // too many
      { key: key(1, 7, 't', 0), value: value(1, 1, '', 1) }, // group id not a string
      { key: key(1, 'g', null, 0), value: value(1, 1, '', 1) }, // topic not a string
      { key: key(1, 'g', 't', -1), value: value(1, 1, '', 1) }, // negative partition
      { key: key(1, 'g', 't', 1.5), value: value(1, 1, '', 1) }, // fractional partition
      { key: key(1, 'g', 't', '0'), value: value(1, 1, '', 1) }, // partition as a string
      { key: pack({ v: 1 }), value: value(1, 1, '', 1) }, // a map, not an array
      { key: key(1, 'g', 't', 0), value: Buffer.from([0xc1]) }, // value not msgpack
      { key: key(1, 'g', 't', 0), value: Buffer.alloc(0) }, // empty value (not a tombstone)
      { key: key(1, 'g', 't', 0), value: value(2, 1, '', 1) }, // a future value version
      { key: key(1, 'g', 't', 0), value: value(1, -1, '', 1) }, // negative offset
      { key: key(1, 'g', 't', 0), value: value(1, 2.5, '', 1) }, // fractional offset
      { key: key(1, 'g', 't', 0), value: value(1, 2 ** 60, '', 1) }, // unsafe offset
      { key: key(1, 'g', 't', 0), value: value(1, '3', '', 1) }, // offset as a string
      { key: key(1, 'g', 't', 0), value: value(1, 3, 4, 1) }, // metadata not a string
      { key: key(1, 'g', 't', 0), value: value(1, 3, '', 'now') }, // timestamp not a number
      { key: key(1, 'g', 't', 0), value: value(1, 3, '', 1.25) }, // fractional timestamp
      { key: key(1, 'g', 't', 0), value: value(1, 3, '') }, // too few fields
      { key: key(1, 'g', 't', 0), value: pack('just a string') },
    ];
    log.appendRaw(0, bad);
    log.appendRaw(1, [good('h', 't', 0, 3), { key: key(1, 'h', 't', 9), value: null }]); // a tombstone for nothing is fine
    const { store, loaded } = await reloaded(log);
    expect(loaded).toEqual({ records: 2 + bad.length + 2, groups: 2, skipped: bad.length, skippedBatches: 0, unreadablePartitions: 0 });
    expect(view(store)).toEqual({
      g: { [tpKey('t', 0)]: { offset: 7, metadata: 'm', commitTimestampMs: 1000 }, [tpKey('t', 1)]: { offset: 8, metadata: 'm', commitTimestampMs: 1000 } },
      h: { [tpKey('t', 0)]: { offset: 3, metadata: 'm', commitTimestampMs: 1000 } },
    });
  });

  it('skips random bytes in keys and values without throwing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ key: fc.option(fc.uint8Array({ maxLength: 24 })), value: fc.option(fc.uint8Array({ maxLength: 24 })) }), { minLength: 1, maxLength: 20 }), async (records) => {
        const log = new MemoryOffsetLog(1);
        log.appendRaw(0, [good('g', 't', 0, 1)]);
        log.appendRaw(
          0,
          records.map((r) => ({ key: r.key === null ? null : Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value) })),
        );
        const { loaded } = await reloaded(log);
        expect(loaded.records).toBe(records.length + 1);
        expect(loaded.skipped).toBeLessThanOrEqual(records.length);
      }),
      { numRuns: 200, seed: 7 },
    );
  });
});

// ---- the partition of a group -----------------------------------------------------------------------

describe('OffsetStore: partitionFor', () => {
  // Kafka's murmur2 vectors (UtilsTest.testMurmur2), through toPositive (& 0x7fffffff) and modulo.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['abc', 479470107],
  ])('puts group %j where Kafka’s murmur2 says (hash %d)', (groupId, hash) => {
    for (const partitions of [1, 3, 8, 50]) expect(partitionFor(groupId, partitions)).toBe((hash & 0x7fffffff) % partitions);
    expect(toPositive(hash)).toBe(hash & 0x7fffffff);
  });

  it('is within range and the same on every call', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (groupId, partitions) => {
        const p = partitionFor(groupId, partitions);
        expect(Number.isInteger(p) && p >= 0 && p < partitions).toBe(true);
        expect(partitionFor(groupId, partitions)).toBe(p);
      }),
      { seed: 11 },
    );
  });

  it('sends every record of a group (commits and tombstones) to that one partition', async () => {
    const log = new MemoryOffsetLog(8);
    const store = new OffsetStore(log, 8, silentLogger);
    await store.load();
    for (const groupId of GROUPS) {
      await store.commit(groupId, [commitOf('t', 0, 1), commitOf('t', 1, 2)], 1);
      await store.remove(groupId, [tpKey('t', 0)]);
    }
    for (let p = 0; p < 8; p++) {
      for (const record of log.records(p)) {
        const [, groupId] = unpack(record.key!) as [number, string];
        expect(partitionFor(groupId, 8), `${groupId} in partition ${p}`).toBe(p);
      }
    }
  });
});

// ---- concurrent commits ------------------------------------------------------------------------------

describe('OffsetStore: concurrent commits of one key', () => {
  it('keeps the one appended last even when durability resolves out of order', async () => {
    const log = new MemoryOffsetLog(2);
    const store = new OffsetStore(log, 2, silentLogger);
    await store.load();
    log.hold = true;
    const first = store.commit('g', [commitOf('t', 0, 100, 'first')], 1);
    const second = store.commit('g', [commitOf('t', 0, 200, 'second')], 2);
    await flushMicrotasks();
    log.release([1, 0]); // the later append is durable first
    await Promise.all([first, second]);
    expect(view(store).g[tpKey('t', 0)]).toEqual({ offset: 200, metadata: 'second', commitTimestampMs: 2 });
    const { store: again } = await reloaded(log);
    expect(view(again)).toEqual(view(store));
  });

  it('agrees with a replay of the log whatever order durability resolves in (commits only)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ group: fc.nat(1), partition: fc.nat(2), offset: fc.nat(100) }), { minLength: 2, maxLength: 8 }).chain((commits) => fc.tuple(fc.constant(commits), fc.shuffledSubarray([...commits.keys()], { minLength: commits.length, maxLength: commits.length }))),
        async ([commits, order]) => {
          const log = new MemoryOffsetLog(2);
          const store = new OffsetStore(log, 2, silentLogger);
          await store.load();
          log.hold = true;
          const done = commits.map((c, i) => store.commit(GROUPS[c.group], [commitOf('t', c.partition, c.offset, `#${i}`)], i));
          await flushMicrotasks();
          log.release(order);
          await Promise.all(done);
          const { store: again } = await reloaded(log);
          expect(view(store)).toEqual(view(again));
        },
      ),
      { numRuns: 200, seed: 99 },
    );
  });

  it('does not let an older commit that becomes durable late undo a newer tombstone', async () => {
    const log = new MemoryOffsetLog(2);
    const store = new OffsetStore(log, 2, silentLogger);
    await store.load();
    await store.commit('g', [commitOf('t', 0, 1)], 1);
    log.hold = true;
    const commit = store.commit('g', [commitOf('t', 0, 50)], 2); // appended first
    const removal = store.remove('g', [tpKey('t', 0)]); // appended second: the log ends with the tombstone
    await flushMicrotasks();
    log.release([1, 0]); // the tombstone is durable first
    await Promise.all([commit, removal]);
    const { store: again } = await reloaded(log);
    expect(again.offsetsOf('g').size).toBe(0); // what the log says
    expect(view(store)).toEqual(view(again)); // and what the store shows
  });

  it('applies duplicated keys of one commit as a replay would (the later entry wins)', async () => {
    const log = new MemoryOffsetLog(1);
    const store = new OffsetStore(log, 1, silentLogger);
    await store.load();
    await store.commit('g', [commitOf('t', 0, 1, 'earlier'), commitOf('t', 0, 2, 'later')], 1);
    const { store: again } = await reloaded(log);
    expect(again.offsetsOf('g').get(tpKey('t', 0))?.offset).toBe(2);
    expect(view(store)).toEqual(view(again));
  });
});
