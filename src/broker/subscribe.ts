/**
 * Subscribe: pushes whole stored batches of one or more partitions, from a start offset, as they
 * are appended. Flow control is the sink's: when `write` returns false (grpc-js's buffer is
 * full because the client reads slowly) the loop waits for `drained` before reading more, so a
 * slow subscriber costs at most about one message per partition of broker memory. Idle
 * partitions wait for appends (PartitionActivity), never poll.
 */
import { RunnelError, isRunnelError } from '../common/errors.js';
import type { Broker } from './broker.js';
import { countBatchesOut, offsetsFromError } from './fetch.js';
import { partitionKey } from './partition-activity.js';
import { readPartition } from './read-partition.js';
import { partitionOffsets, readableEnd, type PartitionOffsets } from './watermarks.js';

/** Start at the log end (new records only). */
export const START_LATEST = -1;
/** Start at the log start. */
export const START_EARLIEST = -2;
/** Longest idle wait before the loop looks again (a safety net; appends wake it at once). */
const IDLE_WAIT_MS = 30_000;

export interface SubscribeRequestShape {
  partitions: { topic: string; partition: number; startOffset: number }[];
  maxBytes: number;
}

export interface SubscribeMessage {
  topic: string;
  partition: number;
  records: Buffer;
  nextOffset: number;
  offsets: PartitionOffsets | null;
  error: RunnelError | null;
}

export interface SubscribeSink {
  /** Queues a message; false when the transport wants the writer to wait for `drained`. */
  write(message: SubscribeMessage): boolean;
  drained(signal: AbortSignal): Promise<void>;
}

interface Cursor {
  topic: string;
  partition: number;
  offset: number;
}

const EMPTY = Buffer.alloc(0);

/** `connection` names the client connection (its gRPC peer), for its share of subscribe streams. */
export async function subscribe(broker: Broker, request: SubscribeRequestShape, sink: SubscribeSink, signal: AbortSignal, connection: string): Promise<void> {
  const { limits } = broker.config;
  if (request.partitions.length === 0) throw new RunnelError('INVALID_ARGUMENT', 'subscribe to at least one partition');
  if (request.partitions.length > limits.maxPartitionsPerRequest) {
    throw new RunnelError('LIMIT_EXCEEDED', `${request.partitions.length} partitions in one subscription; at most ${limits.maxPartitionsPerRequest}`);
  }
  if (broker.openSubscriptions >= limits.maxSubscribeStreams) {
    throw new RunnelError('LIMIT_EXCEEDED', `the broker holds its maximum of ${limits.maxSubscribeStreams} subscribe streams`);
  }
  if (!broker.subscribeShares.tryTake(connection)) {
    throw new RunnelError('LIMIT_EXCEEDED', `this connection holds its maximum of ${limits.maxSubscribeStreamsPerConnection} subscribe streams (limits.maxSubscribeStreamsPerConnection)`);
  }
  const maxBytes = request.maxBytes === 0 ? limits.subscribeMaxBytes : Math.min(request.maxBytes, limits.subscribeMaxBytes);
  broker.openSubscriptions++;
  broker.metrics.subscribeStreams.inc();
  try {
    const cursors = openCursors(broker, request, sink);
    await pump(broker, cursors, maxBytes, sink, signal);
  } finally {
    broker.subscribeShares.release(connection);
    broker.openSubscriptions--;
    broker.metrics.subscribeStreams.dec();
  }
}

function openCursors(broker: Broker, request: SubscribeRequestShape, sink: SubscribeSink): Cursor[] {
  const cursors: Cursor[] = [];
  for (const { topic, partition, startOffset } of request.partitions) {
    try {
      const target = broker.partition(topic, partition);
      const offset = startOffset === START_LATEST ? readableEnd(target) : startOffset === START_EARLIEST ? target.log.logStartOffset : startOffset;
      cursors.push({ topic, partition, offset });
    } catch (err) {
      if (!isRunnelError(err)) throw err;
      sink.write({ topic, partition, records: EMPTY, nextOffset: startOffset, offsets: null, error: err });
    }
  }
  return cursors;
}

async function pump(broker: Broker, cursors: Cursor[], maxBytes: number, sink: SubscribeSink, signal: AbortSignal): Promise<void> {
  while (cursors.length > 0 && !signal.aborted && !broker.isClosing) {
    let sent = false;
    for (const cursor of [...cursors]) {
      const message = await nextMessage(broker, cursor, maxBytes);
      if (message === null) continue;
      if (message.error !== null) cursors.splice(cursors.indexOf(cursor), 1);
      else cursor.offset = message.nextOffset;
      sent = true;
      if (message.records.length > 0) countBatchesOut(broker, cursor.topic, message.records);
      if (!sink.write(message)) await sink.drained(signal);
      if (signal.aborted) return;
    }
    // Checked synchronously right before waiting, so an append during the reads is not missed.
    if (!sent && !cursors.some((c) => hasDataAfter(broker, c))) {
      await broker.activity.waitForAny(cursors.map((c) => partitionKey(c.topic, c.partition)), IDLE_WAIT_MS, signal);
    }
  }
}

/** The next message for a cursor: data, an error that ends this partition, or null (nothing new). */
async function nextMessage(broker: Broker, cursor: Cursor, maxBytes: number): Promise<SubscribeMessage | null> {
  const { topic, partition, offset } = cursor;
  try {
    const target = broker.partition(topic, partition);
    if (offset === readableEnd(target)) return null;
    const read = await readPartition(target, offset, maxBytes);
    if (read.bytes.length === 0) return null;
    const offsets = partitionOffsets(target);
    return { topic, partition, records: read.bytes, nextOffset: read.nextOffset, offsets, error: null };
  } catch (err) {
    if (!isRunnelError(err)) throw err;
    return { topic, partition, records: EMPTY, nextOffset: offset, offsets: offsetsFromError(err), error: err };
  }
}

function hasDataAfter(broker: Broker, cursor: Cursor): boolean {
  try {
    return readableEnd(broker.partition(cursor.topic, cursor.partition)) > cursor.offset;
  } catch {
    return true; // gone: the next round reports it
  }
}
