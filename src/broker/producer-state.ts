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
 * Persistence: at a clean shutdown the broker writes `producer-state.snapshot` next to the log;
 * `load` starts from it (if it is valid and within the log) and replays the batch headers after
 * it, or replays the whole log. Replay walks headers only, never decodes records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../common/assert.js';
import { systemClock, type Clock } from '../common/clock.js';
import { RunnelError, storageError } from '../common/errors.js';
import { Attr, BATCH_HEADER_BYTES, readBatchHeader } from '../format/batch-header.js';
import { crc32c } from '../format/crc32c.js';
import { fsyncDirSync, writeFileAtomicSync } from '../storage/file-io.js';
import type { PartitionLog } from '../storage/partition-log.js';

export const PRODUCER_STATE_SNAPSHOT_FILE = 'producer-state.snapshot';
export const PRODUCER_STATE_SNAPSHOT_VERSION = 1;
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
  /** Default `now` of `expire`, and the upper bound of replayed timestamps. */
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
   * Writes `producer-state.snapshot` in `dir` atomically (temp file, fsync, rename, fsync dir),
   * covering the log below `logEndOffset`. Called at a clean shutdown, after the last append.
   *
   * Format: a JSON header line `{"version","crc32c","length"}`, then `length` bytes of JSON
   * payload `{"offset","producers":[{"id","epoch","lastUpdateMs","batches":[[firstSeq,
   * lastSeq, baseOffset, lastOffset, appendTimeMs], ...]}]}` (least recently used first), whose
   * CRC-32C the header holds.
   */
  writeSnapshotSync(dir: string, logEndOffset: number): void {
    assert(Number.isSafeInteger(logEndOffset) && logEndOffset >= 0, 'a snapshot covers a valid log end offset');
    const payload: SnapshotPayload = {
      offset: logEndOffset,
      producers: [...this.producers].map(([id, entry]) => ({
        id,
        epoch: entry.producerEpoch,
        lastUpdateMs: entry.lastUpdateMs,
        batches: entry.batches.map((b) => [b.firstSequence, b.lastSequence, b.baseOffset, b.lastOffset, b.appendTimeMs]),
      })),
    };
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    const header = JSON.stringify({ version: PRODUCER_STATE_SNAPSHOT_VERSION, crc32c: crc32c(body), length: body.length });
    const file = path.join(dir, PRODUCER_STATE_SNAPSHOT_FILE);
    try {
      writeFileAtomicSync(file, Buffer.concat([Buffer.from(`${header}\n`, 'utf8'), body]));
    } catch (err) {
      throw storageError(err, `write ${file}`);
    }
  }

  /**
   * Rebuilds the state of `log`'s partition: from the snapshot in `log.dir` when it is valid and
   * its offset is within [logStartOffset, logEndOffset], replaying the batch headers after it;
   * else by replaying the whole log. A bad snapshot is reported in `problem`, never thrown. The
   * snapshot is deleted afterwards, so a stale one is never used after later appends. Producers
   * already expired at the clock's now are dropped. I/O errors of the log itself do throw.
   */
  static async load(log: PartitionLog, options: ProducerStateOptions = {}): Promise<LoadResult> {
    const state = new PartitionProducerState(options);
    const file = path.join(log.dir, PRODUCER_STATE_SNAPSHOT_FILE);
    const snapshot = readSnapshot(file);
    let problem = snapshot.problem;
    let from = log.logStartOffset;
    if (snapshot.payload !== null) {
      const { offset } = snapshot.payload;
      if (offset < log.logStartOffset || offset > log.logEndOffset) {
        problem = `${file}: snapshot at offset ${offset} is outside the log [${log.logStartOffset}, ${log.logEndOffset}]; ignored`;
      } else {
        state.restore(snapshot.payload);
        from = offset;
      }
    }
    const nowMs = state.clock.nowMs();
    await state.replay(log, from, nowMs);
    state.expire(nowMs);
    deleteSnapshot(file, snapshot.exists);
    return { state, rebuiltFromOffset: from, problem };
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
   * Records every idempotent batch stored at or after `from`, from headers only. The append
   * time of a replayed batch is its maxTimestamp (the original broker time is not stored); for
   * expiration it counts as no later than now, so a future client timestamp cannot pin a producer.
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
        const lastUpdateMs = Math.min(header.maxTimestampMs, nowMs);
        this.recordAt(header, header.baseOffset, lastOffset, header.maxTimestampMs, lastUpdateMs);
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

// ---------------------------------------------------------------------------------------------
// Snapshot file

type SnapshotBatch = [firstSequence: number, lastSequence: number, baseOffset: number, lastOffset: number, appendTimeMs: number];

interface SnapshotPayload {
  offset: number;
  producers: { id: number; epoch: number; lastUpdateMs: number; batches: SnapshotBatch[] }[];
}

interface SnapshotRead {
  exists: boolean;
  payload: SnapshotPayload | null;
  problem: string | null;
}

/** Reads and validates the snapshot; never throws. */
function readSnapshot(file: string): SnapshotRead {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, payload: null, problem: null };
    return { exists: true, payload: null, problem: `${file}: unreadable (${err instanceof Error ? err.message : String(err)}); ignored` };
  }
  const bad = (why: string): SnapshotRead => ({ exists: true, payload: null, problem: `${file}: ${why}; ignored` });
  const newline = data.indexOf(0x0a);
  if (newline < 0) return bad('no header line');
  let header: unknown;
  try {
    header = JSON.parse(data.subarray(0, newline).toString('utf8'));
  } catch {
    return bad('header is not JSON');
  }
  if (typeof header !== 'object' || header === null) return bad('header is not an object');
  const { version, crc32c: crc, length } = header as Record<string, unknown>;
  if (version !== PRODUCER_STATE_SNAPSHOT_VERSION) return bad(`unsupported version ${String(version)}`);
  const body = data.subarray(newline + 1);
  if (length !== body.length) return bad(`payload is ${body.length} bytes, header says ${String(length)}`);
  if (crc !== crc32c(body)) return bad('payload CRC-32C mismatch');
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('payload is not JSON');
  }
  const why = validatePayload(payload);
  return why === null ? { exists: true, payload: payload as SnapshotPayload, problem: null } : bad(why);
}

