/**
 * Broker configuration: defaults, four sources, validation (cross-field rules too), so a bad
 * value stops the broker at start-up with a message that names the value and where it came from.
 *
 * Precedence, lowest first: defaults < config file (JSON, same shape as BrokerConfig, partial,
 * nested `log` and `limits` objects) < RUNNEL_* environment variables < flags (named flags, then
 * each `--set key=value` in order). The config file is `sources.configFile`, else `--config`,
 * else RUNNEL_CONFIG. Every key can be set with `--set <key>=<value>`, key as in the first column.
 *
 * key                              default         range                env (RUNNEL_...)                  flag
 * brokerId                         0               0..2^31-1            RUNNEL_BROKER_ID
 * dataDir                          ./data          non-empty path       RUNNEL_DATA_DIR, RUNNEL_DATA      --data
 * listen                           127.0.0.1:9400  HOST:PORT (0 = any)  RUNNEL_LISTEN                     --listen
 * metricsListen                    127.0.0.1:9401  HOST:PORT or off     RUNNEL_METRICS_LISTEN             --metrics-listen
 * logLevel                         info            fatal..trace, silent RUNNEL_LOG_LEVEL                  --log-level
 * autoCreateTopics                 false           boolean              RUNNEL_AUTO_CREATE_TOPICS         --auto-create-topics
 * defaultPartitions                1               1..100000            RUNNEL_DEFAULT_PARTITIONS         --default-partitions
 * flushIntervalMs                  1000            1..86400000          RUNNEL_FLUSH_INTERVAL_MS
 * retentionCheckIntervalMs         300000          1..86400000          RUNNEL_RETENTION_CHECK_INTERVAL_MS
 * shutdownTimeoutMs                10000           100..3600000         RUNNEL_SHUTDOWN_TIMEOUT_MS
 * producerIdExpirationMs           86400000        1..31536000000       RUNNEL_PRODUCER_ID_EXPIRATION_MS
 * scrubBytesPerSecond              1 MiB           0..2^31-1 (0 = off)  RUNNEL_SCRUB_BYTES_PER_SECOND
 * scrubIntervalMs                  3600000         1..2592000000        RUNNEL_SCRUB_INTERVAL_MS
 * limits.maxRequestBytes           64 MiB          1 KiB..2^31-1        RUNNEL_MAX_REQUEST_BYTES
 * limits.maxPartitionsPerRequest   1000            1..100000            RUNNEL_MAX_PARTITIONS_PER_REQUEST
 * limits.maxInFlightPerStream      64              1..10000             RUNNEL_MAX_IN_FLIGHT_PER_STREAM
 * limits.maxParkedFetches          1000            1..1000000           RUNNEL_MAX_PARKED_FETCHES
 * limits.maxSubscribeStreams       1000            1..1000000           RUNNEL_MAX_SUBSCRIBE_STREAMS
 * limits.maxTopics                 10000           1..1000000           RUNNEL_MAX_TOPICS
 * limits.maxPartitionsPerTopic     1000            1..100000            RUNNEL_MAX_PARTITIONS_PER_TOPIC
 * limits.maxPartitionsPerBroker    20000           1..1000000           RUNNEL_MAX_PARTITIONS_PER_BROKER
 * limits.fetchWaitMsMax            30000           0..600000            RUNNEL_FETCH_WAIT_MS_MAX
 * limits.fetchMaxBytes             64 MiB          1 KiB..2^31-1        RUNNEL_FETCH_MAX_BYTES
 * limits.subscribeMaxBytes         4 MiB           1 KiB..2^31-1        RUNNEL_SUBSCRIBE_MAX_BYTES
 * limits.recentBatchCacheBytes     4 MiB           0..1 GiB (0 = off)   RUNNEL_RECENT_BATCH_CACHE_BYTES
 * limits.http2WindowBytes          4 MiB           65535..2^31-1        RUNNEL_HTTP2_WINDOW_BYTES
 * limits.producerIdsPerConnectionPerMinute 1000   1..1000000           RUNNEL_PRODUCER_IDS_PER_CONNECTION_PER_MINUTE
 * limits.maxRequestBytesInFlight   128 MiB         1 KiB..2^31-1        RUNNEL_MAX_REQUEST_BYTES_IN_FLIGHT
 * limits.maxConnections            1000            1..1000000           RUNNEL_MAX_CONNECTIONS
 * limits.maxConnectionsPerAddress  100             1..1000000           RUNNEL_MAX_CONNECTIONS_PER_ADDRESS
 * limits.maxStreamsPerConnection   1000            1..10000             RUNNEL_MAX_STREAMS_PER_CONNECTION
 * limits.maxParkedFetchesPerConnection 100         1..1000000           RUNNEL_MAX_PARKED_FETCHES_PER_CONNECTION
 * limits.maxSubscribeStreamsPerConnection 100      1..1000000           RUNNEL_MAX_SUBSCRIBE_STREAMS_PER_CONNECTION
 * log.segmentBytes                 1 GiB           see log-config.ts    RUNNEL_LOG_SEGMENT_BYTES
 * log.segmentMs                    7 days                               RUNNEL_LOG_SEGMENT_MS
 * log.indexIntervalBytes           4096                                 RUNNEL_LOG_INDEX_INTERVAL_BYTES
 * log.maxBatchBytes                1 MiB + 12                           RUNNEL_LOG_MAX_BATCH_BYTES
 * log.retentionMs                  7 days (-1 = forever)                RUNNEL_LOG_RETENTION_MS
 * log.retentionBytes               -1 (no limit)                        RUNNEL_LOG_RETENTION_BYTES
 * log.cleanupPolicy                delete          delete or compact    RUNNEL_LOG_CLEANUP_POLICY
 * log.deleteRetentionMs            1 day                                RUNNEL_LOG_DELETE_RETENTION_MS
 * groups.heartbeatIntervalMs       3000            100..60000           RUNNEL_GROUPS_HEARTBEAT_INTERVAL_MS
 * groups.defaultSessionTimeoutMs   10000           see rules            RUNNEL_GROUPS_DEFAULT_SESSION_TIMEOUT_MS
 * groups.minSessionTimeoutMs       1000            100..3600000         RUNNEL_GROUPS_MIN_SESSION_TIMEOUT_MS
 * groups.maxSessionTimeoutMs       300000          100..3600000         RUNNEL_GROUPS_MAX_SESSION_TIMEOUT_MS
 * groups.maxRebalanceTimeoutMs     600000          1000..86400000       RUNNEL_GROUPS_MAX_REBALANCE_TIMEOUT_MS
 * groups.initialAssignmentDelayMs  0               0..600000            RUNNEL_GROUPS_INITIAL_ASSIGNMENT_DELAY_MS
 * groups.maxGroups                 10000           1..1000000           RUNNEL_GROUPS_MAX_GROUPS
 * groups.maxMembersPerGroup        1000            1..100000            RUNNEL_GROUPS_MAX_MEMBERS_PER_GROUP
 * groups.maxSubscribedTopics       1000            1..100000            RUNNEL_GROUPS_MAX_SUBSCRIBED_TOPICS
 * groups.offsetsTopicPartitions    8               1..1000              RUNNEL_GROUPS_OFFSETS_TOPIC_PARTITIONS
 * groups.offsetMetadataMaxBytes    4096            0..1 MiB             RUNNEL_GROUPS_OFFSET_METADATA_MAX_BYTES
 * groups.offsetsRetentionMs        7 days          1..10 years          RUNNEL_GROUPS_OFFSETS_RETENTION_MS
 * groups.offsetsRetentionCheckIntervalMs 10 min    1000..1 day          RUNNEL_GROUPS_OFFSETS_RETENTION_CHECK_INTERVAL_MS
 *
 * Cross-field rules: limits.subscribeMaxBytes <= limits.fetchMaxBytes; log.maxBatchBytes <=
 * limits.maxRequestBytes <= limits.maxRequestBytesInFlight; limits.maxConnectionsPerAddress <=
 * limits.maxConnections; defaultPartitions <= limits.maxPartitionsPerTopic <=
 * limits.maxPartitionsPerBroker; metricsListen and listen use different ports unless one is 0;
 * groups.minSessionTimeoutMs <= groups.defaultSessionTimeoutMs <= groups.maxSessionTimeoutMs.
 * (Each member heartbeats every min(groups.heartbeatIntervalMs, its session timeout / 3).)
 *
 * Text values (environment, string flags, --set) are parsed: integers in decimal, booleans as
 * true/false/1/0/yes/no, HOST:PORT with IPv6 in brackets ([::1]:9400), `off` for no metrics.
 * Config file values must already have their JSON type (a number, not "64"); HOST:PORT may also
 * be {"host": ..., "port": ...} and metricsListen may be null. Unknown keys in the file or in
 * --set, and unknown flags, are errors; unknown RUNNEL_* variables are ignored; empty ones count
 * as unset. A relative dataDir is resolved against the working directory.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ERRORS, RunnelError, isRunnelError } from '../common/errors.js';
import { DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '../coordinator/config.js';
import { DEFAULT_LOG_CONFIG, resolveLogConfig, type LogConfig } from '../storage/log-config.js';
import { HTTP2_WINDOW_BYTES_MAX, HTTP2_WINDOW_BYTES_MIN } from './http2-window.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface BrokerLimits {
  /** Largest gRPC message accepted; also the gRPC server's max receive length. */
  maxRequestBytes: number;
  maxPartitionsPerRequest: number;
  /** Unanswered ProduceStream requests per stream. */
  maxInFlightPerStream: number;
  /** Long-poll fetches waiting at once. */
  maxParkedFetches: number;
  /** Open Subscribe streams. */
  maxSubscribeStreams: number;
  maxTopics: number;
  maxPartitionsPerTopic: number;
  maxPartitionsPerBroker: number;
  /** Cap on FetchRequest.max_wait_ms. */
  fetchWaitMsMax: number;
  /** Cap on the records of one Fetch response. */
  fetchMaxBytes: number;
  /** Cap on the records of one pushed Subscribe message. */
  subscribeMaxBytes: number;
  /** Per-partition cache of recently appended batches; 0 turns it off. */
  recentBatchCacheBytes: number;
  /**
   * HTTP/2 receive window per stream and per connection: request bytes a client may send
   * before the broker has read them (see http2-window.ts). Bounds unread bytes per connection.
   */
  http2WindowBytes: number;
  /** Fresh producer ids (InitProducerId) one client connection may take per minute (KIP-936). */
  producerIdsPerConnectionPerMinute: number;
  /**
   * Request bytes being received at once, broker-wide (Kafka's queued.max.request.bytes): each
   * message's length is reserved before its body is read (http2-admission.ts).
   */
  maxRequestBytesInFlight: number;
  /** Client connections (HTTP/2 sessions) at once, and from one remote address. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Concurrent gRPC calls (HTTP/2 streams) per connection: each may hold a stream window of unread bytes. */
  maxStreamsPerConnection: number;
  /** One connection's share of maxParkedFetches and maxSubscribeStreams. */
  maxParkedFetchesPerConnection: number;
  maxSubscribeStreamsPerConnection: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface BrokerConfig {
  brokerId: number;
  /** Absolute after loadBrokerConfig. */
  dataDir: string;
  /** Port 0 = any free port. */
  listen: HostPort;
  /** null = no metrics endpoint ('off'). */
  metricsListen: HostPort | null;
  logLevel: LogLevel;
  autoCreateTopics: boolean;
  /** Partitions of auto-created topics. */
  defaultPartitions: number;
  flushIntervalMs: number;
  retentionCheckIntervalMs: number;
  shutdownTimeoutMs: number;
  producerIdExpirationMs: number;
  /** Read-rate bound of the background scrub of sealed segments (src/storage/scrub.ts); 0 = off. */
  scrubBytesPerSecond: number;
  /** Minimum time between the starts of two scrub passes. */
  scrubIntervalMs: number;
  /** Topic defaults, validated with resolveLogConfig. */
  log: LogConfig;
  limits: BrokerLimits;
  /** The group coordinator; its partitions-per-request bound is limits.maxPartitionsPerRequest. */
  groups: GroupsConfig;
}

