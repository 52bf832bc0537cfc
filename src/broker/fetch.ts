/**
 * Fetch: reads whole stored batches from one or more partitions, long-polling up to
 * `maxWaitMs` until `minBytes` are available. A parked fetch is woken by appends to its
 * partitions (PartitionActivity), never by a polling loop, and the number parked at once is
 * bounded (`maxParkedFetches`). Errors are per partition: one bad partition does not fail the
 * others.
 */
import { systemMonotonicClock } from '../common/clock.js';
import { RunnelError, isRunnelError } from '../common/errors.js';
import { BATCH_HEADER_BYTES, readBatchSize } from '../format/batch-header.js';
import type { Broker } from './broker.js';
import { partitionKey } from './partition-activity.js';
import { readPartition } from './read-partition.js';
import { partitionOffsets, readableEnd, type PartitionOffsets } from './watermarks.js';

export interface FetchPartitionRequest {
  partition: number;
  fetchOffset: number;
  maxBytes: number;
}

export interface FetchRequestShape {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  topics: { topic: string; partitions: FetchPartitionRequest[] }[];
}

export interface FetchPartitionResult {
  partition: number;
  error: RunnelError | null;
  offsets: PartitionOffsets | null;
  records: Buffer;
  nextOffset: number;
}

export interface FetchTopicResult {
  topic: string;
  partitions: FetchPartitionResult[];
}

const EMPTY = Buffer.alloc(0);

/** `connection` names the client connection (its gRPC peer), for its share of parked fetches. */
export async function fetch(broker: Broker, request: FetchRequestShape, signal: AbortSignal, connection: string): Promise<FetchTopicResult[]> {
  const { limits } = broker.config;
  const wanted = request.topics.reduce((n, t) => n + t.partitions.length, 0);
  if (wanted > limits.maxPartitionsPerRequest) {
    throw new RunnelError('LIMIT_EXCEEDED', `${wanted} partitions in one fetch; at most ${limits.maxPartitionsPerRequest}`);
  }
  // Out-of-range sizes are clamped to the broker's limits, as Kafka clamps fetch sizes.
  const maxBytes = request.maxBytes === 0 ? limits.fetchMaxBytes : Math.min(request.maxBytes, limits.fetchMaxBytes);
  // A duration: on the monotonic clock, so a wall-clock step neither ends nor stretches the wait.
  const deadlineMs = systemMonotonicClock.monotonicMs() + Math.min(request.maxWaitMs, limits.fetchWaitMsMax);
  const keys = request.topics.flatMap((t) => t.partitions.map((p) => partitionKey(t.topic, p.partition)));
  let parked = false;
  try {
    for (;;) {
      const results = await readAll(broker, request, maxBytes);
      const { bytes, errors } = tally(results);
      const waitMs = deadlineMs - systemMonotonicClock.monotonicMs();
      if (bytes >= request.minBytes || errors > 0 || waitMs <= 0 || signal.aborted || broker.isClosing) return countOut(broker, results);
      if (!parked) {
        if (broker.parkedFetches >= limits.maxParkedFetches) {
          throw new RunnelError('LIMIT_EXCEEDED', `the broker holds its maximum of ${limits.maxParkedFetches} waiting fetches`);
        }
        if (!broker.parkedFetchShares.tryTake(connection)) {
          throw new RunnelError('LIMIT_EXCEEDED', `this connection holds its maximum of ${limits.maxParkedFetchesPerConnection} waiting fetches (limits.maxParkedFetchesPerConnection)`);
        }
        parked = true;
        broker.parkedFetches++;
        broker.metrics.parkedFetches.inc();
      }
      // Checked synchronously right before waiting, so an append during the reads is not missed.
      if (!appendedSince(broker, results)) await broker.activity.waitForAny(keys, waitMs, signal);
    }
  } finally {
    if (parked) {
      broker.parkedFetchShares.release(connection);
      broker.parkedFetches--;
      broker.metrics.parkedFetches.dec();
    }
  }
}

