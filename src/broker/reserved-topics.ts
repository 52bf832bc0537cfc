/**
 * Topic names Runnel owns: clients may read these topics but never create, write, delete or
 * reconfigure them. Exactly Kafka's own internal names plus one prefix of ours, and nothing
 * else: Kafka tools create their own `__` topics (Debezium's `__debezium-heartbeat.<server>`),
 * and those are ordinary topics here, as in Kafka.
 */
import { RunnelError } from '../common/errors.js';
import { OFFSETS_TOPIC } from '../coordinator/offset-store.js';

/** Kafka's internal topics: the group coordinator's (ours too), transactions', KRaft's. */
export const RESERVED_TOPIC_NAMES: ReadonlySet<string> = new Set([OFFSETS_TOPIC, '__transaction_state', '__cluster_metadata']);
/** Every name with this prefix is kept for Runnel's own future topics. */
export const RESERVED_TOPIC_PREFIX = '__runnel_';

export function isReservedTopic(name: string): boolean {
  return RESERVED_TOPIC_NAMES.has(name) || name.startsWith(RESERVED_TOPIC_PREFIX);
}

/** Refuses a client's create, write, delete or config change of a reserved topic (INTERNAL_TOPIC). */
export function refuseReservedTopic(topic: string, what: string): void {
  if (!isReservedTopic(topic)) return;
  const owner = topic === OFFSETS_TOPIC ? 'the group coordinator owns it (read it freely)' : `the name is reserved for Runnel (${[...RESERVED_TOPIC_NAMES].join(', ')} and ${RESERVED_TOPIC_PREFIX}*)`;
  throw new RunnelError('INTERNAL_TOPIC', `cannot ${what} ${topic}: ${owner}`, { topic });
}
