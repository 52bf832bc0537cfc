/**
 * Options of a group consumer (`runnel.consumer({ groupId, topics })`): defaults and validation
 * in one place; unknown keys are refused. Everything a plain consumer takes (deserializer,
 * maxBytes, bufferedMessagesMax, transport, retry backoff) passes through to the consumer that
 * reads the assigned partitions.
 */
import { RunnelError } from '../../common/errors.js';
import { validateTopicName } from '../../common/topic-name.js';
import { CONSUMER_DEFAULTS, resolveConsumerOptions, type ConsumerOptions } from '../consumer/options.js';
import type { TopicPartition } from './partitions.js';

export interface GroupConsumerOptions<V = Buffer> extends Omit<ConsumerOptions<V>, 'autoOffsetReset'> {
  /** Consumers with the same groupId share the partitions of their topics. */
  groupId: string;
  /** Topic names to consume; topics created later are picked up once they exist. */
  topics: readonly string[];
  /** Static membership: a member restarting with the same instanceId within its session timeout keeps its partitions. */
  instanceId?: string;
  /** Time without a heartbeat before the broker gives this member's partitions to others (default 10 s). */
  sessionTimeoutMs?: number;
  /**
   * Longest the application may spend on one message (or batch). Past it the member gives its
   * partitions up cleanly (what was finished is committed) and joins again when the
   * application asks for the next message. Default 5 minutes, as Kafka's max.poll.interval.ms.
   */
  maxProcessingMs?: number;
  /** Commit processed offsets every autoCommitIntervalMs, on revocation and on close (default true). */
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  /** 'uniform' (sticky, balanced; default) or 'range'. */
  assignor?: 'uniform' | 'range';
  /**
   * Where a partition without a committed offset starts, and where one whose offset fell out
   * of the log moves: 'latest' (new records only; Kafka's default) or 'earliest'.
   */
  autoOffsetReset?: 'earliest' | 'latest';
  /** Called with partitions this member got, before their first message is handed out. */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>;
  /** Called before partitions are handed back (finished work is committed right after). */
  onRevoked?: (partitions: TopicPartition[]) => void | Promise<void>;
  /** Called when partitions were lost (fenced, or no heartbeat got through): nothing was committed. */
  onLost?: (partitions: TopicPartition[], reason: RunnelError) => void | Promise<void>;
}

export interface ResolvedGroupOptions<V> {
  groupId: string;
  topics: string[];
  instanceId: string | null;
  sessionTimeoutMs: number;
  maxProcessingMs: number;
  autoCommit: boolean;
  autoCommitIntervalMs: number;
  assignor: 'uniform' | 'range';
  autoOffsetReset: 'earliest' | 'latest';
  onAssigned: (partitions: TopicPartition[]) => void | Promise<void>;
  onRevoked: (partitions: TopicPartition[]) => void | Promise<void>;
  onLost: (partitions: TopicPartition[], reason: RunnelError) => void | Promise<void>;
  consumer: ConsumerOptions<V>;
}

export const GROUP_DEFAULTS = {
  sessionTimeoutMs: 10_000,
  maxProcessingMs: 300_000,
  autoCommit: true,
  autoCommitIntervalMs: 1_000,
  assignor: 'uniform',
  autoOffsetReset: 'latest',
} as const;

const GROUP_KEYS = new Set(['groupId', 'topics', 'instanceId', 'onAssigned', 'onRevoked', 'onLost', ...Object.keys(GROUP_DEFAULTS)]);
const CONSUMER_KEYS = new Set(['deserializer', ...Object.keys(CONSUMER_DEFAULTS)]);
const noop = (): void => undefined;

function invalid(detail: string): RunnelError {
  return new RunnelError('INVALID_CONFIG', detail);
}

function int(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalid(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return value;
}

function hook<T>(value: unknown, name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(`${name} must be a function`);
  return value as T;
}

export function resolveGroupOptions<V>(options: GroupConsumerOptions<V>): ResolvedGroupOptions<V> {
  const raw = options as unknown as Record<string, unknown>;
  const consumer: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (CONSUMER_KEYS.has(key) && key !== 'autoOffsetReset') consumer[key] = value;
    else if (!GROUP_KEYS.has(key)) throw invalid(`unknown group consumer option ${key}`);
  }
  if (typeof options.groupId !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(options.groupId)) {
    throw invalid(`groupId must be 1 to 249 of [a-zA-Z0-9._-], got ${JSON.stringify(options.groupId)}`);
  }
  if (!Array.isArray(options.topics) || options.topics.length === 0) throw invalid('topics must be a non-empty list of topic names');
  for (const topic of options.topics) validateTopicName(topic);
  if (options.instanceId !== undefined && (typeof options.instanceId !== 'string' || !/^[\x20-\x7e]{1,249}$/.test(options.instanceId))) {
    throw invalid('instanceId must be 1 to 249 printable ASCII characters');
  }
  const autoOffsetReset = options.autoOffsetReset ?? GROUP_DEFAULTS.autoOffsetReset;
  if (autoOffsetReset !== 'earliest' && autoOffsetReset !== 'latest') throw invalid(`autoOffsetReset must be 'earliest' or 'latest', got ${JSON.stringify(autoOffsetReset)}`);
  const assignor = options.assignor ?? GROUP_DEFAULTS.assignor;
  if (assignor !== 'uniform' && assignor !== 'range') throw invalid(`assignor must be 'uniform' or 'range', got ${JSON.stringify(assignor)}`);
  const autoCommit = options.autoCommit ?? GROUP_DEFAULTS.autoCommit;
  if (typeof autoCommit !== 'boolean') throw invalid('autoCommit must be true or false');
  // Validates the pass-through options now, so a typo fails at construction.
  resolveConsumerOptions({ ...consumer, autoOffsetReset });
  return {
    groupId: options.groupId,
    topics: [...new Set<string>(options.topics)].sort(),
    instanceId: options.instanceId ?? null,
    sessionTimeoutMs: int(options.sessionTimeoutMs ?? GROUP_DEFAULTS.sessionTimeoutMs, 'sessionTimeoutMs', 100, 3_600_000),
    maxProcessingMs: int(options.maxProcessingMs ?? GROUP_DEFAULTS.maxProcessingMs, 'maxProcessingMs', 1, 86_400_000),
    autoCommit,
    autoCommitIntervalMs: int(options.autoCommitIntervalMs ?? GROUP_DEFAULTS.autoCommitIntervalMs, 'autoCommitIntervalMs', 1, 3_600_000),
    assignor,
    autoOffsetReset,
    onAssigned: hook(options.onAssigned, 'onAssigned') ?? noop,
    onRevoked: hook(options.onRevoked, 'onRevoked') ?? noop,
    onLost: hook(options.onLost, 'onLost') ?? noop,
    consumer: { ...consumer, autoOffsetReset },
  };
}
