/**
 * Producer options: defaults and validation in one place. Every option is checked when the
 * producer is created (RunnelError INVALID_CONFIG naming the option), cross-field rules too, so a
 * bad value fails at start-up rather than on the first send.
 *
 * option                   default    range / rule
 * acks                     'all'      'none' | 'leader' | 'all'
 * idempotent               true       boolean
 * lingerMs                 5          0..MS_MAX; how long a batch waits for more records
 * batchBytes               64 KiB     1..1 GiB; a batch is sent once it would grow past this
 * compression              'none'     'none' | 'lz4'
 * bufferBytes              32 MiB     >= batchBytes; bytes buffered + in flight
 * maxBlockMs               60000      0..MS_MAX; how long `send` waits for metadata and room
 * maxInFlightPerPartition  5          1..100; <= 5 when idempotent (the broker de-duplicates
 *                                     against the last 5 batches of a producer)
 * maxInFlightRequests      16         1..10000; <= the broker's limits.maxInFlightPerStream (64)
 * maxRequestBytes          1 MiB      >= batchBytes; <= the broker's limits.maxRequestBytes
 * retryBackoffMs           100        1..MS_MAX
 * retryBackoffMsMax        1000       >= retryBackoffMs
 * requestTimeoutMs         30000      1..MS_MAX; no answer that long breaks the stream
 * deliveryTimeoutMs        120000     >= lingerMs + requestTimeoutMs (Kafka's rule)
 * metadataMaxAgeMs         300000     0..MS_MAX; partition counts older than this are refreshed
 * serializer               msgpack    { name, serialize(value): Buffer }
 *
 * MS_MAX is 2^31-1, the longest delay a Node.js timer takes.
 */
import { RunnelError } from '../../common/errors.js';
import { msgpack, type Serializer } from '../serialization.js';
import type { Acks, Compression } from './types.js';

export interface ProducerOptions {
  acks?: Acks;
  idempotent?: boolean;
  lingerMs?: number;
  batchBytes?: number;
  compression?: Compression;
  bufferBytes?: number;
  maxBlockMs?: number;
  maxInFlightPerPartition?: number;
  maxInFlightRequests?: number;
  maxRequestBytes?: number;
  retryBackoffMs?: number;
  retryBackoffMsMax?: number;
  requestTimeoutMs?: number;
  deliveryTimeoutMs?: number;
  metadataMaxAgeMs?: number;
  serializer?: Serializer;
}

export type ResolvedProducerOptions = Readonly<Required<ProducerOptions>>;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
export const MS_MAX = 2 ** 31 - 1;
/** Kafka's NumBatchesToRetain: how many batches of a producer the broker can recognise again. */
export const IDEMPOTENT_IN_FLIGHT_MAX = 5;

export const PRODUCER_DEFAULTS: ResolvedProducerOptions = Object.freeze({
  acks: 'all',
  idempotent: true,
  lingerMs: 5,
  batchBytes: 64 * KiB,
  compression: 'none',
  bufferBytes: 32 * MiB,
  maxBlockMs: 60_000,
  maxInFlightPerPartition: IDEMPOTENT_IN_FLIGHT_MAX,
  maxInFlightRequests: 16,
  maxRequestBytes: MiB,
  retryBackoffMs: 100,
  retryBackoffMsMax: 1000,
  requestTimeoutMs: 30_000,
  deliveryTimeoutMs: 120_000,
  metadataMaxAgeMs: 300_000,
  serializer: msgpack,
});

const INTEGER_RANGES: Partial<Record<keyof ProducerOptions, readonly [number, number]>> = {
  lingerMs: [0, MS_MAX],
  batchBytes: [1, GiB],
  bufferBytes: [1, Number.MAX_SAFE_INTEGER],
  maxBlockMs: [0, MS_MAX],
  maxInFlightPerPartition: [1, 100],
  maxInFlightRequests: [1, 10_000],
  maxRequestBytes: [1, 2 * GiB - 1],
  retryBackoffMs: [1, MS_MAX],
  retryBackoffMsMax: [1, MS_MAX],
  requestTimeoutMs: [1, MS_MAX],
  deliveryTimeoutMs: [1, MS_MAX],
  metadataMaxAgeMs: [0, MS_MAX],
};

