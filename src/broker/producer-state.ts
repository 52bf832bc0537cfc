/**
 * Idempotent-producer state of one partition, in the style of Kafka's ProducerStateManager.
 *
 * For each producer id that wrote to the partition it keeps the current epoch and the metadata
 * of its last 5 batches (sequence range, offsets, append time). The produce path asks `check`
 * before appending a batch and calls `record` after the append succeeded:
 *
 *   - producerId -1: not idempotent; epoch and baseSequence must be -1 too.
 *   - unknown producer: must start at sequence 0 (else UNKNOWN_PRODUCER_ID).
 *   - lower epoch: PRODUCER_FENCED. Higher epoch: must start at sequence 0, replaces the state.
 *   - same epoch: a batch matching one of the last 5 (same first and last sequence) is a
 *     duplicate, answered with the original offsets and nothing appended; otherwise it must
 *     continue the last sequence (wrapping from 2^31-1 to 0), else OUT_OF_ORDER_SEQUENCE.
 *
 * check and record are synchronous, and so is the log's append, so check-append-record is atomic
 * on the event loop. Memory is bounded: at most `maxProducersPerPartition` producers (least
 * recently used evicted) and `expire` drops producers idle for more than `producerIdExpirationMs`.
 * A producer that lost its state gets UNKNOWN_PRODUCER_ID and must reset (new epoch or new id).
 *
 * Persistence (producer-snapshots.ts): the broker writes `<offset>.snapshot` next to the log at
 * every segment roll and at a clean shutdown; `load` starts from the newest valid one within the
 * log and replays the batch headers after it, or replays the whole log. Replay walks headers
 * only, never decodes records, and never expires anyone: a replayed producer counts as updated at
 * the load (the broker's time of its appends is not in the log, and its records' CreateTimes are
 * the client's, which once expired a producer with an old clock and let its retry be written twice).
 */
import { assert } from '../common/assert.js';
import { systemClock, type Clock } from '../common/clock.js';
import { RunnelError } from '../common/errors.js';
import { Attr, BATCH_HEADER_BYTES, readBatchHeader } from '../format/batch-header.js';
import type { PartitionLog } from '../storage/partition-log.js';
import { readSnapshot, removeSnapshotSync, snapshotFiles, snapshotOffsetOf, writeSnapshotFileSync, type SnapshotPayload } from './producer-snapshots.js';

/** Batches kept per producer for duplicate detection (Kafka's NumBatchesToRetain). */
export const PRODUCER_BATCHES_RETAINED = 5;
export const DEFAULT_MAX_PRODUCERS_PER_PARTITION = 10_000;
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 24 * 60 * 60 * 1000;
/** Producer id, epoch and sequence of a batch that is not idempotent. */
export const NO_PRODUCER_ID = -1;
/** Sequences are int32 and wrap from 2^31-1 to 0. */
const SEQUENCE_MODULUS = 2 ** 31;
const INT16_MAX = 0x7fff;
const INT32_MAX = 0x7fffffff;
/** How much of the log one replay read covers. */
const REPLAY_READ_BYTES = 4 * 1024 * 1024;

/** The producer fields of a batch header. */
export interface ProducerFields {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
}

export type SequenceVerdict =
  | { kind: 'not-idempotent' }
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number; lastOffset: number; appendTimeMs: number };

export interface ProducerStateOptions {
  /** Producers tracked per partition; the least recently used is evicted beyond it. */
  maxProducersPerPartition?: number;
  /** A producer with no batch for longer than this is removed by `expire`. */
  producerIdExpirationMs?: number;
  /** Default `now` of `expire`, and the update time of replayed producers. */
  clock?: Clock;
}

/** One retained batch of a producer. */
export interface ProducerBatchMetadata {
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
  lastOffset: number;
  appendTimeMs: number;
}

/** A read-only view of one producer's state (tools, tests). */
export interface ProducerEntryView {
  producerId: number;
  producerEpoch: number;
  /** When the producer last appended: what expiration measures idleness from. */
  lastUpdateMs: number;
  /** Oldest first; the last one holds the producer's last sequence. */
  batches: ProducerBatchMetadata[];
}

interface ProducerEntry {
  producerEpoch: number;
  lastUpdateMs: number;
  batches: ProducerBatchMetadata[];
}

