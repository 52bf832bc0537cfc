/**
 * One `send` call in flight: its messages may land in several batches (one per partition, or more
 * when a batch fills); the send resolves once every one of them is acknowledged, with the
 * metadata of each message in message order, and rejects with the first batch failure. A send
 * is not atomic: batches of other partitions may be written although the send rejects, as in Kafka.
 */
import type { RunnelError } from '../../common/errors.js';
import type { RecordMetadata } from './types.js';

export class SendTracker {
  readonly results: RecordMetadata[];
  readonly promise: Promise<RecordMetadata[]>;
  private pendingBatches = 0;
  private placed = false;
  private settled = false;
  private resolve!: (results: RecordMetadata[]) => void;
  private reject!: (err: RunnelError) => void;

  constructor(messageCount: number) {
    this.results = new Array<RecordMetadata>(messageCount);
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** One more batch holds messages of this send. */
  addBatch(): void {
    this.pendingBatches++;
  }

  /** Every message is in a batch: from now on the last batch to finish settles the send. */
  allPlaced(): void {
    this.placed = true;
    this.settleIfDone();
  }

  batchDone(): void {
    this.pendingBatches--;
    this.settleIfDone();
  }

  fail(err: RunnelError): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  private settleIfDone(): void {
    if (this.settled || !this.placed || this.pendingBatches > 0) return;
    this.settled = true;
    this.resolve(this.results);
  }
}
