/**
 * ListOffsets (a Broker RPC, used by both Admin and Consumer): earliest, latest, or the first
 * offset at or after a time, per partition, with per-partition errors as RunnelErrors.
 */
import { errorFromMessage, type Connection } from '../connection.js';
import { requireInt, requireOffsetSpec, requireTopic } from './arguments.js';
import type { OffsetQuery, OffsetResult, OffsetSpec } from './types.js';
import type { WireListOffsetsRequest, WireListOffsetsResponse, WireOffsetSpec } from './wire.js';

const UNKNOWN_OFFSETS = { logStartOffset: -1, highWatermark: -1, logEndOffset: -1 };

function wireSpec(spec: OffsetSpec): { spec: WireOffsetSpec; timestampMs: number } {
  if (spec === 'earliest') return { spec: 'OFFSET_SPEC_EARLIEST', timestampMs: 0 };
  if (spec === 'latest') return { spec: 'OFFSET_SPEC_LATEST', timestampMs: 0 };
  return { spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: spec.timestampMs };
}

/** One result per query, in the order asked. */
export async function listOffsets(connection: Connection, queries: readonly OffsetQuery[], timeoutMs?: number): Promise<OffsetResult[]> {
  if (queries.length === 0) return [];
  const request: WireListOffsetsRequest = {
    partitions: queries.map((q, i) => ({
      topic: requireTopic(q.topic, `queries[${i}].topic`),
      partition: requireInt(q.partition, `queries[${i}].partition`),
      ...wireSpec(requireOffsetSpec(q.spec, `queries[${i}].spec`)),
    })),
  };
  const response = await connection.unary<WireListOffsetsResponse>('broker', 'listOffsets', request, timeoutMs);
  return response.partitions.map((p): OffsetResult => {
    const { topic, partition } = p;
    const error = errorFromMessage(p.error, { topic, partition });
    if (error !== null) return { topic, partition, error };
    const { logStartOffset, highWatermark, logEndOffset } = p.offsets ?? UNKNOWN_OFFSETS;
    const timestampMs = p.timestampMs < 0 ? null : p.timestampMs;
    return { topic, partition, error: null, offset: p.offset, timestampMs, logStartOffset, highWatermark, logEndOffset };
  });
}