export type GroupsConfig = Omit<CoordinatorConfig, 'maxPartitionsPerRequest'>;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const INT32_MAX = 2 ** 31 - 1;
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}

export const DEFAULT_BROKER_CONFIG: Readonly<BrokerConfig> = deepFreeze<BrokerConfig>({
  brokerId: 0,
  dataDir: './data',
  listen: { host: '127.0.0.1', port: 9400 },
  metricsListen: { host: '127.0.0.1', port: 9401 },
  logLevel: 'info',
  autoCreateTopics: false,
  defaultPartitions: 1,
  flushIntervalMs: 1000,
  retentionCheckIntervalMs: 300_000,
  shutdownTimeoutMs: 10_000,
  producerIdExpirationMs: DAY_MS,
  scrubBytesPerSecond: MiB,
  scrubIntervalMs: HOUR_MS,
  log: { ...DEFAULT_LOG_CONFIG },
  limits: {
    maxRequestBytes: 64 * MiB,
    maxPartitionsPerRequest: 1000,
    maxInFlightPerStream: 64,
    maxParkedFetches: 1000,
    maxSubscribeStreams: 1000,
    maxTopics: 10_000,
    maxPartitionsPerTopic: 1000,
    maxPartitionsPerBroker: 20_000,
    fetchWaitMsMax: 30_000,
    fetchMaxBytes: 64 * MiB,
    subscribeMaxBytes: 4 * MiB,
    recentBatchCacheBytes: 4 * MiB,
    http2WindowBytes: 4 * MiB,
    producerIdsPerConnectionPerMinute: 1000,
    maxRequestBytesInFlight: 128 * MiB,
    maxConnections: 1000,
    maxConnectionsPerAddress: 100,
    maxStreamsPerConnection: 1000,
    maxParkedFetchesPerConnection: 100,
    maxSubscribeStreamsPerConnection: 100,
  },
  groups: (({ maxPartitionsPerRequest: _, ...groups }) => groups)(DEFAULT_COORDINATOR_CONFIG),
});

