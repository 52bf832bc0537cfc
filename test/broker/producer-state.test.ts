import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.js';
import { isRunnelError, type ErrorCode, type RunnelError } from '../../src/common/errors.js';
import { readBatchHeader } from '../../src/format/batch-header.js';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import type { PartitionLog } from '../../src/storage/partition-log.js';
import { snapshotFileName, snapshotFiles } from '../../src/broker/producer-snapshots.js';
import {
  DEFAULT_MAX_PRODUCERS_PER_PARTITION,
  DEFAULT_PRODUCER_ID_EXPIRATION_MS,
  PartitionProducerState,
  incrementSequence,
  type ProducerEntryView,
  type ProducerFields,
  type ProducerStateOptions,
  type SequenceVerdict,
} from '../../src/broker/producer-state.js';
import { makeBatch, openLog, tempDir } from '../storage/helpers.js';

const T0 = 1_700_000_000_000;
const INT32_MAX = 2 ** 31 - 1;

function thrown(fn: () => unknown): RunnelError {
  try {
    fn();
  } catch (err) {
    if (isRunnelError(err)) return err;
    throw err;
  }
  throw new Error('expected a RunnelError');
}

function expectCode(fn: () => unknown, code: ErrorCode): RunnelError {
  const err = thrown(fn);
  expect(err.code).toBe(code);
  return err;
}

function fields(producerId: number, producerEpoch: number, baseSequence: number, records = 1): ProducerFields {
  return { producerId, producerEpoch, baseSequence, lastOffsetDelta: records - 1 };
}

/** A log and a producer state sharing one manual clock, as the broker would hold them. */
interface Env {
  dir: string;
  log: PartitionLog;
  state: PartitionProducerState;
  clock: ManualClock;
}

function env(options: ProducerStateOptions = {}, segmentBytes?: number): Env {
  const dir = tempDir();
  const clock = new ManualClock(T0);
  const { log } = openLog(dir, { clock }, segmentBytes === undefined ? {} : { segmentBytes });
  return { dir, log, clock, state: new PartitionProducerState({ clock, ...options }) };
}

function idempotentBatch(clock: ManualClock, producerId: number, producerEpoch: number, baseSequence: number, records: number): Buffer {
  return encodeRecordBatch({
    records: Array.from({ length: records }, (_, i) => ({
      key: null,
      value: Buffer.from(`p${producerId}-e${producerEpoch}-s${baseSequence + i}`),
      timestampMs: clock.nowMs(),
    })),
    producerId,
    producerEpoch,
    baseSequence,
  });
}

interface Produced {
  verdict: SequenceVerdict['kind'];
  baseOffset: number;
  lastOffset: number;
  appendTimeMs: number;
}

/** The produce path: check the header, append unless duplicate, record. Throws what check throws. */
function produce(e: Env, producerId: number, producerEpoch: number, baseSequence: number, records = 1): Produced {
  const bytes = idempotentBatch(e.clock, producerId, producerEpoch, baseSequence, records);
  const header = readBatchHeader(bytes);
  const verdict = e.state.check(header);
  if (verdict.kind === 'duplicate') {
    const { baseOffset, lastOffset, appendTimeMs } = verdict;
    return { verdict: verdict.kind, baseOffset, lastOffset, appendTimeMs };
  }
  const endBefore = e.log.logEndOffset;
  const result = e.log.appendSync(bytes);
  expect(result.baseOffset).toBe(endBefore);
  e.state.record(header, result.baseOffset, result.lastOffset, result.logAppendTimeMs);
  return { verdict: verdict.kind, baseOffset: result.baseOffset, lastOffset: result.lastOffset, appendTimeMs: result.logAppendTimeMs };
}

/**
 * A mixed history: producers 1-3 each send 8 batches (more than the 5 kept) interleaved with
 * plain batches; in round 1, producer 2 bumps its epoch and restarts at sequence 0.
 */
function history(e: Env, round: number): void {
  for (let i = 0; i < 8; i++) {
    for (const pid of [1, 2, 3]) {
      const entry = e.state.get(pid);
      const epoch = round === 1 && pid === 2 ? 1 : 0;
      const restart = entry === undefined || entry.producerEpoch !== epoch;
      produce(e, pid, epoch, restart ? 0 : entry.batches.at(-1)!.lastSequence + 1, 1 + ((i + pid) % 3));
      e.clock.advance(10);
    }
    e.log.appendSync(makeBatch({ records: 2, timestampMs: e.clock.nowMs() }));
  }
}

