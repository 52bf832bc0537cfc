/** Topic names and partition numbers as Kafka allows them; shared by broker, storage and client. */
import { RunnelError } from './errors.js';

export const TOPIC_NAME_MAX_LENGTH = 249;
/** Partitions of one topic; a bound so a typo cannot create a million directories. */
export const PARTITIONS_MAX = 10_000;
const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]+$/;

export function validateTopicName(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new RunnelError('INVALID_TOPIC_NAME', 'topic name must be a non-empty string');
  }
  if (topic.length > TOPIC_NAME_MAX_LENGTH) {
    throw new RunnelError('INVALID_TOPIC_NAME', `topic name is ${topic.length} characters, at most ${TOPIC_NAME_MAX_LENGTH} are allowed`, { topic: topic.slice(0, 40) });
  }
  if (topic === '.' || topic === '..') throw new RunnelError('INVALID_TOPIC_NAME', `topic name cannot be "${topic}"`, { topic });
  if (!TOPIC_NAME_PATTERN.test(topic)) {
    throw new RunnelError('INVALID_TOPIC_NAME', `topic name "${topic}" may only contain ASCII letters, digits, '.', '_' and '-'`, { topic });
  }
}

export function validatePartition(topic: string, partition: unknown, partitionCount = PARTITIONS_MAX): asserts partition is number {
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
    throw new RunnelError('UNKNOWN_PARTITION', `partition ${String(partition)} is not in 0..${partitionCount - 1}`, {
      topic,
      partition: typeof partition === 'number' ? partition : undefined,
    });
  }
}