// ---- the key table ------------------------------------------------------------------------

/** How a key's value is parsed and checked. Log ints carry no range: resolveLogConfig owns it. */
export type ValueKind =
  | { readonly type: 'int'; readonly min?: number; readonly max?: number }
  | { readonly type: 'bool' }
  | { readonly type: 'text' }
  | { readonly type: 'choice'; readonly values: readonly string[] }
  | { readonly type: 'hostPort'; readonly offAllowed: boolean };

export interface ConfigKey {
  /** Dotted path: `flushIntervalMs`, `limits.maxRequestBytes`, `log.retentionMs`. */
  readonly path: string;
  /** Environment names; when several are set, the last one listed wins. */
  readonly env: readonly string[];
  /** The CLI flag, when the key has its own (all keys have `--set`). */
  readonly flag: string | undefined;
  readonly kind: ValueKind;
}

const int = (min: number, max: number): ValueKind => ({ type: 'int', min, max });

type TopLevelKey = Exclude<keyof BrokerConfig, 'log' | 'limits' | 'groups'>;

const TOP_LEVEL_KINDS: Record<TopLevelKey, ValueKind> = {
  brokerId: int(0, INT32_MAX),
  dataDir: { type: 'text' },
  listen: { type: 'hostPort', offAllowed: false },
  metricsListen: { type: 'hostPort', offAllowed: true },
  logLevel: { type: 'choice', values: LOG_LEVELS },
  autoCreateTopics: { type: 'bool' },
  defaultPartitions: int(1, 100_000),
  flushIntervalMs: int(1, DAY_MS),
  retentionCheckIntervalMs: int(1, DAY_MS),
  shutdownTimeoutMs: int(100, HOUR_MS),
  producerIdExpirationMs: int(1, 365 * DAY_MS),
  scrubBytesPerSecond: int(0, INT32_MAX),
  scrubIntervalMs: int(1, 30 * DAY_MS),
};

