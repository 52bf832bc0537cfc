/**
 * Topic configs as the Admin API names them (strings, as Kafka's are), and their translation to
 * the storage layer's LogConfig plus the broker-level `durability`.
 *
 *   retentionMs, retentionBytes, segmentBytes, segmentMs, deleteRetentionMs   integers
 *   cleanupPolicy       "delete" | "compact"
 *   maxMessageBytes     largest batch accepted (LogConfig.maxBatchBytes)
 *   durability          "leader" | "all": the weakest acks this topic honours; with "all",
 *                       every produce is fsync'd before it is answered, whatever acks it asked
 *   messageTimestampType, messageTimestampAfterMaxMs, messageTimestampBeforeMaxMs
 *                       the produce timestamp rules (timestamp-policy.ts)
 */
import { RunnelError } from '../common/errors.js';
import { resolveLogConfig, type LogConfig } from '../storage/log-config.js';
import { DEFAULT_TIMESTAMP_POLICY, type TimestampPolicy } from './timestamp-policy.js';

export type Durability = 'leader' | 'all';

const NUMERIC_KEYS = {
  retentionMs: 'retentionMs',
  retentionBytes: 'retentionBytes',
  segmentBytes: 'segmentBytes',
  segmentMs: 'segmentMs',
  deleteRetentionMs: 'deleteRetentionMs',
  maxMessageBytes: 'maxBatchBytes',
} as const satisfies Record<string, keyof LogConfig>;

const TIMESTAMP_WINDOW_KEYS = {
  messageTimestampAfterMaxMs: 'afterMaxMs',
  messageTimestampBeforeMaxMs: 'beforeMaxMs',
} as const satisfies Record<string, keyof TimestampPolicy>;

export const TOPIC_CONFIG_KEYS = [...Object.keys(NUMERIC_KEYS), 'cleanupPolicy', 'durability', 'messageTimestampType', ...Object.keys(TIMESTAMP_WINDOW_KEYS)] as const;

export interface TopicSettings {
  log: LogConfig;
  durability: Durability;
  timestamps: TimestampPolicy;
}

function integerConfig(key: string, value: string, min = Number.MIN_SAFE_INTEGER): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(number) || number < min) {
    throw new RunnelError('INVALID_CONFIG', `topic config ${key} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}, got "${value}"`, { key });
  }
  return number;
}

/**
 * Validates a topic's config overrides and resolves them over the broker's log defaults.
 * Throws INVALID_CONFIG naming the key, for unknown keys and bad values alike.
 */
export function resolveTopicSettings(configs: Readonly<Record<string, string>>, logDefaults: LogConfig): TopicSettings {
  const overrides: Partial<LogConfig> = {};
  let durability: Durability = 'leader';
  const timestamps: TimestampPolicy = { ...DEFAULT_TIMESTAMP_POLICY };
  for (const [key, value] of Object.entries(configs)) {
    if (key in NUMERIC_KEYS) {
      overrides[NUMERIC_KEYS[key as keyof typeof NUMERIC_KEYS]] = integerConfig(key, value);
    } else if (key in TIMESTAMP_WINDOW_KEYS) {
      timestamps[TIMESTAMP_WINDOW_KEYS[key as keyof typeof TIMESTAMP_WINDOW_KEYS]] = integerConfig(key, value, 0);
    } else if (key === 'messageTimestampType') {
      if (value !== 'CreateTime' && value !== 'LogAppendTime') throw new RunnelError('INVALID_CONFIG', `topic config messageTimestampType must be "CreateTime" or "LogAppendTime", got "${value}"`, { key });
      timestamps.type = value;
    } else if (key === 'cleanupPolicy') {
      overrides.cleanupPolicy = value as LogConfig['cleanupPolicy'];
    } else if (key === 'durability') {
      if (value !== 'leader' && value !== 'all') throw new RunnelError('INVALID_CONFIG', `topic config durability must be "leader" or "all", got "${value}"`, { key });
      durability = value;
    } else {
      throw new RunnelError('INVALID_CONFIG', `unknown topic config "${key}"; known: ${TOPIC_CONFIG_KEYS.join(', ')}`, { key });
    }
  }
  return { log: resolveLogConfig(overrides, logDefaults), durability, timestamps };
}

/** Every topic config with its effective value, for DescribeTopics. */
export function describeTopicSettings(settings: TopicSettings): Record<string, string> {
  const described: Record<string, string> = {};
  for (const [key, logKey] of Object.entries(NUMERIC_KEYS)) described[key] = String(settings.log[logKey]);
  described.cleanupPolicy = settings.log.cleanupPolicy;
  described.durability = settings.durability;
  described.messageTimestampType = settings.timestamps.type;
  for (const [key, policyKey] of Object.entries(TIMESTAMP_WINDOW_KEYS)) described[key] = String(settings.timestamps[policyKey]);
  return described;
}