describe('PartitionProducerState sequence checks', () => {
  it('accepts a new producer at sequence 0 and then batches in sequence', () => {
    const e = env();
    expect(produce(e, 7, 0, 0, 3)).toMatchObject({ verdict: 'append', baseOffset: 0, lastOffset: 2 });
    expect(produce(e, 7, 0, 3, 2)).toMatchObject({ verdict: 'append', baseOffset: 3, lastOffset: 4 });
    expect(produce(e, 7, 0, 5, 1)).toMatchObject({ verdict: 'append', baseOffset: 5, lastOffset: 5 });
    const entry = e.state.get(7)!;
    expect(entry.producerEpoch).toBe(0);
    expect(entry.batches.map((b) => [b.firstSequence, b.lastSequence, b.baseOffset, b.lastOffset])).toEqual([
      [0, 2, 0, 2],
      [3, 4, 3, 4],
      [5, 5, 5, 5],
    ]);
    expect(e.log.logEndOffset).toBe(6);
  });

  it('answers each of the last 5 batches as a duplicate with its original offsets and append time; the 6th oldest is out of order', () => {
    const e = env();
    const sent: Produced[] = [];
    for (let i = 0; i < 6; i++) {
      sent.push(produce(e, 9, 0, i * 2, 2));
      produce(e, 10, 0, i); // another producer interleaves, so offsets differ from sequences
      e.clock.advance(1000);
    }
    const end = e.log.logEndOffset;
    for (let i = 1; i < 6; i++) {
      const again = produce(e, 9, 0, i * 2, 2);
      expect(again).toEqual({ verdict: 'duplicate', baseOffset: sent[i].baseOffset, lastOffset: sent[i].lastOffset, appendTimeMs: sent[i].appendTimeMs });
    }
    expect(e.log.logEndOffset).toBe(end); // nothing appended
    const err = expectCode(() => produce(e, 9, 0, 0, 2), 'OUT_OF_ORDER_SEQUENCE');
    expect(err.message).toContain('expected sequence 12, received 0');
    expect(err.context).toMatchObject({ producerId: 9, expectedSequence: 12, receivedSequence: 0 });
  });

  it('does not take a batch overlapping a kept one with a different range for a duplicate', () => {
    const e = env();
    produce(e, 1, 0, 0, 4);
    expectCode(() => produce(e, 1, 0, 0, 2), 'OUT_OF_ORDER_SEQUENCE');
    expectCode(() => produce(e, 1, 0, 2, 2), 'OUT_OF_ORDER_SEQUENCE');
  });

  it('rejects a gap in the sequence with OUT_OF_ORDER_SEQUENCE naming expected and received', () => {
    const e = env();
    produce(e, 1, 0, 0, 5);
    const err = expectCode(() => produce(e, 1, 0, 6), 'OUT_OF_ORDER_SEQUENCE');
    expect(err.message).toMatch(/expected sequence 5, received 6/);
    expect(err.retriable).toBe(false);
    expect(e.log.logEndOffset).toBe(5);
  });

  it('fences a lower epoch', () => {
    const e = env();
    produce(e, 1, 3, 0);
    const err = expectCode(() => produce(e, 1, 2, 1), 'PRODUCER_FENCED');
    expect(err.context).toMatchObject({ producerId: 1, producerEpoch: 2, currentEpoch: 3 });
    // Even a batch that would be a duplicate under the old epoch.
    expectCode(() => produce(e, 1, 2, 0), 'PRODUCER_FENCED');
  });

  it('accepts a higher epoch only from sequence 0, and the new epoch replaces the state', () => {
    const e = env();
    produce(e, 1, 0, 0, 3);
    produce(e, 1, 0, 3, 3);
    expectCode(() => produce(e, 1, 1, 6), 'OUT_OF_ORDER_SEQUENCE');
    expect(produce(e, 1, 1, 0, 2)).toMatchObject({ verdict: 'append', baseOffset: 6 });
    expect(e.state.get(1)).toMatchObject({ producerEpoch: 1, batches: [{ firstSequence: 0, lastSequence: 1, baseOffset: 6, lastOffset: 7 }] });
    // The old epoch is now fenced, and old-epoch batches are no longer duplicates.
    expectCode(() => produce(e, 1, 0, 6), 'PRODUCER_FENCED');
    expect(produce(e, 1, 1, 2)).toMatchObject({ verdict: 'append', baseOffset: 8 });
  });

  it('answers UNKNOWN_PRODUCER_ID to a producer without state that does not start at 0', () => {
    const e = env();
    const err = expectCode(() => produce(e, 42, 0, 5), 'UNKNOWN_PRODUCER_ID');
    expect(err.context).toMatchObject({ producerId: 42, baseSequence: 5 });
    expect(e.state.size).toBe(0);
    expect(e.log.logEndOffset).toBe(0);
    // A new producer may start at any epoch.
    expect(produce(e, 43, 17, 0).verdict).toBe('append');
  });

  it('passes batches without a producer id through, and never tracks them', () => {
    const e = env();
    const batch = makeBatch({ records: 3 });
    const header = readBatchHeader(batch);
    expect(header.producerId).toBe(-1);
    expect(e.state.check(header)).toEqual({ kind: 'not-idempotent' });
    e.state.record(header, 0, 2, T0);
    expect(e.state.size).toBe(0);
  });

  it('rejects invalid producer fields', () => {
    const s = new PartitionProducerState();
    for (const bad of [fields(-1, 0, -1), fields(-1, -1, 0), fields(-1, 3, 3), fields(1, -1, 0), fields(1, 0, -1), fields(1, -1, -1), fields(-2, 0, 0), fields(1, 0x8000, 0), fields(1.5, 0, 0)]) {
      const err = expectCode(() => s.check(bad), 'INVALID_PRODUCER_FIELDS');
      expect(err.grpcStatus).toBe(3); // INVALID_ARGUMENT
    }
    expect(s.check(fields(-1, -1, -1))).toEqual({ kind: 'not-idempotent' });
    expect(s.check(fields(0, 0, 0))).toEqual({ kind: 'append' });
  });

  it('wraps sequences past 2^31-1 to 0, as Kafka does', () => {
    expect(incrementSequence(INT32_MAX, 1)).toBe(0);
    expect(incrementSequence(INT32_MAX - 1, 3)).toBe(1);
    expect(incrementSequence(5, 3)).toBe(8);
    const s = new PartitionProducerState();
    // First batch covers sequences 0..2^31-3 (a pure-state test: no real batch is that large).
    const first = { producerId: 5, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: INT32_MAX - 2 };
    expect(s.check(first).kind).toBe('append');
    s.record(first, 0, INT32_MAX - 2, T0);
    expectCode(() => s.check(fields(5, 0, 0)), 'OUT_OF_ORDER_SEQUENCE');
    const wrapping = fields(5, 0, INT32_MAX - 1, 4); // sequences 2^31-2, 2^31-1, 0, 1
    expect(s.check(wrapping).kind).toBe('append');
    s.record(wrapping, INT32_MAX - 1, INT32_MAX + 2, T0);
    expect(s.get(5)!.batches.at(-1)).toMatchObject({ firstSequence: INT32_MAX - 1, lastSequence: 1 });
    expect(s.check(wrapping)).toMatchObject({ kind: 'duplicate', baseOffset: INT32_MAX - 1, lastOffset: INT32_MAX + 2 });
    expectCode(() => s.check(fields(5, 0, 3)), 'OUT_OF_ORDER_SEQUENCE');
    expect(s.check(fields(5, 0, 2)).kind).toBe('append');
    // A batch ending exactly at 2^31-1 is followed by 0.
    const s2 = new PartitionProducerState();
    const toMax = { producerId: 6, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: INT32_MAX };
    s2.record(toMax, 0, INT32_MAX, T0);
    expect(s2.check(fields(6, 0, 0)).kind).toBe('append');
    expect(thrown(() => s2.check(fields(6, 0, 1))).message).toContain('expected sequence 0, received 1');
  });
});