const LIMIT_KINDS: Record<keyof BrokerLimits, ValueKind> = {
  maxRequestBytes: int(KiB, INT32_MAX),
  maxPartitionsPerRequest: int(1, 100_000),
  maxInFlightPerStream: int(1, 10_000),
  maxParkedFetches: int(1, 1_000_000),
  maxSubscribeStreams: int(1, 1_000_000),
  maxTopics: int(1, 1_000_000),
  maxPartitionsPerTopic: int(1, 100_000),
  maxPartitionsPerBroker: int(1, 1_000_000),
  fetchWaitMsMax: int(0, 600_000),
  fetchMaxBytes: int(KiB, INT32_MAX),
  subscribeMaxBytes: int(KiB, INT32_MAX),
  recentBatchCacheBytes: int(0, GiB),
  http2WindowBytes: int(HTTP2_WINDOW_BYTES_MIN, HTTP2_WINDOW_BYTES_MAX),
  producerIdsPerConnectionPerMinute: int(1, 1_000_000),
  maxRequestBytesInFlight: int(KiB, INT32_MAX),
  maxConnections: int(1, 1_000_000),
  maxConnectionsPerAddress: int(1, 1_000_000),
  maxStreamsPerConnection: int(1, 10_000),
  maxParkedFetchesPerConnection: int(1, 1_000_000),
  maxSubscribeStreamsPerConnection: int(1, 1_000_000),
};

