/**
 * What the Consumer takes and yields.
 *
 * Messages: `key` is always bytes (or null); `value` is bytes unless the consumer has a
 * deserializer (a null value, a tombstone, stays null). `headers` is an object (null prototype)
 * by header key; Kafka allows a key to repeat, and then the last value wins. Keys, values and
 * header values are views into the received response: copy one before keeping it for long if
 * memory matters (a view pins its whole response, at most `maxBytes`).
 */
import type { OffsetSpec, TopicPartition } from '../admin/types.js';

export type { TopicPartition } from '../admin/types.js';

/**
 * Where to start reading a partition: an offset (exactly that record, even in the middle of a
 * batch), the log start ('earliest'), the log end ('latest': only records appended after the
 * call), or the first record whose timestamp is at or after `timestampMs`.
 */
export type StartFrom = number | OffsetSpec;

export interface PartitionAssignment extends TopicPartition {
  /**
   * Where to start. Omitted: a partition already assigned keeps its position; a new one starts
   * at 'latest'.
   */
  from?: StartFrom;
}

/** One partition, or (without `partition`) every assigned partition of the topic. */
export interface PartitionSelector {
  topic: string;
  partition?: number;
}

export type ConsumerHeaders = Readonly<Record<string, Buffer | null>>;

export interface ConsumerMessage<V = Buffer> {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: V | null;
  headers: ConsumerHeaders;
}

/** Consecutive messages of one partition, as they arrived. */
export interface ConsumerBatch<V = Buffer> {
  topic: string;
  partition: number;
  messages: ConsumerMessage<V>[];
  /** The partition's high watermark as last heard from the broker. */
  highWatermark: number;
  /** highWatermark - position after this batch: records still to read. */
  lag: number;
}

export interface PartitionLag extends TopicPartition {
  /** Offset of the next record the application gets. */
  position: number;
  highWatermark: number;
  /** highWatermark - position, never below 0. */
  lag: number;
}

/** How messages reach the consumer: pushed by a Subscribe stream, or pulled by long-poll Fetch. */
export type Transport = 'subscribe' | 'fetch';
