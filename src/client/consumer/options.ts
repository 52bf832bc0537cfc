/**
 * Consumer options: defaults and validation in one place. Unknown keys are refused, so a typo
 * fails at construction instead of silently taking a default.
 *
 * Room to grow: consumer groups will add `groupId` (with `topics` subscriptions and commits)
 * next to these; none of these change meaning then.
 */
import { RunnelError } from '../../common/errors.js';
import type { Deserializer } from '../serialization.js';
import type { Transport } from './types.js';

export type AutoOffsetReset = 'earliest' | 'latest' | 'none';

export interface ConsumerOptions<V = Buffer> {
  /** Turns values into V (text, json, msgpack from serialization.ts). Default: none, values stay Buffers. */
  deserializer?: Deserializer<V>;
  /** Bytes of records per Subscribe message and per Fetch response (at least one batch each). */
  maxBytes?: number;
  /** Longest wait of a Fetch long poll (the Fetch transport only). */
  fetchMaxWaitMs?: number;
  /**
   * Records received and waiting for the application (counted from the batch headers; each
   * stored batch is decoded, and its CRC checked, when the application reaches it). Past this
   * the consumer stops pulling (and gRPC flow control stops the broker) until the application
   * has read half of them. One Subscribe message or Fetch response may overshoot it by its own
   * records. Memory held is about these records' bytes, one decoded batch per partition, plus,
   * on Subscribe, up to 16 messages of `maxBytes` queued inside grpc-js and the HTTP/2 window.
   */
  bufferedMessagesMax?: number;
  /**
   * When a partition's position is outside the log (retention or deleteRecords passed it, or a
   * seek beyond the end): move to the log start, to the log end, or ('none') stop the partition
   * and throw OFFSET_OUT_OF_RANGE from the iterator.
   */
  autoOffsetReset?: AutoOffsetReset;
  /** 'subscribe' (default) falls back to 'fetch' by itself when the broker refuses Subscribe. */
  transport?: Transport;
  /** First and largest wait before reopening a failed stream or retrying a failed fetch. */
  retryBackoffMs?: number;
  retryBackoffMsMax?: number;
}

export interface ResolvedConsumerOptions<V> {
  deserializer: Deserializer<V> | null;
  maxBytes: number;
  fetchMaxWaitMs: number;
  bufferedMessagesMax: number;
  autoOffsetReset: AutoOffsetReset;
  transport: Transport;
  retryBackoffMs: number;
  retryBackoffMsMax: number;
}

const MiB = 1024 * 1024;
const INT32_MAX = 0x7fffffff;

export const CONSUMER_DEFAULTS = {
  maxBytes: MiB,
  fetchMaxWaitMs: 500,
  bufferedMessagesMax: 10_000,
  autoOffsetReset: 'earliest',
  transport: 'subscribe',
  retryBackoffMs: 100,
  retryBackoffMsMax: 5_000,
} as const satisfies Omit<ResolvedConsumerOptions<unknown>, 'deserializer'>;

const KNOWN = new Set(['deserializer', ...Object.keys(CONSUMER_DEFAULTS)]);

function invalid(detail: string): RunnelError {
  return new RunnelError('INVALID_CONFIG', detail);
}

function int(options: Record<string, unknown>, key: keyof typeof CONSUMER_DEFAULTS, min: number, max: number): number {
  const value = options[key] ?? CONSUMER_DEFAULTS[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

function oneOf<T extends string>(options: Record<string, unknown>, key: keyof typeof CONSUMER_DEFAULTS, allowed: readonly T[]): T {
  const value = options[key] ?? CONSUMER_DEFAULTS[key];
  if (!allowed.includes(value as T)) throw invalid(`${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function deserializerOf<V>(value: unknown): Deserializer<V> | null {
  if (value === undefined || value === null) return null;
  const candidate = value as Partial<Deserializer<V>>;
  if (typeof candidate.deserialize !== 'function') throw invalid('deserializer must have a deserialize(bytes) function');
  return candidate as Deserializer<V>;
}

export function resolveConsumerOptions<V>(options: ConsumerOptions<V> = {}): ResolvedConsumerOptions<V> {
  const raw = options as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!KNOWN.has(key)) throw invalid(`unknown consumer option ${key}`);
  const resolved: ResolvedConsumerOptions<V> = {
    deserializer: deserializerOf<V>(options.deserializer),
    maxBytes: int(raw, 'maxBytes', 1024, INT32_MAX),
    fetchMaxWaitMs: int(raw, 'fetchMaxWaitMs', 0, 600_000),
    bufferedMessagesMax: int(raw, 'bufferedMessagesMax', 1, 10_000_000),
    autoOffsetReset: oneOf(raw, 'autoOffsetReset', ['earliest', 'latest', 'none'] as const),
    transport: oneOf(raw, 'transport', ['subscribe', 'fetch'] as const),
    retryBackoffMs: int(raw, 'retryBackoffMs', 1, 600_000),
    retryBackoffMsMax: int(raw, 'retryBackoffMsMax', 1, 600_000),
  };
  if (resolved.retryBackoffMsMax < resolved.retryBackoffMs) {
    throw invalid(`retryBackoffMsMax (${resolved.retryBackoffMsMax}) must be >= retryBackoffMs (${resolved.retryBackoffMs})`);
  }
  return resolved;
}