const GROUPS_KINDS: Record<keyof GroupsConfig, ValueKind> = {
  heartbeatIntervalMs: int(100, 60_000),
  defaultSessionTimeoutMs: int(100, HOUR_MS),
  minSessionTimeoutMs: int(100, HOUR_MS),
  maxSessionTimeoutMs: int(100, HOUR_MS),
  maxRebalanceTimeoutMs: int(1000, DAY_MS),
  initialAssignmentDelayMs: int(0, 600_000),
  maxGroups: int(1, 1_000_000),
  maxMembersPerGroup: int(1, 100_000),
  maxSubscribedTopics: int(1, 100_000),
  offsetsTopicPartitions: int(1, 1000),
  offsetMetadataMaxBytes: int(0, MiB),
  offsetsRetentionMs: int(1, 3650 * DAY_MS),
  offsetsRetentionCheckIntervalMs: int(1000, DAY_MS),
};

/** Commander's camelCase option key -> config path. `config` and `set` are handled apart. */
const FLAG_PATHS: Readonly<Record<string, string>> = {
  data: 'dataDir',
  listen: 'listen',
  metricsListen: 'metricsListen',
  logLevel: 'logLevel',
  autoCreateTopics: 'autoCreateTopics',
  defaultPartitions: 'defaultPartitions',
};

const upperSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
const kebab = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

function flagFor(configPath: string): string | undefined {
  const entry = Object.entries(FLAG_PATHS).find(([, target]) => target === configPath);
  return entry === undefined ? undefined : `--${kebab(entry[0])}`;
}

function buildKeys(): ConfigKey[] {
  const keys: ConfigKey[] = Object.entries(TOP_LEVEL_KINDS).map(([name, kind]) => ({
    path: name,
    env: name === 'dataDir' ? ['RUNNEL_DATA', 'RUNNEL_DATA_DIR'] : [`RUNNEL_${upperSnake(name)}`],
    flag: flagFor(name),
    kind,
  }));
  for (const [name, kind] of Object.entries(LIMIT_KINDS)) {
    keys.push({ path: `limits.${name}`, env: [`RUNNEL_${upperSnake(name)}`], flag: undefined, kind });
  }
  for (const [name, kind] of Object.entries(GROUPS_KINDS)) {
    keys.push({ path: `groups.${name}`, env: [`RUNNEL_GROUPS_${upperSnake(name)}`], flag: undefined, kind });
  }
  for (const [name, value] of Object.entries(DEFAULT_LOG_CONFIG)) {
    const kind: ValueKind = typeof value === 'number' ? { type: 'int' } : { type: 'text' };
    keys.push({ path: `log.${name}`, env: [`RUNNEL_LOG_${upperSnake(name)}`], flag: undefined, kind });
  }
  return keys;
}

/** Every configuration key with its environment names and flag (for help text and docs). */
export const BROKER_CONFIG_KEYS: readonly ConfigKey[] = deepFreeze(buildKeys());
const KEY_BY_PATH: ReadonlyMap<string, ConfigKey> = new Map(BROKER_CONFIG_KEYS.map((key) => [key.path, key]));
const GROUPS = new Set(['log', 'limits', 'groups']);

// ---- HOST:PORT ----------------------------------------------------------------------------

/** A value problem without its context; the caller adds the key, the value and the source. */
class BadValue extends Error {}

const PORT_MAX = 65_535;
const BRACKETED = /^\[([^\]]*)\]:(\d+)$/;
const PLAIN = /^([A-Za-z0-9._-]+):(\d+)$/;
const HOST_PORT_FORM = 'be HOST:PORT (e.g. 127.0.0.1:9400, [::1]:9400; port 0 = any free port)';

function hostPortFromText(text: string, form = HOST_PORT_FORM): HostPort {
  const match = BRACKETED.exec(text) ?? PLAIN.exec(text);
  if (match === null) {
    const unbracketedIpv6 = !text.startsWith('[') && text.split(':').length > 2;
    throw new BadValue(unbracketedIpv6 ? 'must put an IPv6 address in brackets, e.g. [::1]:9400' : `must ${form}`);
  }
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (text.startsWith('[') && !net.isIPv6(host)) throw new BadValue('must have an IPv6 address inside the brackets');
  if (port > PORT_MAX) throw new BadValue(`must have a port from 0 to ${PORT_MAX}`);
  return { host, port };
}

