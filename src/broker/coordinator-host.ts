/**
 * What the broker gives its group coordinator (src/coordinator knows no broker code): the
 * internal `__consumer_offsets` topic over the broker's logs, and a read-only view of topics
 * and their offsets. The rule that clients may read the internal topic but never write, delete
 * or reconfigure it lives in reserved-topics.ts (with the other names Runnel owns).
 */
import { GroupCoordinator, type TopicView } from '../coordinator/coordinator.js';
import { OFFSETS_TOPIC, type OffsetLog } from '../coordinator/offset-store.js';
import { offsetForTimestamp } from '../storage/timestamp-lookup.js';
import type { Broker } from './broker.js';
import { refuseReservedTopic } from './reserved-topics.js';
import { createTopic } from './topics.js';
import { partitionOffsets, readableEnd } from './watermarks.js';

/** Chunk size of the offsets topic's replay at start-up. */
const REPLAY_CHUNK_BYTES = 4 * 1024 * 1024;
/** Kafka's offsets.topic.segment.bytes: small segments, so compaction has sealed ones to clean. */
const OFFSETS_SEGMENT_BYTES = 100 * 1024 * 1024;

export function createCoordinator(broker: Broker): GroupCoordinator {
  const config = { ...broker.config.groups, maxPartitionsPerRequest: broker.config.limits.maxPartitionsPerRequest };
  return new GroupCoordinator(config, topicView(broker), offsetLog(broker), broker.logger.child({ component: 'coordinator' }));
}

/** Kept under its old name for the produce path: see reserved-topics.ts. */
export const refuseInternalTopic = refuseReservedTopic;

function topicView(broker: Broker): TopicView {
  return {
    partitionCount: (topic) => broker.topics.get(topic)?.partitions,
    offsets: (topic, partition) => {
      try {
        const { logStartOffset, highWatermark } = partitionOffsets(broker.partition(topic, partition));
        return { logStartOffset, highWatermark };
      } catch {
        return undefined;
      }
    },
    offsetForTimestamp: async (topic, partition, timestampMs) => {
      const target = broker.partition(topic, partition);
      const readable = readableEnd(target);
      return Math.min((await offsetForTimestamp(target.log, timestampMs))?.offset ?? readable, readable);
    },
  };
}

function offsetLog(broker: Broker): OffsetLog {
  return {
    partitionCount: () => broker.topics.get(OFFSETS_TOPIC)?.partitions ?? null,
    create: async (partitions) => {
      const existing = broker.topics.get(OFFSETS_TOPIC);
      if (existing !== undefined) return existing.partitions;
      const configs = { cleanupPolicy: 'compact', durability: 'all', segmentBytes: String(OFFSETS_SEGMENT_BYTES), retentionMs: '-1' };
      const topic = await createTopic(broker, OFFSETS_TOPIC, partitions, configs, false, { internal: true });
      return topic.partitions;
    },
    appendDurable: async (partitionIndex, batch) => {
      const partition = broker.partition(OFFSETS_TOPIC, partitionIndex);
      const result = await partition.log.append(batch, { durable: true });
      partition.recent.add(result.baseOffset, result.lastOffset, batch);
      broker.activity.notify(OFFSETS_TOPIC, partitionIndex);
    },
    read: (partitionIndex) => readAll(broker, partitionIndex),
    fileOf: (partitionIndex, offset) => broker.partition(OFFSETS_TOPIC, partitionIndex).log.segmentFileFor(offset),
  };
}

async function* readAll(broker: Broker, partitionIndex: number): AsyncIterable<Buffer> {
  const { log } = broker.partition(OFFSETS_TOPIC, partitionIndex);
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, REPLAY_CHUNK_BYTES);
    if (result.bytes.length === 0) return;
    yield result.bytes;
    offset = result.nextOffset;
  }
}
