/**
 * The sender: takes sealed batches from the partitions' queues, packs them into produce requests
 * (at most one batch per partition per request, one acks level per request, at most
 * `maxRequestBytes`), writes them on the ProduceStream, and handles the answers:
 *
 * - success: the batch completes with its base offset (a retried batch the broker already had
 *   is answered as a duplicate with its original offsets).
 * - retriable error (BROKER_UNAVAILABLE, REQUEST_TIMED_OUT, STORAGE_ERROR, LIMIT_EXCEEDED,
 *   BROKER_SHUTTING_DOWN, ...) or a broken stream: every in-flight batch of the partition is taken
 *   back and sent again, the very same bytes and sequences, in order, after a capped exponential
 *   backoff, until `deliveryTimeoutMs` after the batch was created.
 * - OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER_ID at the head of the partition's window (so not
 *   caused by an earlier batch of ours failing): the broker lost records it had acknowledged, or
 *   its state for this producer. As Kafka's idempotent producer, the affected sends fail with that
 *   error (their records were not written); the partition continues under a fresh producer id.
 * - another error: the batch's sends fail with it (topic and partition in the context). When the
 *   broker refused the batch before appending it, the batches sent after it are renumbered
 *   (Kafka's adjustSequenceNumbers) and re-sent; when the outcome is unknown they fail too, since
 *   renumbering them could make the broker take one for a duplicate of the failed batch.
 *
 * One timer and one setImmediate drive everything: sealing lingered batches, request timeouts,
 * backoffs, delivery timeouts. Nothing runs when the producer is idle.
 */
import { RunnelError, type ErrorCode } from '../../common/errors.js';
import { Codec } from '../../format/batch-header.js';
import { errorFromMessage } from '../connection.js';
import type { Accumulator } from './accumulator.js';
import { backoffMs } from '../backoff.js';
import { NO_STAMP, type ProducerBatch } from './batch.js';
import type { BufferBudget } from './buffer-budget.js';
import type { ProducerIds } from './idempotence.js';
import type { TopicMetadata } from './metadata.js';
import type { ResolvedProducerOptions } from './options.js';
import type { PartitionState } from './partition-state.js';
import type { PartitionProduceResult, ProduceResponse, ProduceTransport, WireAcks } from './transport.js';
import type { Acks, ProducerStats } from './types.js';

/** The broker's default limits.maxPartitionsPerRequest. */
const REQUEST_PARTITIONS_MAX = 1000;
/** Delivery timeouts of queued batches are checked this often at most. */
const EXPIRY_CHECK_INTERVAL_MS = 100;
/** Sequences are int32 and wrap from 2^31-1 to 0 (Kafka's DefaultRecordBatch.incrementSequence). */
const SEQUENCE_MODULUS = 2 ** 31;

const WIRE_ACKS: Record<Acks, WireAcks> = { none: 'ACKS_NONE', leader: 'ACKS_LEADER', all: 'ACKS_ALL' };

/** Errors the broker returns before appending anything: the batch is certainly not in the log. */
const REFUSED_BEFORE_APPEND: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_ARGUMENT',
  'INVALID_TOPIC_NAME',
  'UNKNOWN_TOPIC',
  'UNKNOWN_PARTITION',
  'CORRUPT_BATCH',
  'BATCH_TOO_LARGE',
  'REQUEST_TOO_LARGE',
  'INVALID_PRODUCER_FIELDS',
  'PRODUCER_FENCED',
]);

interface Entry {
  state: PartitionState;
  batch: ProducerBatch;
  attempt: number;
}

export type SenderStats = Pick<ProducerStats, 'records' | 'batches' | 'requests' | 'retries' | 'duplicates'>;

export interface SenderParts {
  options: ResolvedProducerOptions;
  transport: ProduceTransport;
  ids: ProducerIds;
  budget: BufferBudget;
  metadata: TopicMetadata;
}

export class Sender {
  readonly stats: SenderStats = { records: 0, batches: 0, requests: 0, retries: 0, duplicates: 0 };
  accumulator!: Accumulator;
  /** While > 0, batches are sealed without lingering. */
  flushing = 0;
  /** Batches opened and not yet acknowledged or failed. */
  readonly live = new Set<ProducerBatch>();
  /** Partitions with queued batches, served round robin. */
  private readonly ready = new Set<PartitionState>();
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAtMs = Infinity;
  private nextExpiryCheckMs = 0;
  private expiryDueMs = Infinity;
  private readonly codec: Codec;

  constructor(private readonly parts: SenderParts) {
    this.codec = parts.options.compression === 'lz4' ? Codec.Lz4 : Codec.None;
  }