function hostPortFromObject(value: object): HostPort {
  const { host, port, ...rest } = value as Record<string, unknown>;
  const portOk = typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= PORT_MAX;
  if (typeof host !== 'string' || host === '' || !portOk || Object.keys(rest).length > 0) {
    throw new BadValue(`must be {"host": string, "port": 0..${PORT_MAX}} or a "HOST:PORT" string`);
  }
  return { host, port };
}

/** Parses 'HOST:PORT' or '[IPv6]:PORT' (port 0..65535, 0 = any free port); `what` names the value in errors. */
export function parseHostPort(text: string, what: string): HostPort {
  try {
    return hostPortFromText(text.trim());
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    throw new RunnelError('INVALID_CONFIG', `${what} ${err.message}, got ${JSON.stringify(text)}`, { key: what });
  }
}

/** The inverse of parseHostPort: IPv6 hosts get their brackets back (for gRPC bind addresses). */
export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

// ---- values -------------------------------------------------------------------------------

/** One value from one source; `text` when it is still a string to parse (env, --set, string flags). */
interface RawValue {
  readonly raw: unknown;
  readonly source: string;
  readonly text: boolean;
}

const TRUE_WORDS = new Set(['true', '1', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'no']);

function toInt(kind: { min?: number; max?: number }, raw: unknown, text: boolean): number {
  const value = text && typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  const { min, max } = kind;
  const range = min === undefined || max === undefined ? '' : ` from ${min} to ${max}`;
  const ok = typeof value === 'number' && Number.isSafeInteger(value);
  if (!ok || (min !== undefined && value < min) || (max !== undefined && value > max)) {
    throw new BadValue(`must be an integer${range}`);
  }
  return value;
}

function toBool(raw: unknown, text: boolean): boolean {
  if (typeof raw === 'boolean') return raw;
  const word = text && typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (word !== undefined && TRUE_WORDS.has(word)) return true;
  if (word !== undefined && FALSE_WORDS.has(word)) return false;
  throw new BadValue(text ? 'must be true or false (or 1/0, yes/no)' : 'must be true or false');
}

function toHostPort(kind: { offAllowed: boolean }, raw: unknown, text: boolean): HostPort | null {
  const form = kind.offAllowed ? `${HOST_PORT_FORM} or "off"` : HOST_PORT_FORM;
  if (kind.offAllowed && ((raw === null && !text) || (typeof raw === 'string' && raw.trim() === 'off'))) return null;
  if (typeof raw === 'string') return hostPortFromText(raw.trim(), form);
  if (!text && typeof raw === 'object' && raw !== null) return hostPortFromObject(raw);
  throw new BadValue(`must ${form}`);
}

function toValue(kind: ValueKind, raw: unknown, text: boolean): unknown {
  switch (kind.type) {
    case 'int':
      return toInt(kind, raw, text);
    case 'bool':
      return toBool(raw, text);
    case 'hostPort':
      return toHostPort(kind, raw, text);
    case 'text':
      if (typeof raw !== 'string' || raw.trim() === '') throw new BadValue('must be a non-empty string');
      return text ? raw.trim() : raw;
    case 'choice':
      if (typeof raw === 'string' && kind.values.includes(raw.trim())) return raw.trim();
      throw new BadValue(`must be one of ${kind.values.join(', ')}`);
  }
}

function showValue(raw: unknown): string {
  return raw === undefined ? 'undefined' : JSON.stringify(raw);
}

function convert(key: ConfigKey, value: RawValue): unknown {
  try {
    return toValue(key.kind, value.raw, value.text);
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    const detail = `${key.path} ${err.message}, got ${showValue(value.raw)} (from ${value.source})`;
    throw new RunnelError('INVALID_CONFIG', detail, { key: key.path, source: value.source });
  }
}

// ---- sources ------------------------------------------------------------------------------

type Layer = Map<string, RawValue>;

function knownKey(keyPath: string, source: string): ConfigKey {
  const key = KEY_BY_PATH.get(keyPath);
  if (key === undefined) {
    const example = { log: 'retentionMs', limits: 'maxTopics', groups: 'maxGroups' }[keyPath];
    const hint = example === undefined ? '' : ` (set its keys one by one, e.g. ${keyPath}.${example})`;
    throw new RunnelError('INVALID_CONFIG', `unknown key ${JSON.stringify(keyPath)}${hint} (from ${source})`, { key: keyPath, source });
  }
  return key;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function readConfigFile(filePath: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new RunnelError('INVALID_CONFIG', `cannot read config file ${filePath} (${reason})`, { file: filePath }, { cause: err });
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new RunnelError('INVALID_CONFIG', `config file ${filePath} is not valid JSON: ${reason}`, { file: filePath }, { cause: err });
  }
}

