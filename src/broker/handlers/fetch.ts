/** Fetch: decode → validate → fetch.ts (long poll) → encode, per-partition errors inside. */
import type * as grpc from '@grpc/grpc-js';
import type { Broker } from '../broker.js';
import { fetch, type FetchRequestShape } from '../fetch.js';
import { cancelSignal, errorMessage, unary } from './rpc.js';

export function fetchHandler(broker: Broker): grpc.handleUnaryCall<FetchRequestShape, unknown> {
  return unary(broker, 'Fetch', async (request: FetchRequestShape, call) => {
    const topics = await fetch(broker, request, cancelSignal(broker, call));
    return {
      topics: topics.map(({ topic, partitions }) => ({
        topic,
        partitions: partitions.map((p) => ({ partition: p.partition, error: errorMessage(p.error), offsets: p.offsets ?? rangeOf(p.error), records: p.records, nextOffset: p.nextOffset })),
      })),
    };
  });
}

/** OFFSET_OUT_OF_RANGE carries the valid range, so a client can reset without another call. */
function rangeOf(err: { context: Record<string, unknown> } | null): { logStartOffset: number; highWatermark: number; logEndOffset: number } | null {
  const start = err?.context.logStartOffset;
  const end = err?.context.logEndOffset;
  return typeof start === 'number' && typeof end === 'number' ? { logStartOffset: start, highWatermark: end, logEndOffset: end } : null;
}
