/**
 * Topic configs as the Admin API names them (strings, as Kafka's are), and their translation to
 * the storage layer's LogConfig plus the broker-level `durability`.
 *
 *   retentionMs, retentionBytes, segmentBytes, segmentMs, deleteRetentionMs   integers
 *   cleanupPolicy       "delete" | "compact"
 *   maxMessageBytes     largest batch accepted (LogConfig.maxBatchBytes)
 *   durability          "leader" | "all": the weakest acks this topic honours; with "all",
 *                       every produce is fsync'd before it is answered, whatever acks it asked
 */
import { RunnelError } from '../common/errors.js';
import { resolveLogConfig, type LogConfig } from '../storage/log-config.js';

export type Durability = 'leader' | 'all';

const NUMERIC_KEYS = {
  retentionMs: 'retentionMs',
  retentionBytes: 'retentionBytes',
  segmentBytes: 'segmentBytes',
  segmentMs: 'segmentMs',
  deleteRetentionMs: 'deleteRetentionMs',
  maxMessageBytes: 'maxBatchBytes',
} as const satisfies Record<string, keyof LogConfig>;

export const TOPIC_CONFIG_KEYS = [...Object.keys(NUMERIC_KEYS), 'cleanupPolicy', 'durability'] as const;

export interface TopicSettings {
  log: LogConfig;
  durability: Durability;
}

/**
 * Validates a topic's config overrides and resolves them over the broker's log defaults.
 * Throws INVALID_CONFIG naming the key, for unknown keys and bad values alike.
 */
export function resolveTopicSettings(configs: Readonly<Record<string, string>>, logDefaults: LogConfig): TopicSettings {
  const overrides: Partial<LogConfig> = {};
  let durability: Durability = 'leader';
  for (const [key, value] of Object.entries(configs)) {
    if (key in NUMERIC_KEYS) {
      const number = Number(value);
      if (value.trim() === '' || !Number.isSafeInteger(number)) {
        throw new RunnelError('INVALID_CONFIG', `topic config ${key} must be an integer, got "${value}"`, { key });
      }
      overrides[NUMERIC_KEYS[key as keyof typeof NUMERIC_KEYS]] = number;
    } else if (key === 'cleanupPolicy') {
      overrides.cleanupPolicy = value as LogConfig['cleanupPolicy'];
    } else if (key === 'durability') {
      if (value !== 'leader' && value !== 'all') throw new RunnelError('INVALID_CONFIG', `topic config durability must be "leader" or "all", got "${value}"`, { key });
      durability = value;
    } else {
      throw new RunnelError('INVALID_CONFIG', `unknown topic config "${key}"; known: ${TOPIC_CONFIG_KEYS.join(', ')}`, { key });
    }
  }
  return { log: resolveLogConfig(overrides, logDefaults), durability };
}

/** Every topic config with its effective value, for DescribeTopics. */
export function describeTopicSettings(settings: TopicSettings): Record<string, string> {
  const described: Record<string, string> = {};
  for (const [key, logKey] of Object.entries(NUMERIC_KEYS)) described[key] = String(settings.log[logKey]);
  described.cleanupPolicy = settings.log.cleanupPolicy;
  described.durability = settings.durability;
  return described;
}
