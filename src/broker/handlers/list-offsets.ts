/** ListOffsets: earliest, latest, or the first offset at or after a time, per partition. */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import { offsetForTimestamp } from '../../storage/timestamp-lookup.js';
import type { Broker } from '../broker.js';
import { partitionOffsets } from '../watermarks.js';
import { asRunnelError, errorMessage, unary } from './rpc.js';

interface ListOffsetsRequest {
  partitions: { topic: string; partition: number; spec: string; timestampMs: number }[];
}

export function listOffsetsHandler(broker: Broker): grpc.handleUnaryCall<ListOffsetsRequest, unknown> {
  return unary(broker, 'ListOffsets', async (request: ListOffsetsRequest) => {
    const max = broker.config.limits.maxPartitionsPerRequest;
    if (request.partitions.length > max) throw new RunnelError('LIMIT_EXCEEDED', `${request.partitions.length} partitions in one request; at most ${max}`);
    const partitions = [];
    for (const wanted of request.partitions) partitions.push(await listOne(broker, wanted));
    return { partitions };
  });
}

async function listOne(broker: Broker, wanted: ListOffsetsRequest['partitions'][number]): Promise<unknown> {
  const { topic, partition, spec, timestampMs } = wanted;
  try {
    const target = broker.partition(topic, partition);
    const { log } = target;
    const offsets = partitionOffsets(target);
    if (spec === 'OFFSET_SPEC_EARLIEST') return { topic, partition, error: null, offset: log.logStartOffset, timestampMs: -1, offsets };
    // Latest is the readable end: for `durability: all` topics, the durable high watermark.
    if (spec === 'OFFSET_SPEC_LATEST') return { topic, partition, error: null, offset: offsets.highWatermark, timestampMs: -1, offsets };
    if (spec !== 'OFFSET_SPEC_TIMESTAMP') throw new RunnelError('INVALID_ARGUMENT', `unknown offset spec ${spec}`);
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new RunnelError('INVALID_ARGUMENT', `timestampMs must be >= 0, got ${timestampMs}`);
    const found = await offsetForTimestamp(log, timestampMs);
    if (found === null || found.offset >= offsets.highWatermark) return { topic, partition, error: null, offset: offsets.highWatermark, timestampMs: -1, offsets };
    return { topic, partition, error: null, offset: found.offset, timestampMs: found.timestampMs, offsets };
  } catch (err) {
    return { topic, partition, error: errorMessage(asRunnelError(broker, err, 'ListOffsets')), offset: -1, timestampMs: -1, offsets: null };
  }
}
