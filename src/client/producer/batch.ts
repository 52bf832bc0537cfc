/**
 * One producer batch: the records of one partition that travel as one RecordBatch v2, and the
 * sends waiting for them.
 *
 * Life: open (records are added) -> sealed (queued for its partition) -> encoded and stamped at
 * its first send (producer id, epoch, base sequence: as Kafka assigns sequences when a batch is
 * drained, so a batch that fails before it is sent never leaves a gap) -> sent, maybe several
 * times (a retry sends the very same bytes, so the broker can recognise a duplicate) -> done.
 * `restamp` rewrites the producer fields in place (and the CRC, which covers them) when the
 * sequences of a partition must be shifted after a batch before it failed.
 *
 * `attempt` grows each time the batch is taken back for a retry: an answer to an older attempt
 * is stale and ignored.
 */
import { assert } from '../../common/assert.js';
import type { RunnelError } from '../../common/errors.js';
import { BATCH_HEADER_BYTES, Pos, computeBatchCrc, type Codec } from '../../format/batch-header.js';
import { encodeRecordBatch } from '../../format/record-batch.js';
import type { PreparedRecord } from './message.js';
import type { SendTracker } from './send-tracker.js';
import type { Acks } from './types.js';

/** `count` consecutive records of one send, from its message `firstIndex` on. */
interface SendRun {
  tracker: SendTracker;
  firstIndex: number;
  count: number;
}

export interface ProducerStamp {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/** What a batch without idempotence carries (Kafka's "no producer id"). */
export const NO_STAMP: ProducerStamp = Object.freeze({ producerId: -1, producerEpoch: -1, baseSequence: -1 });

export class ProducerBatch {
  /** Until encoded; then released (the bytes hold the records). */
  private records: PreparedRecord[] = [];
  private readonly timestampsMs: number[] = [];
  /**
   * The sends whose records the batch holds, as runs of records consecutive in the batch and in
   * their send: a send's records enter a batch in one synchronous loop, so a send is one run,
   * or several when its messages alternate between partitions (one entry per run, not one per
   * record).
   */
  private readonly runs: SendRun[] = [];
  /** Bytes reserved in the buffer budget for these records. */
  reservedBytes = 0;
  bytes: Buffer | null = null;
  stamp: ProducerStamp | null = null;
  attempt = 0;
  /** Times the batch was written to a stream. */
  sends = 0;
  done = false;
  /** acks 'none': the sends were resolved when the batch was first written. */
  private answeredEarly = false;
  /** Waiting `flush` calls. */
  private doneListeners: (() => void)[] = [];

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly acks: Acks,
    readonly createdAtMs: number,
  ) {}

  get recordCount(): number {
    return this.timestampsMs.length;
  }

  /** Bytes of the batch on the wire, about (exact once encoded). */
  get sizeBytes(): number {
    return this.bytes?.length ?? BATCH_HEADER_BYTES + this.reservedBytes;
  }

  add(record: PreparedRecord, tracker: SendTracker, index: number): void {
    assert(this.bytes === null, 'records are added to a batch before it is encoded');
    const run = this.runs[this.runs.length - 1];
    if (run !== undefined && run.tracker === tracker && run.firstIndex + run.count === index) {
      run.count++;
    } else {
      if (run?.tracker !== tracker) tracker.addBatch();
      this.runs.push({ tracker, firstIndex: index, count: 1 });
    }
    this.records.push(record);
    this.timestampsMs.push(record.timestampMs);
    this.reservedBytes += record.sizeBytes;
  }

  /** Encodes the records with `stamp` (first send); the records are released. */
  encode(codec: Codec, stamp: ProducerStamp): Buffer {
    assert(this.bytes === null, 'a batch is encoded once; retries resend the same bytes');
    this.bytes = encodeRecordBatch({ records: this.records, codec, ...stamp });
    this.stamp = stamp;
    this.records = [];
    return this.bytes;
  }

  /**
   * New producer fields for an encoded batch; the CRC covers them, so it is recomputed. On a copy:
   * the old bytes may still sit in a transport's queue as an earlier attempt.
   */
  restamp(stamp: ProducerStamp): void {
    assert(this.bytes !== null, 'only an encoded batch is restamped');
    this.bytes = Buffer.from(this.bytes);
    this.bytes.writeBigInt64BE(BigInt(stamp.producerId), Pos.producerId);
    this.bytes.writeInt16BE(stamp.producerEpoch, Pos.producerEpoch);
    this.bytes.writeInt32BE(stamp.baseSequence, Pos.baseSequence);
    this.bytes.writeUInt32BE(computeBatchCrc(this.bytes), Pos.crc);
    this.stamp = stamp;
  }

  /** acks 'none': the sends resolve as soon as the batch is on the wire, offsets unknown (-1). */
  answerEarly(): void {
    if (this.answeredEarly) return;
    this.fillResults(-1);
    this.answeredEarly = true;
    this.forEachTracker((tracker) => tracker.batchDone());
  }

  /** Acknowledged with the offset of its first record. */
  complete(baseOffset: number): void {
    this.markDone();
    if (this.answeredEarly) return;
    this.fillResults(baseOffset);
    this.forEachTracker((tracker) => tracker.batchDone());
  }

  fail(err: RunnelError): void {
    this.markDone();
    if (this.answeredEarly) return;
    this.forEachTracker((tracker) => tracker.fail(err));
  }

  /** Resolves once the batch is acknowledged or failed. */
  whenDone(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => this.doneListeners.push(resolve));
  }

  private markDone(): void {
    assert(!this.done, 'a batch completes once');
    this.done = true;
    for (const listener of this.doneListeners.splice(0)) listener();
  }

  private fillResults(baseOffset: number): void {
    const { topic, partition, timestampsMs } = this;
    let i = 0;
    for (const { tracker, firstIndex, count } of this.runs) {
      const { results } = tracker;
      for (let k = 0; k < count; k++, i++) results[firstIndex + k] = { topic, partition, offset: baseOffset < 0 ? -1 : baseOffset + i, timestampMs: timestampsMs[i]! };
    }
  }

  /** Each send once. */
  private forEachTracker(fn: (tracker: SendTracker) => void): void {
    let previous: SendTracker | null = null;
    for (const { tracker } of this.runs) {
      if (tracker !== previous) fn(tracker);
      previous = tracker;
    }
  }
}
