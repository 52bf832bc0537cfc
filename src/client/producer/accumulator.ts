/**
 * Gathers records into one open batch per partition. A batch is sealed (queued for sending) when
 * the next record would grow it past `batchBytes` (a record larger than that gets a batch of its
 * own), when it has waited `lingerMs`, or on flush. Sealing a batch of a topic's sticky partition
 * moves the topic's unkeyed records to another partition (KIP-480).
 *
 * The hot path (`append`) does per record: one partition choice, one array lookup, one push.
 */
import type { SendTracker } from './send-tracker.js';
import { ProducerBatch } from './batch.js';
import type { PreparedRecord } from './message.js';
import { PartitionState } from './partition-state.js';
import type { Partitioner } from './partitioner.js';
import type { Acks } from './types.js';

interface TopicState {
  partitionCount: number;
  partitions: PartitionState[];
}

export class Accumulator {
  private readonly topics = new Map<string, TopicState>();
  /** Partitions with an open batch, oldest open batch first. */
  private readonly lingering = new Set<PartitionState>();

  constructor(
    private readonly batchBytes: number,
    private readonly partitioner: Partitioner,
    /** A batch was sealed into the partition's queue. */
    private readonly onSealed: (state: PartitionState) => void,
    /** A new batch was opened; it will be due for sealing at `dueAtMs`. */
    private readonly onOpened: (batch: ProducerBatch, dueAtMs: number) => void,
    private readonly lingerMs: () => number,
  ) {}

  /** Places every record of one send; synchronous, so a send's records of a partition stay together. */
  append(topic: string, partitionCount: number, records: readonly PreparedRecord[], tracker: SendTracker, acks: Acks, nowMs: number): void {
    const topicState = this.topicState(topic, partitionCount);
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      let partition = record.partition;
      if (partition < 0) partition = record.key !== null ? this.partitioner.forKey(record.key, partitionCount) : this.stickyPartition(topicState, topic, record, acks);
      const state = (topicState.partitions[partition] ??= new PartitionState(topic, partition));
      this.appendTo(state, record, tracker, i, acks, nowMs);
    }
    tracker.allPlaced();
  }

  /**
   * Seals open batches that have lingered `lingerMs`; returns when the next one will be due. A
   * due batch of a partition that still has sealed batches waiting to be sent stays open and
   * keeps gathering records (up to batchBytes), as Kafka's accumulator does: sealing it would
   * only queue one more small request behind the full window, and under a steady load with
   * lingerMs 0 the queue would fill with one-record batches and latency would grow with it. The
   * sender seals it once the queue has drained (its next run after an answer).
   */
  sealDue(nowMs: number): number {
    const lingerMs = this.lingerMs();
    for (const state of this.lingering) {
      const dueMs = state.open!.createdAtMs + lingerMs;
      // Insertion order is age order: the first not due has the earliest deadline left.
      if (dueMs > nowMs) return dueMs;
      if (state.queue.length > 0) continue;
      this.seal(state);
    }
    return Infinity;
  }

  sealAll(): void {
    for (const state of this.lingering) this.seal(state);
  }

  private topicState(topic: string, partitionCount: number): TopicState {
    let topicState = this.topics.get(topic);
    if (topicState === undefined) {
      topicState = { partitionCount, partitions: [] };
      this.topics.set(topic, topicState);
    }
    topicState.partitionCount = partitionCount;
    return topicState;
  }

  /** The sticky partition; if the record would not fit its open batch, the batch is sealed first and a new partition chosen, as Kafka does. */
  private stickyPartition(topicState: TopicState, topic: string, record: PreparedRecord, acks: Acks): number {
    const partition = this.partitioner.stickyPartition(topic, topicState.partitionCount);
    const state = topicState.partitions[partition];
    if (state !== undefined && state.open !== null && !this.fits(state.open, record, acks)) {
      this.seal(state);
      return this.partitioner.stickyPartition(topic, topicState.partitionCount);
    }
    return partition;
  }

  private fits(batch: ProducerBatch, record: PreparedRecord, acks: Acks): boolean {
    return batch.acks === acks && batch.sizeBytes + record.sizeBytes <= this.batchBytes;
  }

  private appendTo(state: PartitionState, record: PreparedRecord, tracker: SendTracker, index: number, acks: Acks, nowMs: number): void {
    if (state.open !== null && !this.fits(state.open, record, acks)) this.seal(state);
    let batch = state.open;
    if (batch === null) {
      batch = state.open = new ProducerBatch(state.topic, state.partition, acks, nowMs);
      this.lingering.add(state);
      this.onOpened(batch, nowMs + this.lingerMs());
    }
    batch.add(record, tracker, index);
    if (batch.sizeBytes >= this.batchBytes) this.seal(state);
  }

  private seal(state: PartitionState): void {
    const batch = state.open;
    if (batch === null) return;
    state.open = null;
    this.lingering.delete(state);
    state.queue.push(batch);
    const topicState = this.topics.get(state.topic);
    if (topicState !== undefined) this.partitioner.batchCompleted(state.topic, state.partition, topicState.partitionCount);
    this.onSealed(state);
  }
}
