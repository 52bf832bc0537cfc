/**
 * Checking assignments and turning each `from` into an offset. One ListOffsets call resolves a
 * whole assign() (and tells the high watermark for lag, and that the partition exists): an
 * offset is taken as given (the broker reports OFFSET_OUT_OF_RANGE later if it is outside the
 * log, and autoOffsetReset decides), a time becomes the first offset at or after it.
 */
import { invalidArgument, requireArray, requireInt, requireOffsetSpec, requireTopic } from '../admin/arguments.js';
import { listOffsets } from '../admin/list-offsets.js';
import type { WireOffsets } from '../admin/wire.js';
import type { Connection } from '../connection.js';
import { partitionKey } from './partition-state.js';
import type { PartitionAssignment, StartFrom, TopicPartition } from './types.js';

export interface CheckedAssignment extends TopicPartition {
  key: string;
  from: StartFrom | undefined;
}

export interface ResolvedStart extends TopicPartition {
  key: string;
  offset: number;
  offsets: WireOffsets;
}

export function checkStartFrom(from: unknown, what = 'from'): StartFrom {
  return typeof from === 'number' ? requireInt(from, what) : requireOffsetSpec(from, what);
}

export function checkAssignments(assignments: readonly PartitionAssignment[]): CheckedAssignment[] {
  const seen = new Set<string>();
  return requireArray(assignments, 'assignments').map((a, i) => {
    const topic = requireTopic(a.topic, `assignments[${i}].topic`);
    const partition = requireInt(a.partition, `assignments[${i}].partition`);
    const key = partitionKey(topic, partition);
    if (seen.has(key)) throw invalidArgument(`${topic}/${partition} is assigned twice`, { topic, partition });
    seen.add(key);
    return { topic, partition, key, from: a.from === undefined ? undefined : checkStartFrom(a.from, `assignments[${i}].from`) };
  });
}

/** The start offset of each partition, in order; throws the first partition's error (UNKNOWN_TOPIC...). */
export async function resolveStarts(connection: Connection, wanted: readonly (TopicPartition & { from: StartFrom })[]): Promise<ResolvedStart[]> {
  const queries = wanted.map(({ topic, partition, from }) => ({ topic, partition, spec: typeof from === 'number' ? ('latest' as const) : from }));
  const results = await listOffsets(connection, queries);
  return results.map((result, i) => {
    if (result.error !== null) throw result.error;
    const { topic, partition, logStartOffset, highWatermark, logEndOffset } = result;
    const from = wanted[i]!.from;
    const offset = typeof from === 'number' ? from : result.offset;
    return { topic, partition, key: partitionKey(topic, partition), offset, offsets: { logStartOffset, highWatermark, logEndOffset } };
  });
}
