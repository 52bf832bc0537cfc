/** Fetch: decode → validate → fetch.ts (long poll) → encode, per-partition errors inside. */
import type * as grpc from '@grpc/grpc-js';
import type { Broker } from '../broker.js';
import { fetch, offsetsFromError, type FetchRequestShape } from '../fetch.js';
import { errorMessage, unary, withCancelSignal } from './rpc.js';

export function fetchHandler(broker: Broker): grpc.handleUnaryCall<FetchRequestShape, unknown> {
  return unary(broker, 'Fetch', async (request: FetchRequestShape, call) => {
    const topics = await withCancelSignal(broker, call, (signal) => fetch(broker, request, signal, call.getPeer()));
    return {
      topics: topics.map(({ topic, partitions }) => ({
        topic,
        partitions: partitions.map((p) => ({ partition: p.partition, error: errorMessage(p.error), offsets: p.offsets ?? offsetsFromError(p.error), records: p.records, nextOffset: p.nextOffset })),
      })),
    };
  });
}
