/**
 * What the producer holds for one partition: the open batch, the sealed batches waiting to be
 * sent (batches taken back for a retry go first, in their original order), the batches in
 * flight, and the idempotence state (producer identity and next sequence number).
 *
 * Order: batches are sent in queue order, at most `maxInFlightPerPartition` at once, and all on
 * one ProduceStream, whose requests the broker appends strictly in order; so records of a
 * partition are written in the order they were sent. A retry takes back every in-flight batch
 * and sends them again, in order, before any newer one.
 */
import { assert } from '../../common/assert.js';
import type { RunnelError } from '../../common/errors.js';
import type { ProducerBatch } from './batch.js';

export interface ProducerIdentity {
  producerId: number;
  producerEpoch: number;
}

export class PartitionState {
  open: ProducerBatch | null = null;
  readonly queue: ProducerBatch[] = [];
  inFlight: ProducerBatch[] = [];
  identity: ProducerIdentity | null = null;
  /** The broker lost this partition's sequence: continue under a producer id of its own. */
  needsFreshIdentity = false;
  nextSequence = 0;
  /** No send before this time (backoff after a retriable failure). */
  retryAtMs = 0;
  retriesInARow = 0;
  /** The error behind the latest retry, quoted when a batch times out. */
  lastError: RunnelError | null = null;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** The next batch to send, if the window and the backoff allow one. */
  sendable(nowMs: number, maxInFlight: number): ProducerBatch | undefined {
    if (this.inFlight.length >= maxInFlight || nowMs < this.retryAtMs) return undefined;
    return this.queue[0];
  }

  /** Moves the head of the queue in flight. */
  markSent(batch: ProducerBatch): void {
    assert(this.queue[0] === batch, 'batches of a partition are sent in queue order');
    this.queue.shift();
    this.inFlight.push(batch);
  }

  removeInFlight(batch: ProducerBatch): void {
    const index = this.inFlight.indexOf(batch);
    if (index >= 0) this.inFlight.splice(index, 1);
  }

  /**
   * Takes every in-flight batch back to the head of the queue (same bytes, same sequences), so
   * they are sent again, in order, before newer batches. Answers to the old sends become stale.
   */
  rewind(): void {
    for (const batch of this.inFlight) batch.attempt++;
    this.queue.unshift(...this.inFlight);
    this.inFlight = [];
  }

  /** Batches sent at least once and not yet acknowledged, oldest first. */
  stampedUnacknowledged(): ProducerBatch[] {
    return [...this.inFlight, ...this.queue.filter((batch) => batch.stamp !== null)];
  }
}