async function readAll(broker: Broker, request: FetchRequestShape, maxBytes: number): Promise<FetchTopicResult[]> {
  let remaining = maxBytes;
  const topics: FetchTopicResult[] = [];
  for (const { topic, partitions } of request.topics) {
    const results: FetchPartitionResult[] = [];
    for (const wanted of partitions) {
      const result = await readOne(broker, topic, wanted, remaining, remaining === maxBytes);
      remaining -= result.records.length;
      results.push(result);
    }
    topics.push({ topic, partitions: results });
  }
  return topics;
}

/** One partition's share: at most its own maxBytes and what the response has left. */
async function readOne(broker: Broker, topic: string, wanted: FetchPartitionRequest, remainingBytes: number, first: boolean): Promise<FetchPartitionResult> {
  const { partition, fetchOffset } = wanted;
  let offsets: PartitionOffsets | null = null;
  try {
    const target = broker.partition(topic, partition);
    offsets = partitionOffsets(target);
    const limit = Math.min(wanted.maxBytes === 0 ? remainingBytes : wanted.maxBytes, remainingBytes);
    if (limit <= 0 && !first) return { partition, error: null, offsets, records: EMPTY, nextOffset: fetchOffset };
    const read = await readPartition(target, fetchOffset, Math.max(limit, 1));
    // Only the response's first batch may exceed what is left of maxBytes (Kafka's KIP-74).
    if (!first && read.bytes.length > remainingBytes) return { partition, error: null, offsets, records: EMPTY, nextOffset: fetchOffset };
    return { partition, error: null, offsets, records: read.bytes, nextOffset: read.nextOffset };
  } catch (err) {
    if (!isRunnelError(err)) throw err;
    return { partition, error: err, offsets, records: EMPTY, nextOffset: fetchOffset };
  }
}

function appendedSince(broker: Broker, topics: FetchTopicResult[]): boolean {
  for (const t of topics) {
    for (const p of t.partitions) {
      try {
        if (p.offsets !== null && readableEnd(broker.partition(t.topic, p.partition)) > p.offsets.highWatermark) return true;
      } catch {
        return true;
      }
    }
  }
  return false;
}

/**
 * OFFSET_OUT_OF_RANGE carries the valid range, so a client can reset without another call (the
 * durable high watermark is not in it: -1).
 */
export function offsetsFromError(err: RunnelError | null): PartitionOffsets | null {
  const start = err?.context.logStartOffset;
  const end = err?.context.logEndOffset;
  return typeof start === 'number' && typeof end === 'number' ? { logStartOffset: start, highWatermark: end, durableHighWatermark: -1, logEndOffset: end } : null;
}

function tally(topics: FetchTopicResult[]): { bytes: number; errors: number } {
  let bytes = 0;
  let errors = 0;
  for (const t of topics) {
    for (const p of t.partitions) {
      bytes += p.records.length;
      if (p.error !== null) errors++;
    }
  }
  return { bytes, errors };
}

function countOut(broker: Broker, topics: FetchTopicResult[]): FetchTopicResult[] {
  for (const t of topics) {
    for (const p of t.partitions) if (p.records.length > 0) countBatchesOut(broker, t.topic, p.records);
  }
  return topics;
}

/** Bytes and batches sent, for metrics: walks batch lengths only. */
export function countBatchesOut(broker: Broker, topic: string, records: Buffer): void {
  let batches = 0;
  for (let pos = 0; pos + BATCH_HEADER_BYTES <= records.length; batches++) {
    const sizeBytes = readBatchSize(records, pos);
    if (sizeBytes < BATCH_HEADER_BYTES) break; // never stored so; guards the loop's progress
    pos += sizeBytes;
  }
  broker.metrics.bytesOut.inc({ topic }, records.length);
  broker.metrics.batchesOut.inc({ topic }, batches);
}