const CHOICES: Partial<Record<keyof ProducerOptions, readonly string[]>> = {
  acks: ['none', 'leader', 'all'],
  compression: ['none', 'lz4'],
};

function invalid(option: string, detail: string): RunnelError {
  return new RunnelError('INVALID_CONFIG', `producer option ${option} ${detail}`, { option });
}

function checkValue(name: keyof ProducerOptions, value: unknown): void {
  const range = INTEGER_RANGES[name];
  if (range !== undefined) {
    const [min, max] = range;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(name, `must be an integer in [${min}, ${max}], got ${String(value)}`);
    }
    return;
  }
  const choices = CHOICES[name];
  if (choices !== undefined) {
    if (typeof value !== 'string' || !choices.includes(value)) throw invalid(name, `must be one of ${choices.join(', ')}, got ${String(value)}`);
    return;
  }
  if (name === 'idempotent' && typeof value !== 'boolean') throw invalid(name, `must be a boolean, got ${String(value)}`);
  if (name === 'serializer') {
    const serializer = value as Partial<Serializer> | null;
    if (typeof serializer !== 'object' || serializer === null || typeof serializer.serialize !== 'function' || typeof serializer.name !== 'string') {
      throw invalid(name, 'must be an object with a name and a serialize(value) function');
    }
  }
}

function checkCrossFieldRules(o: ResolvedProducerOptions): void {
  if (o.idempotent && o.maxInFlightPerPartition > IDEMPOTENT_IN_FLIGHT_MAX) {
    throw invalid('maxInFlightPerPartition', `must be at most ${IDEMPOTENT_IN_FLIGHT_MAX} when idempotent is true (the broker de-duplicates against a producer's last ${IDEMPOTENT_IN_FLIGHT_MAX} batches), got ${o.maxInFlightPerPartition}`);
  }
  if (o.retryBackoffMsMax < o.retryBackoffMs) {
    throw invalid('retryBackoffMsMax', `(${o.retryBackoffMsMax}) must be at least retryBackoffMs (${o.retryBackoffMs})`);
  }
  if (o.bufferBytes < o.batchBytes) throw invalid('bufferBytes', `(${o.bufferBytes}) must be at least batchBytes (${o.batchBytes})`);
  if (o.maxRequestBytes < o.batchBytes) throw invalid('maxRequestBytes', `(${o.maxRequestBytes}) must be at least batchBytes (${o.batchBytes})`);
  if (o.deliveryTimeoutMs < o.lingerMs + o.requestTimeoutMs) {
    throw invalid('deliveryTimeoutMs', `(${o.deliveryTimeoutMs}) must be at least lingerMs + requestTimeoutMs (${o.lingerMs} + ${o.requestTimeoutMs})`);
  }
}

/** Defaults filled in and every value checked; throws INVALID_CONFIG naming the first bad option. */
export function resolveProducerOptions(options: ProducerOptions = {}): ResolvedProducerOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RunnelError('INVALID_CONFIG', 'producer options must be an object');
  }
  for (const [name, value] of Object.entries(options)) {
    // A typo (lingerMS) would otherwise silently keep the default.
    if (!(name in PRODUCER_DEFAULTS)) throw invalid(name, `is unknown; known options: ${Object.keys(PRODUCER_DEFAULTS).join(', ')}`);
    if (value !== undefined) checkValue(name as keyof ProducerOptions, value);
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved = Object.freeze({ ...PRODUCER_DEFAULTS, ...defined }) as ResolvedProducerOptions;
  checkCrossFieldRules(resolved);
  return resolved;
}