function fileLayer(filePath: string): Layer {
  const source = `config file ${filePath}`;
  const content = readConfigFile(filePath);
  if (!isPlainObject(content)) throw new RunnelError('INVALID_CONFIG', `${source} must hold a JSON object`, { file: filePath });
  const layer: Layer = new Map();
  for (const [name, value] of Object.entries(content)) {
    if (!GROUPS.has(name)) {
      layer.set(knownKey(name, source).path, { raw: value, source, text: false });
      continue;
    }
    if (!isPlainObject(value)) throw new RunnelError('INVALID_CONFIG', `${name} must be an object, got ${showValue(value)} (from ${source})`, { key: name });
    for (const [inner, innerValue] of Object.entries(value)) {
      layer.set(knownKey(`${name}.${inner}`, source).path, { raw: innerValue, source, text: false });
    }
  }
  return layer;
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const layer: Layer = new Map();
  for (const key of BROKER_CONFIG_KEYS) {
    for (const name of key.env) {
      const value = env[name];
      if (value !== undefined && value !== '') layer.set(key.path, { raw: value, source: name, text: true });
    }
  }
  return layer;
}

function setFlagEntries(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  throw new RunnelError('INVALID_CONFIG', `--set expects key=value strings, got ${showValue(value)}`, { key: 'set' });
}

function addSettings(layer: Layer, settings: readonly string[]): void {
  for (const setting of settings) {
    const equals = setting.indexOf('=');
    if (equals <= 0) throw new RunnelError('INVALID_CONFIG', `--set expects key=value, got ${JSON.stringify(setting)}`, { key: 'set' });
    const keyPath = setting.slice(0, equals).trim();
    const source = `--set ${keyPath}`;
    layer.set(knownKey(keyPath, '--set').path, { raw: setting.slice(equals + 1), source, text: true });
  }
}

function flagLayer(flags: Readonly<Record<string, unknown>>): Layer {
  const layer: Layer = new Map();
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined || name === 'config' || name === 'set') continue;
    const keyPath = FLAG_PATHS[name];
    if (keyPath === undefined) throw new RunnelError('INVALID_CONFIG', `unknown flag ${JSON.stringify(name)}`, { key: name });
    layer.set(keyPath, { raw: value, source: `--${kebab(name)}`, text: typeof value === 'string' });
  }
  if (flags.set !== undefined) addSettings(layer, setFlagEntries(flags.set));
  return layer;
}

function configFilePath(sources: BrokerConfigSources, env: NodeJS.ProcessEnv): string | undefined {
  const flag = sources.flags?.config;
  if (flag !== undefined && typeof flag !== 'string') {
    throw new RunnelError('INVALID_CONFIG', `--config expects a file path, got ${showValue(flag)}`, { key: 'config' });
  }
  const chosen = sources.configFile ?? flag ?? (env.RUNNEL_CONFIG === '' ? undefined : env.RUNNEL_CONFIG);
  return chosen === undefined ? undefined : path.resolve(chosen);
}

// ---- assembly and cross-field rules -------------------------------------------------------

type Sources = ReadonlyMap<string, RawValue>;

function sourceOf(sources: Sources, keyPath: string): string {
  const source = sources.get(keyPath)?.source;
  return source === undefined ? 'default' : `from ${source}`;
}

function setAt(config: BrokerConfig, keyPath: string, value: unknown): void {
  const [group, name] = keyPath.split('.');
  const target = (name === undefined ? config : config[group as 'limits' | 'groups']) as unknown as Record<string, unknown>;
  target[name ?? keyPath] = value;
}

function valueAt(config: BrokerConfig, keyPath: string): unknown {
  const [group, name] = keyPath.split('.');
  const target = (name === undefined ? config : config[group as 'limits' | 'log' | 'groups']) as unknown as Record<string, unknown>;
  return target[name ?? keyPath];
}

const LOG_DETAIL_PREFIX = `${ERRORS.INVALID_CONFIG.message}: `;