describe('PartitionProducerState memory bounds', () => {
  it('has Kafka-like defaults', () => {
    const s = new PartitionProducerState();
    expect(s.maxProducers).toBe(DEFAULT_MAX_PRODUCERS_PER_PARTITION);
    expect(s.expirationMs).toBe(DEFAULT_PRODUCER_ID_EXPIRATION_MS);
    expect(DEFAULT_MAX_PRODUCERS_PER_PARTITION).toBe(10_000);
    expect(DEFAULT_PRODUCER_ID_EXPIRATION_MS).toBe(86_400_000);
    expect(thrown(() => new PartitionProducerState({ maxProducersPerPartition: 0 })).code).toBe('INVALID_CONFIG');
  });

  it('evicts the least recently used producer beyond maxProducersPerPartition', () => {
    const e = env({ maxProducersPerPartition: 3 });
    produce(e, 1, 0, 0);
    produce(e, 2, 0, 0);
    produce(e, 3, 0, 0);
    produce(e, 1, 0, 1); // 1 is now the most recently used: 2 is the least
    produce(e, 4, 0, 0);
    expect(e.state.size).toBe(3);
    expect(e.state.entries().map((p) => p.producerId)).toEqual([3, 1, 4]);
    expectCode(() => produce(e, 2, 0, 1), 'UNKNOWN_PRODUCER_ID');
    expect(produce(e, 1, 0, 2).verdict).toBe('append');
    expect(produce(e, 3, 0, 1).verdict).toBe('append');
    // Many producers: never more than the bound.
    for (let pid = 100; pid < 200; pid++) produce(e, pid, 0, 0);
    expect(e.state.size).toBe(3);
    expect(e.state.entries().map((p) => p.producerId)).toEqual([197, 198, 199]);
  });

  it('expires producers idle for more than producerIdExpirationMs', () => {
    const e = env({ producerIdExpirationMs: 60_000 });
    produce(e, 1, 0, 0);
    e.clock.advance(30_000);
    produce(e, 2, 0, 0);
    e.clock.advance(30_000);
    expect(e.state.expire(e.clock.nowMs())).toBe(0); // 1 idle exactly 60 s: not more than
    e.clock.advance(1);
    expect(e.state.expire()).toBe(1); // defaults to the clock
    expect(e.state.entries().map((p) => p.producerId)).toEqual([2]);
    expectCode(() => produce(e, 1, 0, 1), 'UNKNOWN_PRODUCER_ID');
    produce(e, 2, 0, 1); // activity resets the idle time
    e.clock.advance(60_000);
    expect(e.state.expire()).toBe(0);
    expect(e.state.get(2)!.lastUpdateMs).toBe(T0 + 60_001);
  });
});

