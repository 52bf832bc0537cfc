/**
 * Per-partition log configuration: defaults (Kafka's, where Kafka has one), and validation with
 * cross-field rules, so a bad value is refused when a topic is created, not when a segment rolls.
 */
import { RunnelError } from '../common/errors.js';

export type CleanupPolicy = 'delete' | 'compact';

export interface LogConfig {
  /** A segment rolls before it would grow past this; at most 2 GiB - 1 (index positions are u32). */
  segmentBytes: number;
  /** A segment rolls when a batch's timestamp is this much newer than the segment's first batch. */
  segmentMs: number;
  /** Bytes of log between two offset-index entries. */
  indexIntervalBytes: number;
  /** Largest batch accepted, header included. */
  maxBatchBytes: number;
  /** Whole segments whose newest batch is older than this are deleted; -1 keeps them forever. */
  retentionMs: number;
  /** Oldest segments are deleted while the log is larger than this; -1 means no limit. */
  retentionBytes: number;
  cleanupPolicy: CleanupPolicy;
  /** With `compact`, how long a tombstone (null value) stays readable after it was written. */
  deleteRetentionMs: number;
}

export const SEGMENT_BYTES_MAX = 2 ** 31 - 1;

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  maxBatchBytes: 1024 * 1024 + 12,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 60 * 60 * 1000,
});

function integerIn(config: LogConfig, key: keyof LogConfig, min: number, max: number): void {
  const value = config[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RunnelError('INVALID_CONFIG', `${key} must be an integer from ${min} to ${max}, got ${String(value)}`, { key });
  }
}

/** Merges overrides onto the defaults and validates the result; unknown keys are refused. */
export function resolveLogConfig(overrides: Partial<LogConfig> = {}, base: Readonly<LogConfig> = DEFAULT_LOG_CONFIG): LogConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_LOG_CONFIG)) throw new RunnelError('INVALID_CONFIG', `unknown log config ${key}`, { key });
  }
  const config: LogConfig = { ...base, ...overrides };
  integerIn(config, 'segmentBytes', 1024, SEGMENT_BYTES_MAX);
  integerIn(config, 'segmentMs', 1, Number.MAX_SAFE_INTEGER);
  integerIn(config, 'indexIntervalBytes', 0, SEGMENT_BYTES_MAX);
  integerIn(config, 'maxBatchBytes', 61, SEGMENT_BYTES_MAX);
  integerIn(config, 'retentionMs', -1, Number.MAX_SAFE_INTEGER);
  integerIn(config, 'retentionBytes', -1, Number.MAX_SAFE_INTEGER);
  integerIn(config, 'deleteRetentionMs', 0, Number.MAX_SAFE_INTEGER);
  if (config.cleanupPolicy !== 'delete' && config.cleanupPolicy !== 'compact') {
    throw new RunnelError('INVALID_CONFIG', `cleanupPolicy must be "delete" or "compact", got ${String(config.cleanupPolicy)}`, { key: 'cleanupPolicy' });
  }
  if (config.maxBatchBytes > config.segmentBytes) {
    throw new RunnelError('INVALID_CONFIG', `maxBatchBytes (${config.maxBatchBytes}) must not exceed segmentBytes (${config.segmentBytes})`, { key: 'maxBatchBytes' });
  }
  return config;
}