/** Null when `payload` has the snapshot's shape and sane values; otherwise what is wrong. */
function validatePayload(payload: unknown): string | null {
  if (typeof payload !== 'object' || payload === null) return 'payload is not an object';
  const { offset, producers } = payload as Record<string, unknown>;
  if (!isIntIn(offset, 0, Number.MAX_SAFE_INTEGER)) return 'bad offset';
  if (!Array.isArray(producers)) return 'producers is not an array';
  for (const p of producers as unknown[]) {
    if (typeof p !== 'object' || p === null) return 'a producer is not an object';
    const { id, epoch, lastUpdateMs, batches } = p as Record<string, unknown>;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER) || !isIntIn(epoch, 0, INT16_MAX) || !Number.isSafeInteger(lastUpdateMs)) {
      return 'a producer has a bad id, epoch or lastUpdateMs';
    }
    if (!Array.isArray(batches) || batches.length === 0) return `producer ${id} has no batches`;
    for (const b of batches as unknown[]) {
      if (
        !Array.isArray(b) ||
        b.length !== 5 ||
        !isIntIn(b[0], 0, INT32_MAX) ||
        !isIntIn(b[1], 0, INT32_MAX) ||
        !isIntIn(b[2], 0, Number.MAX_SAFE_INTEGER) ||
        !isIntIn(b[3], 0, Number.MAX_SAFE_INTEGER) ||
        !Number.isSafeInteger(b[4])
      ) {
        return `producer ${id} has a malformed batch`;
      }
    }
  }
  return null;
}

function deleteSnapshot(file: string, exists: boolean): void {
  if (!exists) return;
  try {
    fs.rmSync(file, { force: true });
    fsyncDirSync(path.dirname(file));
  } catch (err) {
    throw storageError(err, `delete ${file}`);
  }
}