/** resolveLogConfig's verdict, restated with `log.` paths and the sources of the values it names. */
function resolveLog(overrides: Partial<LogConfig>, sources: Sources): LogConfig {
  try {
    return resolveLogConfig(overrides);
  } catch (err) {
    if (!isRunnelError(err, 'INVALID_CONFIG')) throw err;
    const detail = err.message.startsWith(LOG_DETAIL_PREFIX) ? err.message.slice(LOG_DETAIL_PREFIX.length) : err.message;
    const named = Object.keys(overrides).filter((name) => new RegExp(`\\b${name}\\b`).test(detail));
    const culprit = typeof err.context.key === 'string' ? err.context.key : undefined;
    const only = named.length === 1 && named[0] === culprit;
    const from = only ? sourceOf(sources, `log.${culprit}`) : named.map((name) => `${name} ${sourceOf(sources, `log.${name}`)}`).join(', ');
    const key = culprit === undefined ? 'log' : `log.${culprit}`;
    throw new RunnelError('INVALID_CONFIG', `log.${detail}${from === '' ? '' : ` (${from})`}`, { key }, { cause: err });
  }
}

function assemble(sources: Sources): BrokerConfig {
  const config = structuredClone(DEFAULT_BROKER_CONFIG) as BrokerConfig;
  const logOverrides: Record<string, unknown> = {};
  for (const [keyPath, value] of sources) {
    const converted = convert(knownKey(keyPath, value.source), value);
    if (keyPath.startsWith('log.')) logOverrides[keyPath.slice('log.'.length)] = converted;
    else setAt(config, keyPath, converted);
  }
  config.log = resolveLog(logOverrides, sources);
  config.dataDir = path.resolve(config.dataDir);
  return config;
}

/** Pairs [a, b] where a must not exceed b. */
const AT_MOST_RULES: readonly (readonly [string, string])[] = [
  ['limits.subscribeMaxBytes', 'limits.fetchMaxBytes'],
  ['log.maxBatchBytes', 'limits.maxRequestBytes'],
  ['limits.maxRequestBytes', 'limits.maxRequestBytesInFlight'],
  ['limits.maxConnectionsPerAddress', 'limits.maxConnections'],
  ['defaultPartitions', 'limits.maxPartitionsPerTopic'],
  ['limits.maxPartitionsPerTopic', 'limits.maxPartitionsPerBroker'],
  ['groups.minSessionTimeoutMs', 'groups.defaultSessionTimeoutMs'],
  ['groups.defaultSessionTimeoutMs', 'groups.maxSessionTimeoutMs'],
];

function checkCrossFieldRules(config: BrokerConfig, sources: Sources): void {
  for (const [small, large] of AT_MOST_RULES) {
    const smallValue = valueAt(config, small) as number;
    const largeValue = valueAt(config, large) as number;
    if (smallValue <= largeValue) continue;
    const detail = `${small} = ${smallValue} (${sourceOf(sources, small)}) must not exceed ${large} = ${largeValue} (${sourceOf(sources, large)})`;
    throw new RunnelError('INVALID_CONFIG', detail, { key: small });
  }
  const { listen, metricsListen } = config;
  if (metricsListen !== null && listen.port !== 0 && metricsListen.port === listen.port) {
    const detail =
      `metricsListen ${formatHostPort(metricsListen)} (${sourceOf(sources, 'metricsListen')}) must use another port ` +
      `than listen ${formatHostPort(listen)} (${sourceOf(sources, 'listen')})`;
    throw new RunnelError('INVALID_CONFIG', detail, { key: 'metricsListen' });
  }
}

export interface BrokerConfigSources {
  /** Commander's option object: data, listen, config, metricsListen, logLevel, autoCreateTopics, defaultPartitions, set. */
  flags?: Readonly<Record<string, unknown>>;
  /** Usually process.env; when omitted, no environment variable is read. */
  env?: NodeJS.ProcessEnv;
  /** A config file path; wins over --config and RUNNEL_CONFIG. */
  configFile?: string;
}

/**
 * Builds the broker configuration from defaults < config file < RUNNEL_* environment < flags and
 * validates it. Throws RunnelError('INVALID_CONFIG') naming the key, the value and its source.
 */
export function loadBrokerConfig(sources: BrokerConfigSources): BrokerConfig {
  const env = sources.env ?? {};
  const filePath = configFilePath(sources, env);
  const layers = [filePath === undefined ? new Map<string, RawValue>() : fileLayer(filePath), envLayer(env), flagLayer(sources.flags ?? {})];
  const merged: Layer = new Map();
  for (const layer of layers) for (const [keyPath, value] of layer) merged.set(keyPath, value);
  const config = assemble(merged);
  checkCrossFieldRules(config, merged);
  return config;
}
