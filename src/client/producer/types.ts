/**
 * The producer's public types: what `send` takes and what it resolves with. Options are in
 * options.ts.
 */

/**
 * How much durability a send waits for (proto `Acks`):
 * - 'none': resolves once the batch is written to the connection, offsets -1 (unknown); failures
 *   are not reported to the send (as Kafka's acks=0).
 * - 'leader': resolves once the broker appended the records to its log.
 * - 'all': resolves once they are appended and fsynced (on one broker; every in-sync replica later).
 */
export type Acks = 'none' | 'leader' | 'all';

export type Compression = 'none' | 'lz4';

/** A header value: text is written as UTF-8, bytes as they are, null as a null value. */
export type HeaderValue = string | Buffer | Uint8Array | null;

/** Headers as an object (one value per name) or as a list (repeated names allowed, order kept). */
export type MessageHeaders = Readonly<Record<string, HeaderValue>> | readonly { readonly key: string; readonly value: HeaderValue }[];

export interface ProducerMessage {
  /**
   * Buffers and strings (UTF-8) pass through; null or absent is no key (sticky partitioning);
   * anything else goes through the producer's serializer.
   */
  readonly key?: unknown;
  /**
   * Required; null is a tombstone. Same rules as `key`. A Buffer is not copied: it is read when
   * its batch is first sent, so do not modify it until the send settles.
   */
  readonly value: unknown;
  readonly headers?: MessageHeaders;
  /** Explicit partition; else the key's (Kafka's murmur2 partitioner), else the sticky one. */
  readonly partition?: number;
  /** Record timestamp, ms since the epoch; defaults to the time of `send`. */
  readonly timestampMs?: number;
}

export interface SendRequest {
  readonly topic: string;
  readonly messages: readonly ProducerMessage[];
  /** Overrides the producer's `acks` for this send. */
  readonly acks?: Acks;
}

/** Where one message was written; `send` resolves with one per message, in message order. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks 'none'. */
  offset: number;
  /** The record's timestamp (create time). */
  timestampMs: number;
}

/** Counters since the producer was created, and what it holds now. */
export interface ProducerStats {
  /** Records acknowledged by the broker. */
  records: number;
  /** Batches acknowledged by the broker. */
  batches: number;
  /** Produce requests written to the broker (first sends and retries). */
  requests: number;
  /** Batches sent again after a retriable error or a broken stream. */
  retries: number;
  /** Retried batches the broker had already appended and answered as duplicates. */
  duplicates: number;
  /** Bytes accounted against `bufferBytes`: buffered and in flight. */
  bufferedBytes: number;
  /** Bytes of sends waiting for room in the buffer. */
  waitingBytes: number;
  inFlightRequests: number;
  /** ProduceStreams opened (the first one and each reopening after a break). */
  streamsOpened: number;
}
