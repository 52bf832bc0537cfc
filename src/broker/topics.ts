/**
 * Topic administration on the broker: create, delete, describe, alter configs, delete records.
 * The registry owns the metadata files; this keeps the broker's per-partition state in step.
 */
import { RunnelError } from '../common/errors.js';
import type { Broker } from './broker.js';
import { refuseInternalTopic } from './coordinator-host.js';
import { describeTopicSettings } from './topic-config.js';
import { partitionOffsets, readableEnd } from './watermarks.js';
import type { Topic } from './topic-registry.js';

/**
 * Topic deletes still in progress, per broker and name. A delete removes the name from the
 * registry first and then awaits the removal of each log; a create of the same name in that
 * window would get (idempotent createLog) an old log the delete then closes, or old data. So a
 * create waits for the delete of its name to finish.
 */
const deletesInProgress = new WeakMap<Broker, Map<string, Promise<void>>>();

function deletesOf(broker: Broker): Map<string, Promise<void>> {
  let deletes = deletesInProgress.get(broker);
  if (deletes === undefined) deletesInProgress.set(broker, (deletes = new Map<string, Promise<void>>()));
  return deletes;
}

/** `internal`: the broker itself creates a topic it owns (the coordinator's offsets topic). */
export async function createTopic(broker: Broker, name: string, partitions: number, configs: Record<string, string>, validateOnly = false, options: { internal?: boolean } = {}): Promise<Topic> {
  if (broker.isClosing) throw new RunnelError('BROKER_SHUTTING_DOWN');
  if (options.internal !== true) refuseInternalTopic(name, 'create');
  await deletesOf(broker).get(name);
  const topic = broker.topics.validateNew(name, partitions, configs);
  if (validateOnly) return topic;
  broker.topics.create(topic, broker.logs);
  await broker.attachPartitions(topic);
  broker.logger.info({ topic: name, partitions, configs }, 'created topic');
  broker.coordinatorOrNull?.onTopicsChanged([name]);
  return topic;
}

export async function deleteTopic(broker: Broker, name: string): Promise<void> {
  refuseInternalTopic(name, 'delete');
  const topic = broker.topics.require(name);
  broker.detachPartitions(topic);
  const deletes = deletesOf(broker);
  const deleting = removeTopic(broker, name);
  const settled = deleting.catch(() => undefined);
  deletes.set(name, settled);
  try {
    await deleting;
  } finally {
    if (deletes.get(name) === settled) deletes.delete(name);
  }
}

async function removeTopic(broker: Broker, name: string): Promise<void> {
  await broker.topics.delete(name, broker.logs);
  broker.logger.info({ topic: name }, 'deleted topic');
  await broker.coordinatorOrNull?.onTopicDeleted(name);
}

/** Grows a topic to `total` partitions; groups subscribed to it are reassigned. */
export async function createPartitions(broker: Broker, name: string, total: number, validateOnly: boolean): Promise<Topic> {
  if (broker.isClosing) throw new RunnelError('BROKER_SHUTTING_DOWN');
  refuseInternalTopic(name, 'add partitions to');
  const before = broker.topics.require(name).partitions;
  const topic = broker.topics.addPartitions(name, total, broker.logs, validateOnly);
  if (validateOnly) return topic;
  broker.refreshTopic(topic);
  await broker.attachPartitions(topic, before);
  broker.logger.info({ topic: name, partitions: total, before }, 'added partitions');
  broker.coordinatorOrNull?.onTopicsChanged([name]);
  return topic;
}

export function alterTopicConfigs(broker: Broker, name: string, changes: Record<string, string>, validateOnly: boolean): Topic {
  refuseInternalTopic(name, 'reconfigure');
  const topic = broker.topics.alterConfigs(name, changes, broker.logs, validateOnly);
  if (!validateOnly) broker.refreshTopic(topic);
  return topic;
}

export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  durableHighWatermark: number;
  logEndOffset: number;
  sizeBytes: number;
  segments: number;
}

export function describeTopic(broker: Broker, name: string): { topic: Topic; configs: Record<string, string>; partitions: PartitionDescription[] } {
  const topic = broker.topics.require(name);
  const partitions: PartitionDescription[] = [];
  for (let p = 0; p < topic.partitions; p++) {
    const target = broker.partition(name, p);
    const { log } = target;
    partitions.push({
      partition: p,
      ...partitionOffsets(target),
      sizeBytes: log.sizeBytes,
      segments: log.segmentCount,
    });
  }
  return { topic, configs: describeTopicSettings(topic.settings), partitions };
}

/** Kafka's DeleteRecords; -1 means up to the high watermark. Returns the new log start offset. */
export function deleteRecords(broker: Broker, topic: string, partitionIndex: number, beforeOffset: number): number {
  refuseInternalTopic(topic, 'delete records of');
  const partition = broker.partition(topic, partitionIndex);
  const highWatermark = readableEnd(partition);
  const target = beforeOffset === -1 ? highWatermark : beforeOffset;
  // Kafka's rule: never past what consumers may read (for durability all, what is fsynced).
  if (target > highWatermark && target <= partition.log.logEndOffset) {
    throw new RunnelError('OFFSET_OUT_OF_RANGE', `cannot delete records before ${target}: the high watermark is ${highWatermark}`, { topic, partition: partitionIndex });
  }
  const logStartOffset = broker.logs.deleteRecords(topic, partitionIndex, target);
  return logStartOffset;
}
