/**
 * The produce path for one partition: split the bytes into batches and check each (size, length,
 * magic, CRC, codec, record count, record walk: once, see CheckedBatch), check producer fields
 * and idempotent sequences, append, wake readers, and wait for durability when asked. Records
 * are walked, never decoded into objects. Every batch of a partition is checked (bytes, CRC,
 * records, timestamps, producer fields) before the first is appended, so a malformed batch stores nothing; sequence checks run batch by batch,
 * so an out-of-order batch after good ones keeps the good ones (a retry finds them as
 * duplicates).
 */
import { RunnelError } from '../common/errors.js';
import { Attr, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES, Pos, readBatchSize } from '../format/batch-header.js';
import { CheckedBatch } from '../storage/checked-batch.js';
import type { Broker, Partition } from './broker.js';
import { refuseInternalTopic } from './coordinator-host.js';
import { validateProducerFields, type ProducerFields } from './producer-state.js';
import { applyTimestampPolicy } from './timestamp-policy.js';
import { createTopic } from './topics.js';

export type Acks = 'none' | 'leader' | 'all';

export interface ProduceOutcome {
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  /** True when every batch was a retried duplicate. */
  duplicate: boolean;
}

/** What an append left to do: wait for its durability, then answer. */
export interface AppendedPartition {
  partition: Partition;
  outcome: ProduceOutcome;
}

/**
 * Checks and appends one partition's batches. Asynchronous only when it auto-creates the topic;
 * the append itself is synchronous, so callers that chain calls keep the order of appends.
 */
export async function appendPartition(broker: Broker, topic: string, partitionIndex: number, records: Buffer): Promise<AppendedPartition> {
  refuseInternalTopic(topic, 'produce to');
  const partition = await partitionForProduce(broker, topic, partitionIndex);
  const context = { topic, partition: partitionIndex };
  const nowMs = Date.now();
  const policy = partition.topic.settings.timestamps;
  const batches = splitBatches(records, partition.log.config.maxBatchBytes, context).map((batch) => applyTimestampPolicy(batch, policy, nowMs, context));
  for (const batch of batches) {
    const fields = producerFields(batch);
    if (!validateProducerFields(fields)) continue;
    if (!broker.producerIds.isKnown(fields.producerId)) {
      throw new RunnelError('UNKNOWN_PRODUCER_ID', `producer id ${fields.producerId} was not allocated by this broker (InitProducerId)`, context);
    }
  }
  return { partition, outcome: appendBatches(broker, partition, batches) };
}

/** Resolves when the append is as durable as `acks` and the topic's durability ask. */
export async function awaitAcks({ partition, outcome }: AppendedPartition, acks: Acks): Promise<void> {
  if (acks !== 'all' && partition.topic.settings.durability !== 'all') return;
  // A duplicate's offsets may predate a truncation; never wait past the log end.
  await partition.log.waitDurable(Math.min(outcome.lastOffset + 1, partition.log.logEndOffset));
}

/** The partition, creating its topic first when auto-creation is on. */
async function partitionForProduce(broker: Broker, topic: string, partition: number): Promise<Partition> {
  if (broker.config.autoCreateTopics && broker.topics.get(topic) === undefined && !broker.isClosing) {
    await createTopic(broker, topic, broker.config.defaultPartitions, {});
  }
  return broker.partition(topic, partition);
}

/** Splits a partition's records into checked batches; throws on the first bad one. */
export function splitBatches(records: Buffer, maxBatchBytes: number, context: { topic: string; partition: number }): CheckedBatch[] {
  if (records.length === 0) throw new RunnelError('INVALID_ARGUMENT', 'no records', context);
  const batches: CheckedBatch[] = [];
  for (let pos = 0; pos < records.length; ) {
    if (records.length - pos < BATCH_LENGTH_PREFIX_BYTES) throw corrupt('short-buffer', `${records.length - pos} trailing bytes`, context);
    const sizeBytes = readBatchSize(records, pos);
    if (sizeBytes < BATCH_HEADER_BYTES) throw corrupt('length-mismatch', `batch length field says ${sizeBytes} bytes`, context);
    if (sizeBytes > records.length - pos) throw corrupt('short-buffer', `batch of ${sizeBytes} bytes, ${records.length - pos} sent`, context);
    const checked = CheckedBatch.check(records.subarray(pos, pos + sizeBytes), maxBatchBytes, context);
    const attributes = checked.bytes.readInt16BE(Pos.attributes);
    if ((attributes & (Attr.transactional | Attr.control)) !== 0) {
      throw new RunnelError('INVALID_PRODUCER_FIELDS', 'transactional and control batches are not supported', context);
    }
    batches.push(checked);
    pos += sizeBytes;
  }
  return batches;
}

function corrupt(reason: string, detail: string, context: { topic: string; partition: number }): RunnelError {
  return new RunnelError('CORRUPT_BATCH', detail, { ...context, reason });
}

function producerFields(batch: CheckedBatch): ProducerFields {
  const bytes = batch.bytes;
  return {
    producerId: Number(bytes.readBigInt64BE(Pos.producerId)),
    producerEpoch: bytes.readInt16BE(Pos.producerEpoch),
    baseSequence: bytes.readInt32BE(Pos.baseSequence),
    lastOffsetDelta: batch.lastOffsetDelta,
  };
}

/**
 * Appends the batches in order. A retried duplicate is not appended again: it is answered with
 * the offsets it got the first time. Synchronous: no other append interleaves.
 */
function appendBatches(broker: Broker, partition: Partition, batches: CheckedBatch[]): ProduceOutcome {
  const { log, producers, recent, topic } = partition;
  let first: { baseOffset: number; logAppendTimeMs: number } | null = null;
  let lastOffset = -1;
  let appended = 0;
  let bytes = 0;
  let records = 0;
  try {
    for (const batch of batches) {
      const fields = producerFields(batch);
      const verdict = producers.check(fields);
      if (verdict.kind === 'duplicate') {
        broker.metrics.duplicates.inc();
        first ??= { baseOffset: verdict.baseOffset, logAppendTimeMs: verdict.appendTimeMs };
        lastOffset = verdict.lastOffset;
        continue;
      }
      const result = log.appendCheckedSync(batch, { logAppendTime: topic.settings.timestamps.type === 'LogAppendTime' });
      if (verdict.kind === 'append') producers.record(fields, result.baseOffset, result.lastOffset, result.logAppendTimeMs);
      recent.add(result.baseOffset, result.lastOffset, batch.bytes);
      first ??= result;
      lastOffset = result.lastOffset;
      appended++;
      bytes += batch.bytes.length;
      records += batch.bytes.readInt32BE(Pos.recordCount);
    }
  } finally {
    // Also when a later batch fails (a sequence error, a storage error): what was appended is
    // in the log, and parked readers must not sleep through it.
    if (appended > 0) {
      broker.activity.notify(topic.name, log.partition);
      broker.metrics.bytesIn.inc({ topic: topic.name }, bytes);
      broker.metrics.recordsIn.inc({ topic: topic.name }, records);
    }
  }
  return { baseOffset: first!.baseOffset, lastOffset, logAppendTimeMs: first!.logAppendTimeMs, logStartOffset: log.logStartOffset, duplicate: appended === 0 };
}