/** Producer views without lastUpdateMs, which a replay sets to the load time. */
function sansUpdateTimes(entries: ProducerEntryView[]): Omit<ProducerEntryView, 'lastUpdateMs'>[] {
  return entries.map(({ lastUpdateMs: _, ...rest }) => rest);
}

describe('PartitionProducerState persistence', () => {
  it('round-trips through a snapshot named by its offset, which stays for the next load', async () => {
    const e = env();
    history(e, 0);
    const before = e.state.entries();
    e.state.writeSnapshotSync(e.dir, e.log.logEndOffset);
    const file = path.join(e.dir, snapshotFileName(e.log.logEndOffset));
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    const headerLine = fs.readFileSync(file, 'utf8').split('\n')[0];
    expect(JSON.parse(headerLine)).toMatchObject({ version: 1 });

    const loaded = await PartitionProducerState.load(e.log, { clock: e.clock });
    expect(loaded.problem).toBeNull();
    expect(loaded.rebuiltFromOffset).toBe(e.log.logEndOffset);
    expect(loaded.state.entries()).toEqual(before);
    // Valid while the log holds what it describes: recovery cutting below it is caught at load.
    expect(fs.existsSync(file)).toBe(true);
    // The loaded state behaves: duplicates and next sequences as before.
    const last = before[0].batches.at(-1)!;
    expect(loaded.state.check(fields(before[0].producerId, 0, last.firstSequence, last.lastSequence - last.firstSequence + 1))).toMatchObject({
      kind: 'duplicate',
      baseOffset: last.baseOffset,
    });
    expect(loaded.state.check(fields(before[0].producerId, 0, last.lastSequence + 1)).kind).toBe('append');
  });

  it('loads a snapshot plus a replay of later batches into the same state as a full replay of the log', async () => {
    const e = env({}, 2048); // several segments
    history(e, 0);
    e.state.writeSnapshotSync(e.dir, e.log.logEndOffset);
    const snapshotOffset = e.log.logEndOffset;
    history(e, 1); // after the snapshot: epoch bump for producer 2, more batches for all
    produce(e, 4, 0, 0, 3);
    expect(e.log.segmentCount).toBeGreaterThan(1);
    const live = e.state.entries();

    const fromSnapshot = await PartitionProducerState.load(e.log, { clock: e.clock });
    expect(fromSnapshot.problem).toBeNull();
    expect(fromSnapshot.rebuiltFromOffset).toBe(snapshotOffset);
    for (const file of snapshotFiles(e.dir)) fs.rmSync(file);
    const full = await PartitionProducerState.load(e.log, { clock: e.clock });
    expect(full.problem).toBeNull();
    expect(full.rebuiltFromOffset).toBe(0);

    // Replayed producers count as updated at the load; everything else is the same.
    expect(sansUpdateTimes(fromSnapshot.state.entries())).toEqual(sansUpdateTimes(live));
    expect(sansUpdateTimes(full.state.entries())).toEqual(sansUpdateTimes(live));
    expect(live.map((p) => p.producerId)).toEqual([1, 2, 3, 4]);
    expect(live[1]).toMatchObject({ producerId: 2, producerEpoch: 1 });
    expect(live[0].batches).toHaveLength(5);
  });

  it('ignores a corrupt snapshot, reports it, and replays the whole log', async () => {
    const e = env();
    history(e, 0);
    const live = e.state.entries();
    const file = path.join(e.dir, snapshotFileName(e.log.logEndOffset));
    const corruptions: [string, (bytes: Buffer) => Buffer][] = [
      ['CRC', (b) => Buffer.from(b.map((byte, i) => (i === b.length - 10 ? byte ^ 0x01 : byte)))],
      ['bytes', (b) => b.subarray(0, b.length - 7)],
      ['header', (b) => Buffer.concat([Buffer.from('garbage'), b])],
      ['newline', () => Buffer.from('not a snapshot')],
      ['version', (b) => Buffer.from(b.toString('utf8').replace('"version":1', '"version":99'))],
    ];
    for (const [expected, corrupt] of corruptions) {
      e.state.writeSnapshotSync(e.dir, e.log.logEndOffset);
      fs.writeFileSync(file, corrupt(fs.readFileSync(file)));
      const loaded = await PartitionProducerState.load(e.log, { clock: e.clock });
      expect(loaded.problem, expected).toMatch(/\d{20}\.snapshot: .*ignored/);
      expect(loaded.rebuiltFromOffset).toBe(0);
      expect(sansUpdateTimes(loaded.state.entries())).toEqual(sansUpdateTimes(live));
      expect(fs.existsSync(file)).toBe(false);
    }
  });

  it('ignores a snapshot beyond the log end (log truncated) or below the log start', async () => {
    const e = env({}, 2048);
    history(e, 0);
    e.state.writeSnapshotSync(e.dir, e.log.logEndOffset);
    await e.log.truncateTo(20);
    const truncatedEnd = e.log.logEndOffset;
    expect(truncatedEnd).toBeLessThanOrEqual(20);
    const loaded = await PartitionProducerState.load(e.log, { clock: e.clock });
    expect(loaded.problem).toMatch(/outside the log \[0, \d+\]/);
    expect(loaded.rebuiltFromOffset).toBe(0);
    // The state is that of the batches still in the log.
    expect(loaded.state.size).toBeGreaterThan(0);
    const lastOffsets = loaded.state.entries().flatMap((p) => p.batches.map((b) => b.lastOffset));
    expect(Math.max(...lastOffsets)).toBeLessThan(truncatedEnd);
    expect(snapshotFiles(e.dir)).toEqual([]);

    // Below the log start: the state it describes may no longer be derivable; replay what is left.
    const stale = new PartitionProducerState();
    stale.record(fields(1, 0, 0), 0, 0, T0);
    stale.writeSnapshotSync(e.dir, 1);
    e.log.deleteRecordsBefore(e.log.logEndOffset);
    const belowStart = await PartitionProducerState.load(e.log, { clock: e.clock });
    expect(belowStart.problem).toMatch(/outside the log/);
    expect(belowStart.rebuiltFromOffset).toBe(e.log.logStartOffset);
    expect(belowStart.state.size).toBe(0);
  });

  it('drops producers of a snapshot already expired when loading (broker times); a replay never expires anyone', async () => {
    const e = env({ producerIdExpirationMs: 60_000 });
    produce(e, 1, 0, 0);
    e.clock.advance(50_000);
    produce(e, 2, 0, 0);
    e.state.writeSnapshotSync(e.dir, e.log.logEndOffset);
    e.clock.advance(20_000);
    const loaded = await PartitionProducerState.load(e.log, { clock: e.clock, producerIdExpirationMs: 60_000 });
    expect(loaded.state.entries().map((p) => p.producerId)).toEqual([2]);
    for (const file of snapshotFiles(e.dir)) fs.rmSync(file);
    // Replayed producers count as updated at the load: the log holds no broker time of theirs.
    const replayed = await PartitionProducerState.load(e.log, { clock: e.clock, producerIdExpirationMs: 60_000 });
    expect(replayed.state.entries().map((p) => p.producerId)).toEqual([1, 2]);
    expect(replayed.state.get(1)!.lastUpdateMs).toBe(e.clock.nowMs());
  });

  it('loads an empty log with no snapshot as an empty state', async () => {
    const e = env();
    const loaded = await PartitionProducerState.load(e.log);
    expect(loaded).toMatchObject({ rebuiltFromOffset: 0, problem: null });
    expect(loaded.state.size).toBe(0);
  });
});