export interface LoadResult {
  state: PartitionProducerState;
  /** Offset the header replay started from: the snapshot's, or the log start. */
  rebuiltFromOffset: number;
  /** Why a snapshot that was there could not be used (then the whole log was replayed). */
  problem: string | null;
}

/** Kafka's DefaultRecordBatch.incrementSequence: `sequence + increment`, wrapping past 2^31-1 to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  return (sequence + increment) % SEQUENCE_MODULUS;
}

/** Last sequence of a batch: baseSequence + lastOffsetDelta, wrapped. */
export function lastSequenceOf(fields: ProducerFields): number {
  return incrementSequence(fields.baseSequence, fields.lastOffsetDelta);
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RunnelError('INVALID_CONFIG', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export class PartitionProducerState {
  readonly maxProducers: number;
  readonly expirationMs: number;
  private readonly clock: Clock;
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly producers = new Map<number, ProducerEntry>();

  constructor(options: ProducerStateOptions = {}) {
    this.maxProducers = positiveOption('maxProducersPerPartition', options.maxProducersPerPartition, DEFAULT_MAX_PRODUCERS_PER_PARTITION);
    this.expirationMs = positiveOption('producerIdExpirationMs', options.producerIdExpirationMs, DEFAULT_PRODUCER_ID_EXPIRATION_MS);
    this.clock = options.clock ?? systemClock;
  }

  /** Producers tracked. */
  get size(): number {
    return this.producers.size;
  }

  /**
   * Decides what to do with a batch carrying `fields`, before it is appended. Throws
   * INVALID_PRODUCER_FIELDS, UNKNOWN_PRODUCER_ID, PRODUCER_FENCED or OUT_OF_ORDER_SEQUENCE (all
   * with the producer in `context`). Changes nothing.
   */
  check(fields: ProducerFields): SequenceVerdict {
    const { producerId, producerEpoch, baseSequence } = fields;
    assert(isIntIn(fields.lastOffsetDelta, 0, INT32_MAX), 'lastOffsetDelta of a checked batch is a non-negative int32');
    if (!validateProducerFields(fields)) return { kind: 'not-idempotent' };

    const entry = this.producers.get(producerId);
    const context = { producerId, producerEpoch, baseSequence };
    if (entry === undefined) {
      if (baseSequence === 0) return { kind: 'append' };
      throw new RunnelError(
        'UNKNOWN_PRODUCER_ID',
        `producer ${producerId} has no state in this partition (expired, evicted or never seen) and sent sequence ${baseSequence}, not 0`,
        context,
      );
    }
    if (producerEpoch < entry.producerEpoch) {
      throw new RunnelError('PRODUCER_FENCED', `producer ${producerId} epoch ${producerEpoch} is below the current epoch ${entry.producerEpoch}`, {
        ...context,
        currentEpoch: entry.producerEpoch,
      });
    }
    if (producerEpoch > entry.producerEpoch) {
      if (baseSequence === 0) return { kind: 'append' };
      throw new RunnelError(
        'OUT_OF_ORDER_SEQUENCE',
        `producer ${producerId} new epoch ${producerEpoch} must start at sequence 0, received ${baseSequence}`,
        { ...context, expectedSequence: 0, receivedSequence: baseSequence },
      );
    }
    const lastSequence = lastSequenceOf(fields);
    for (const batch of entry.batches) {
      if (batch.firstSequence === baseSequence && batch.lastSequence === lastSequence) {
        return { kind: 'duplicate', baseOffset: batch.baseOffset, lastOffset: batch.lastOffset, appendTimeMs: batch.appendTimeMs };
      }
    }
    const last = entry.batches[entry.batches.length - 1];
    assert(last !== undefined, 'a tracked producer has at least one batch');
    const expected = incrementSequence(last.lastSequence, 1);
    if (baseSequence === expected) return { kind: 'append' };
    throw new RunnelError(
      'OUT_OF_ORDER_SEQUENCE',
      `producer ${producerId} epoch ${producerEpoch}: expected sequence ${expected}, received ${baseSequence}`,
      { ...context, expectedSequence: expected, receivedSequence: baseSequence },
    );
  }

  /**
   * Records a batch after a successful append (a `check` verdict of 'append'). Does not validate
   * again: replay records what the log holds. A different epoch replaces the producer's state.
   */
  record(fields: ProducerFields, baseOffset: number, lastOffset: number, appendTimeMs: number): void {
    this.recordAt(fields, baseOffset, lastOffset, appendTimeMs, appendTimeMs);
  }

  private recordAt(fields: ProducerFields, baseOffset: number, lastOffset: number, appendTimeMs: number, lastUpdateMs: number): void {
    const { producerId, producerEpoch } = fields;
    if (producerId < 0) return;
    const batch: ProducerBatchMetadata = {
      firstSequence: fields.baseSequence,
      lastSequence: lastSequenceOf(fields),
      baseOffset,
      lastOffset,
      appendTimeMs,
    };
    let entry = this.producers.get(producerId);
    if (entry === undefined || entry.producerEpoch !== producerEpoch) {
      entry = { producerEpoch, lastUpdateMs, batches: [batch] };
    } else {
      entry.batches.push(batch);
      if (entry.batches.length > PRODUCER_BATCHES_RETAINED) entry.batches.shift();
      entry.lastUpdateMs = lastUpdateMs;
    }
    this.touch(producerId, entry);
  }

  /** Puts the producer last in recency order, evicting the least recently used beyond the bound. */
  private touch(producerId: number, entry: ProducerEntry): void {
    this.producers.delete(producerId);
    this.producers.set(producerId, entry);
    while (this.producers.size > this.maxProducers) {
      const oldest = this.producers.keys().next();
      assert(oldest.done !== true, 'a map over its bound has a first key');
      this.producers.delete(oldest.value);
    }
  }

  /** Removes producers idle for more than producerIdExpirationMs at `nowMs`; returns how many. */
  expire(nowMs: number = this.clock.nowMs()): number {
    let removed = 0;
    for (const [producerId, entry] of this.producers) {
      if (nowMs - entry.lastUpdateMs > this.expirationMs) {
        this.producers.delete(producerId);
        removed++;
      }
    }
    return removed;
  }

  /** One producer's state, or undefined when it is not tracked. */
  get(producerId: number): ProducerEntryView | undefined {
    const entry = this.producers.get(producerId);
    return entry === undefined ? undefined : view(producerId, entry);
  }

  /** Every tracked producer, least recently used first. */
  entries(): ProducerEntryView[] {
    return [...this.producers].map(([producerId, entry]) => view(producerId, entry));
  }

  /**
   * Writes the snapshot of the state after the batches below `offset` (the log end at a roll or
   * a clean shutdown) into `dir`; see producer-snapshots.ts. Throws STORAGE_ERROR or DISK_FULL.
   */
  writeSnapshotSync(dir: string, offset: number): void {
    assert(Number.isSafeInteger(offset) && offset >= 0, 'a snapshot covers a valid log end offset');
    writeSnapshotFileSync(dir, {
      offset,
      producers: [...this.producers].map(([id, entry]) => ({
        id,
        epoch: entry.producerEpoch,
        lastUpdateMs: entry.lastUpdateMs,
        batches: entry.batches.map((b) => [b.firstSequence, b.lastSequence, b.baseOffset, b.lastOffset, b.appendTimeMs]),
      })),
    });
  }

  /**
   * Rebuilds the state of `log`'s partition from the newest valid snapshot in `log.dir` whose
   * offset is within [logStartOffset, logEndOffset], replaying the batch headers after it; else
   * by replaying the whole log. Snapshots that are damaged or outside the log are deleted, and
   * the first such is reported in `problem` when no snapshot could be used; never thrown.
   * Producers restored from a snapshot and already expired at the clock's now (their update
   * times are the broker's) are dropped; replayed ones never are. I/O errors of the log throw.
   */
  static async load(log: PartitionLog, options: ProducerStateOptions = {}): Promise<LoadResult> {
    const state = new PartitionProducerState(options);
    const nowMs = state.clock.nowMs();
    let problem: string | null = null;
    let from = log.logStartOffset;
    let restored = false;
    const inLog = (offset: number): boolean => offset >= log.logStartOffset && offset <= log.logEndOffset;
    for (const file of snapshotFiles(log.dir)) {
      // Once one is restored, an older snapshot the log still covers stays as a fallback unread.
      const named = snapshotOffsetOf(file);
      if (restored && named !== null && inLog(named)) continue;
      const { payload, problem: unreadable } = readSnapshot(file);
      if (payload === null || !inLog(payload.offset)) {
        problem ??= unreadable ?? `${file}: snapshot at offset ${payload?.offset} is outside the log [${log.logStartOffset}, ${log.logEndOffset}]; ignored`;
        removeSnapshotSync(file);
      } else if (!restored) {
        state.restore(payload);
        state.expire(nowMs);
        from = payload.offset;
        restored = true;
      }
    }
    await state.replay(log, from, nowMs);
    return { state, rebuiltFromOffset: from, problem: restored ? null : problem };
  }

  private restore(payload: SnapshotPayload): void {
    for (const p of payload.producers) {
      const batches = p.batches.map(([firstSequence, lastSequence, baseOffset, lastOffset, appendTimeMs]) => ({
        firstSequence,
        lastSequence,
        baseOffset,
        lastOffset,
        appendTimeMs,
      }));
      this.touch(p.id, { producerEpoch: p.epoch, lastUpdateMs: p.lastUpdateMs, batches: batches.slice(-PRODUCER_BATCHES_RETAINED) });
    }
  }

  /**
   * Records every idempotent batch stored at or after `from`, from headers only. A replayed
   * batch's append time (what a duplicate is answered with) is its maxTimestamp; the producer
   * counts as updated at `nowMs`, the load, never at a client's CreateTime (see the top).
   */
  private async replay(log: PartitionLog, from: number, nowMs: number): Promise<void> {
    let offset = from;
    while (offset < log.logEndOffset) {
      const read = await log.read(offset, REPLAY_READ_BYTES);
      const { bytes } = read;
      let pos = 0;
      while (bytes.length - pos >= BATCH_HEADER_BYTES) {
        const header = readBatchHeader(bytes, pos);
        assert(header.sizeBytes >= BATCH_HEADER_BYTES && pos + header.sizeBytes <= bytes.length, 'a log read returns whole batches');
        pos += header.sizeBytes;
        const lastOffset = header.baseOffset + header.lastOffsetDelta;
        // Control batches (transaction markers, later) carry a producer id but no sequence.
        if (header.producerId < 0 || lastOffset < from || (header.attributes & Attr.control) !== 0) continue;
        this.recordAt(header, header.baseOffset, lastOffset, header.maxTimestampMs, nowMs);
      }
      if (bytes.length === 0 || read.nextOffset <= offset) break;
      offset = read.nextOffset;
    }
  }
}

/**
 * Checks a batch's producer fields on their own (no state needed): -1/-1/-1, or an id >= 0
 * with an epoch and a sequence in range. Returns whether the batch is idempotent; throws
 * INVALID_PRODUCER_FIELDS otherwise.
 */
export function validateProducerFields(fields: ProducerFields): boolean {
  const { producerId, producerEpoch, baseSequence } = fields;
  if (producerId === NO_PRODUCER_ID) {
    if (producerEpoch !== NO_PRODUCER_ID || baseSequence !== NO_PRODUCER_ID) {
      throw invalidFields(fields, 'a batch without a producer id must have producerEpoch and baseSequence -1');
    }
    return false;
  }
  if (!Number.isSafeInteger(producerId) || producerId < 0) throw invalidFields(fields, 'producerId must be -1 or a non-negative integer');
  if (!isIntIn(producerEpoch, 0, INT16_MAX)) throw invalidFields(fields, `producerEpoch must be in [0, ${INT16_MAX}]`);
  if (!isIntIn(baseSequence, 0, INT32_MAX)) throw invalidFields(fields, `baseSequence must be in [0, ${INT32_MAX}]`);
  return true;
}

function view(producerId: number, entry: ProducerEntry): ProducerEntryView {
  return { producerId, producerEpoch: entry.producerEpoch, lastUpdateMs: entry.lastUpdateMs, batches: entry.batches.map((b) => ({ ...b })) };
}

function invalidFields(fields: ProducerFields, detail: string): RunnelError {
  const { producerId, producerEpoch, baseSequence } = fields;
  return new RunnelError(
    'INVALID_PRODUCER_FIELDS',
    `${detail} (producerId ${producerId}, producerEpoch ${producerEpoch}, baseSequence ${baseSequence})`,
    { producerId, producerEpoch, baseSequence },
  );
}