  /** A batch was opened: it is due for sealing at `dueAtMs`. */
  opened(batch: ProducerBatch, dueAtMs: number): void {
    this.live.add(batch);
    // Node clamps setTimeout to at least 1 ms, so with lingerMs 0 every batch would wait that
    // long (the whole p50 at 10k records/s); a batch due already goes on the next turn.
    if (dueAtMs <= Date.now()) this.kick();
    else this.wakeAt(dueAtMs);
  }

  /** A batch was sealed into the partition's queue. */
  queued(state: PartitionState): void {
    this.ready.add(state);
    this.kick();
  }

  /** Runs the sender on the next turn of the event loop (after the current sends have appended). */
  kick(): void {
    this.immediate ??= setImmediate(() => {
      this.immediate = null;
      this.run();
    });
  }

  /** Makes sure the sender runs at `atMs` at the latest. */
  wakeAt(atMs: number): void {
    if (atMs >= this.timerAtMs || atMs === Infinity) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAtMs = Infinity;
        this.run();
      },
      Math.max(0, atMs - Date.now()),
    );
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.timerAtMs = Infinity;
  }

  private run(): void {
    const nowMs = Date.now();
    const lingerDueMs = this.accumulator.sealDue(nowMs);
    if (nowMs >= this.nextExpiryCheckMs) this.expireAll(nowMs);
    const drainDueMs = this.drain(nowMs);
    // After the drain, so requests just written are watched; a timeout breaks the stream and kicks a new run.
    const timeoutDueMs = this.parts.transport.checkTimeouts(nowMs);
    // A stale expiry time is never later than the real one; with nothing queued there is none.
    const expiryDueMs = this.ready.size > 0 ? this.expiryDueMs : Infinity;
    this.wakeAt(Math.min(lingerDueMs, timeoutDueMs, drainDueMs, expiryDueMs));
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Writes requests while the stream has room; returns when a backoff that holds batches back ends. */
  private drain(nowMs: number): number {
    const { transport, options } = this.parts;
    let dueMs = Infinity;
    while (transport.inFlightRequests < options.maxInFlightRequests) {
      if (!transport.canSend(nowMs)) return Math.min(dueMs, transport.reopenAtTimeMs);
      const collected = this.collect(nowMs);
      dueMs = Math.min(dueMs, collected.dueMs);
      if (collected.entries.length === 0) break;
      this.sendRequest(collected.entries, collected.entries[0]!.batch.acks);
    }
    return dueMs;
  }

  /** The next request: the head batch of each partition that may send, one acks level, bounded bytes. */
  private collect(nowMs: number): { entries: Entry[]; dueMs: number } {
    const { maxInFlightPerPartition, maxRequestBytes } = this.parts.options;
    const entries: Entry[] = [];
    let requestBytes = 0;
    let dueMs = Infinity;
    for (const state of this.ready) {
      if (state.queue.length === 0) {
        this.ready.delete(state);
        continue;
      }
      if (nowMs < state.retryAtMs) dueMs = Math.min(dueMs, state.retryAtMs);
      const batch = state.sendable(nowMs, maxInFlightPerPartition);
      if (batch === undefined || (entries.length > 0 && batch.acks !== entries[0]!.batch.acks)) continue;
      if (entries.length > 0 && requestBytes + batch.sizeBytes > maxRequestBytes) break;
      if (!this.prepare(state, batch)) continue;
      entries.push({ state, batch, attempt: batch.attempt });
      requestBytes += batch.sizeBytes;
      if (entries.length >= REQUEST_PARTITIONS_MAX) break;
    }
    // Round robin: partitions served now go to the back of the line.
    for (const { state } of entries) {
      this.ready.delete(state);
      if (state.queue.length > 1) this.ready.add(state);
    }
    return { entries, dueMs };
  }

  /** Encodes a batch at its first send, stamped with its producer id and sequence; false when it cannot go yet. */
  private prepare(state: PartitionState, batch: ProducerBatch): boolean {
    if (batch.bytes !== null) return true;
    if (!this.parts.options.idempotent) return this.encode(state, batch, NO_STAMP);
    const identity = this.parts.ids.identityFor(state);
    if (identity === null) return false;
    if (identity instanceof RunnelError) {
      // Only batches never sent are waiting for an id.
      for (const unsent of state.queue.splice(0)) this.fail(unsent, identity);
      return false;
    }
    if (!this.encode(state, batch, { ...identity, baseSequence: state.nextSequence })) return false;
    state.nextSequence = (state.nextSequence + batch.recordCount) % SEQUENCE_MODULUS;
    return true;
  }

  private encode(state: PartitionState, batch: ProducerBatch, stamp: typeof NO_STAMP): boolean {
    try {
      batch.encode(this.codec, stamp);
      return true;
    } catch (err) {
      state.queue.shift();
      this.fail(batch, err instanceof RunnelError ? err : new RunnelError('INTERNAL', `cannot encode a batch: ${String(err)}`));
      return false;
    }
  }

  private sendRequest(entries: Entry[], acks: Acks): void {
    const topics = new Map<string, { partition: number; records: Buffer }[]>();
    for (const { state, batch } of entries) {
      state.markSent(batch);
      if (batch.sends++ > 0) this.stats.retries++;
      let partitions = topics.get(batch.topic);
      if (partitions === undefined) topics.set(batch.topic, (partitions = []));
      partitions.push({ partition: batch.partition, records: batch.bytes! });
    }
    const request = { acks: WIRE_ACKS[acks], topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
    try {
      this.parts.transport.send(request, (err, response) => this.answered(entries, err, response));
    } catch (err) {
      // The connection is closed: nothing can be sent any more.
      this.answered(entries, err instanceof RunnelError ? err : new RunnelError('INTERNAL', String(err)), null);
      return;
    }
    this.stats.requests++;
    if (acks === 'none') for (const { batch } of entries) batch.answerEarly();
  }

  // -------------------------------------------------------------------------------------------
  // Answers

  private answered(entries: Entry[], err: RunnelError | null, response: ProduceResponse | null): void {
    const nowMs = Date.now();
    for (const entry of entries) {
      // An answer to an attempt taken back for a retry (or a batch already failed) is stale.
      if (entry.batch.done || entry.batch.attempt !== entry.attempt) continue;
      if (err !== null) this.streamFailed(entry, err, nowMs);
      else this.partitionAnswered(entry, findResult(response!, entry.batch), nowMs);
    }
    this.kick();
  }

  private streamFailed({ state, batch }: Entry, err: RunnelError, nowMs: number): void {
    if (err.code === 'CLIENT_CLOSED') {
      state.removeInFlight(batch);
      this.fail(batch, err);
      return;
    }
    this.retry(state, err, nowMs);
  }

  private partitionAnswered({ state, batch }: Entry, result: PartitionProduceResult | undefined, nowMs: number): void {
    const context = { topic: batch.topic, partition: batch.partition };
    const error = result === undefined ? new RunnelError('INTERNAL', 'the produce answer does not mention the partition', context) : errorFromMessage(result.error, context);
    if (error === null) {
      state.removeInFlight(batch);
      state.retriesInARow = 0;
      if (result!.duplicate) this.stats.duplicates++;
      this.complete(batch, result!.baseOffset);
      return;
    }
    if (error.code === 'UNKNOWN_TOPIC' || error.code === 'UNKNOWN_PARTITION') this.parts.metadata.invalidate(batch.topic);
    const idempotent = batch.stamp !== NO_STAMP;
    // Without sequences, batches are independent: only this one goes again (Kafka's behaviour:
    // it may then land after later batches, unless maxInFlightPerPartition is 1).
    if (!idempotent && error.retriable) return this.retryOne(state, batch, error, nowMs);
    // An error behind an earlier failure of ours is a consequence of it: retry in order.
    if (state.inFlight[0] !== batch || error.retriable) return this.retry(state, error, nowMs);
    if (idempotent && (error.code === 'OUT_OF_ORDER_SEQUENCE' || error.code === 'UNKNOWN_PRODUCER_ID')) return this.sequenceLost(state, error);
    state.removeInFlight(batch);
    this.fail(batch, error);
    if (!idempotent) return;
    if (REFUSED_BEFORE_APPEND.has(error.code)) this.renumberAfter(state, batch);
    else this.abandonSequence(state, withDetail(error, `an earlier batch of ${batch.topic}/${batch.partition} failed this way and may have been written, so the batches after it were not retried (a renumbered retry could be taken for a duplicate)`));
  }

  /** Takes the partition's in-flight batches back and sends them again after a backoff. */
  private retry(state: PartitionState, err: RunnelError, nowMs: number): void {
    state.rewind();
    state.retryAtMs = nowMs + backoffMs(state.retriesInARow++, this.parts.options.retryBackoffMs, this.parts.options.retryBackoffMsMax);
    state.lastError = err;
    this.ready.add(state);
    this.expire(state, nowMs);
  }

  /** Sends one batch of a partition without idempotence again after a backoff. */
  private retryOne(state: PartitionState, batch: ProducerBatch, err: RunnelError, nowMs: number): void {
    state.removeInFlight(batch);
    batch.attempt++;
    state.queue.unshift(batch);
    state.retryAtMs = nowMs + backoffMs(state.retriesInARow++, this.parts.options.retryBackoffMs, this.parts.options.retryBackoffMsMax);
    state.lastError = err;
    this.ready.add(state);
    this.expire(state, nowMs);
  }

  /**
   * OUT_OF_ORDER_SEQUENCE / UNKNOWN_PRODUCER_ID at the head: the broker lost our sequence. The
   * refusal proves that this send was not appended, not that an earlier send of the same batch
   * was not: a batch sent before (its answer lost to a broken stream or a timeout) may have been
   * written and then lost, or written and kept while the broker lost the producer's state. Only
   * batches never sent before are reported as not written.
   */
  private sequenceLost(state: PartitionState, cause: RunnelError): void {
    const lost =
      `the broker no longer has the records or the producer state this producer's sequence on ${state.topic}/${state.partition} builds on ` +
      "(a broker crash with acks below 'all', retention, or producer id expiry)";
    const notWritten = withDetail(cause, `${lost}; these records were not written, later sends continue under a new producer id`);
    const unknown = withDetail(cause, `${lost}; an earlier send of these records had no answer, so they may or may not have been written; later sends continue under a new producer id`);
    this.abandonSequence(state, notWritten, unknown);
  }

  /**
   * Fails every batch of the partition that carries a sequence with `err` (`errSentBefore` for a
   * batch sent more than once); new batches start over under a fresh producer id.
   */
  private abandonSequence(state: PartitionState, err: RunnelError, errSentBefore = err): void {
    const stamped = state.stampedUnacknowledged();
    state.inFlight = [];
    state.queue.splice(0, state.queue.length, ...state.queue.filter((batch) => batch.stamp === null));
    for (const batch of stamped) this.fail(batch, batch.attempt > 0 ? errSentBefore : err);
    state.identity = null;
    state.needsFreshIdentity = true;
    state.nextSequence = 0;
  }

  /** The failed batch was refused before any append: the batches after it take over its sequence numbers. */
  private renumberAfter(state: PartitionState, failed: ProducerBatch): void {
    state.rewind();
    let sequence = failed.stamp!.baseSequence;
    for (const batch of state.queue) {
      if (batch.stamp === null) break;
      batch.restamp({ ...batch.stamp, baseSequence: sequence });
      sequence = (sequence + batch.recordCount) % SEQUENCE_MODULUS;
    }
    state.nextSequence = sequence;
    this.ready.add(state);
  }

  // -------------------------------------------------------------------------------------------
  // Delivery timeouts

  private expireAll(nowMs: number): void {
    this.nextExpiryCheckMs = nowMs + EXPIRY_CHECK_INTERVAL_MS;
    this.expiryDueMs = Infinity;
    for (const state of this.ready) this.expire(state, nowMs);
  }

  /** Fails queued batches older than deliveryTimeoutMs (in-flight ones wait for their answer or requestTimeoutMs). */
  private expire(state: PartitionState, nowMs: number): void {
    if (state.inFlight.length > 0) return;
    const timeoutMs = this.parts.options.deliveryTimeoutMs;
    const head = state.queue[0];
    if (head === undefined) return;
    if (nowMs - head.createdAtMs < timeoutMs) {
      this.expiryDueMs = Math.min(this.expiryDueMs, head.createdAtMs + timeoutMs);
      return;
    }
    const last = state.lastError === null ? '' : `; last error: ${state.lastError.message}`;
    const timedOut = (detail: string): RunnelError =>
      new RunnelError('REQUEST_TIMED_OUT', `not acknowledged within deliveryTimeoutMs (${timeoutMs} ms); ${detail}${last}`, { topic: state.topic, partition: state.partition });
    // A sent batch's fate is unknown, and the sequences after it hang on it.
    if (head.sends > 0 && head.stamp !== NO_STAMP) this.abandonSequence(state, timedOut('sent and may or may not have been written'));
    while (state.queue.length > 0 && nowMs - state.queue[0]!.createdAtMs >= timeoutMs) {
      const batch = state.queue.shift()!;
      this.fail(batch, timedOut(batch.sends > 0 ? 'sent and may or may not have been written' : 'never sent'));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Completion

  private fail(batch: ProducerBatch, err: RunnelError): void {
    batch.fail(err.context.topic === undefined ? err.withContext({ topic: batch.topic, partition: batch.partition }) : err);
    this.live.delete(batch);
    this.parts.budget.release(batch.reservedBytes);
  }

  private complete(batch: ProducerBatch, baseOffset: number): void {
    this.stats.batches++;
    this.stats.records += batch.recordCount;
    batch.complete(baseOffset);
    this.live.delete(batch);
    this.parts.budget.release(batch.reservedBytes);
  }
}

/** The same code and context, with why it applies to these records. */
function withDetail(err: RunnelError, detail: string): RunnelError {
  const copy = new RunnelError(err.code, undefined, err.context, { cause: err });
  copy.message = `${err.message}: ${detail}`;
  return copy;
}

function findResult(response: ProduceResponse, batch: ProducerBatch): PartitionProduceResult | undefined {
  return response.topics.find((t) => t.topic === batch.topic)?.partitions.find((p) => p.partition === batch.partition);
}
