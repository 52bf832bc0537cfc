import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BROKER_CONFIG_KEYS,
  DEFAULT_BROKER_CONFIG,
  formatHostPort,
  loadBrokerConfig,
  parseHostPort,
  type BrokerConfig,
  type BrokerConfigSources,
} from '../../src/broker/config.js';
import { isRunnelError } from '../../src/common/errors.js';
import { DEFAULT_LOG_CONFIG } from '../../src/storage/log-config.js';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-config-'));
  dirs.push(dir);
  return dir;
}

/** Writes a config file (an object as JSON, or raw text) and returns its path. */
function configFile(content: unknown, name = 'runnel.json'): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The INVALID_CONFIG message `load` fails with; fails the test on success or on another error. */
function failure(sources: BrokerConfigSources): string {
  try {
    loadBrokerConfig(sources);
  } catch (err) {
    if (isRunnelError(err, 'INVALID_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('expected INVALID_CONFIG, but the configuration loaded');
}

function hostPortFailure(text: string): string {
  try {
    parseHostPort(text, 'listen');
  } catch (err) {
    if (isRunnelError(err, 'INVALID_CONFIG')) return err.message;
    throw err;
  }
  throw new Error(`expected ${text} to be refused`);
}

const PREFIX = 'invalid configuration: ';

describe('defaults', () => {
  it('loads the documented defaults from no sources, with dataDir made absolute', () => {
    const config = loadBrokerConfig({});
    expect(config).toEqual({ ...DEFAULT_BROKER_CONFIG, dataDir: path.resolve('data') });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9400 });
    expect(config.metricsListen).toEqual({ host: '127.0.0.1', port: 9401 });
    expect(config.log).toEqual(DEFAULT_LOG_CONFIG);
    expect(config.limits).toMatchObject({ maxRequestBytes: 64 * 1024 * 1024, maxInFlightPerStream: 64, subscribeMaxBytes: 4 * 1024 * 1024 });
    expect(config).toMatchObject({ brokerId: 0, logLevel: 'info', autoCreateTopics: false, defaultPartitions: 1, shutdownTimeoutMs: 10_000 });
  });

  it('freezes DEFAULT_BROKER_CONFIG deeply and hands out configs that do not share it', () => {
    expect(Object.isFrozen(DEFAULT_BROKER_CONFIG)).toBe(true);
    for (const part of [DEFAULT_BROKER_CONFIG.listen, DEFAULT_BROKER_CONFIG.metricsListen, DEFAULT_BROKER_CONFIG.log, DEFAULT_BROKER_CONFIG.limits]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    const config = loadBrokerConfig({});
    config.limits.maxTopics = 5;
    config.listen.port = 1;
    expect(DEFAULT_BROKER_CONFIG.limits.maxTopics).toBe(10_000);
    expect(DEFAULT_BROKER_CONFIG.listen.port).toBe(9400);
  });

  it('reads no environment unless one is passed', () => {
    process.env.RUNNEL_MAX_TOPICS = '7';
    try {
      expect(loadBrokerConfig({}).limits.maxTopics).toBe(10_000);
      expect(loadBrokerConfig({ env: process.env }).limits.maxTopics).toBe(7);
    } finally {
      delete process.env.RUNNEL_MAX_TOPICS;
    }
  });
});

describe('precedence: defaults < config file < environment < flags', () => {
  const cases = [
    {
      what: 'a top-level key (listen)',
      file: { listen: '10.0.0.1:1001' },
      env: { RUNNEL_LISTEN: '10.0.0.2:1002' },
      flags: { listen: '10.0.0.3:1003' },
      read: (config: BrokerConfig): unknown => config.listen,
      values: [DEFAULT_BROKER_CONFIG.listen, { host: '10.0.0.1', port: 1001 }, { host: '10.0.0.2', port: 1002 }, { host: '10.0.0.3', port: 1003 }],
    },
    {
      what: 'a limits key (limits.maxRequestBytes)',
      file: { limits: { maxRequestBytes: 2_000_000 } },
      env: { RUNNEL_MAX_REQUEST_BYTES: '3000000' },
      flags: { set: ['limits.maxRequestBytes=4000000'] },
      read: (config: BrokerConfig): unknown => config.limits.maxRequestBytes,
      values: [64 * 1024 * 1024, 2_000_000, 3_000_000, 4_000_000],
    },
    {
      what: 'a log key (log.retentionMs)',
      file: { log: { retentionMs: 1000 } },
      env: { RUNNEL_LOG_RETENTION_MS: '2000' },
      flags: { set: ['log.retentionMs=3000'] },
      read: (config: BrokerConfig): unknown => config.log.retentionMs,
      values: [DEFAULT_LOG_CONFIG.retentionMs, 1000, 2000, 3000],
    },
  ];

  it.each(cases)('each level overrides the one below for $what', ({ file, env, flags, read, values }) => {
    const configPath = configFile(file);
    expect(read(loadBrokerConfig({}))).toEqual(values[0]);
    expect(read(loadBrokerConfig({ configFile: configPath }))).toEqual(values[1]);
    expect(read(loadBrokerConfig({ configFile: configPath, env }))).toEqual(values[2]);
    expect(read(loadBrokerConfig({ configFile: configPath, env, flags }))).toEqual(values[3]);
    // A lower level still shows through where a higher one is silent.
    expect(read(loadBrokerConfig({ env }))).toEqual(values[2]);
    expect(read(loadBrokerConfig({ configFile: configPath, flags: {} }))).toEqual(values[1]);
  });

  it('keeps the keys a higher level does not set', () => {
    const file = configFile({ brokerId: 3, limits: { maxTopics: 50 }, log: { segmentBytes: 1 << 22 } });
    const config = loadBrokerConfig({ configFile: file, env: { RUNNEL_MAX_PARKED_FETCHES: '9' }, flags: { logLevel: 'debug' } });
    expect(config).toMatchObject({ brokerId: 3, logLevel: 'debug', limits: { maxTopics: 50, maxParkedFetches: 9 }, log: { segmentBytes: 1 << 22 } });
    expect(config.limits.maxRequestBytes).toBe(DEFAULT_BROKER_CONFIG.limits.maxRequestBytes);
  });

  it('lets --set override a named flag and a later --set override an earlier one', () => {
    const config = loadBrokerConfig({ flags: { listen: '0.0.0.0:1', set: ['listen=0.0.0.0:2', 'flushIntervalMs=5', 'flushIntervalMs=6'] } });
    expect(config.listen.port).toBe(2);
    expect(config.flushIntervalMs).toBe(6);
  });
});

describe('data directory and config file location', () => {
  it('accepts RUNNEL_DATA as an alias of RUNNEL_DATA_DIR, which wins when both are set, and --data wins over both', () => {
    const dir = tempDir();
    expect(loadBrokerConfig({ env: { RUNNEL_DATA: path.join(dir, 'a') } }).dataDir).toBe(path.join(dir, 'a'));
    const both = { RUNNEL_DATA: path.join(dir, 'a'), RUNNEL_DATA_DIR: path.join(dir, 'b') };
    expect(loadBrokerConfig({ env: both }).dataDir).toBe(path.join(dir, 'b'));
    expect(loadBrokerConfig({ env: both, flags: { data: path.join(dir, 'c') } }).dataDir).toBe(path.join(dir, 'c'));
  });

  it('resolves a relative dataDir against the working directory', () => {
    expect(loadBrokerConfig({ flags: { data: 'rel/logs' } }).dataDir).toBe(path.resolve('rel/logs'));
    expect(loadBrokerConfig({ configFile: configFile({ dataDir: './x' }) }).dataDir).toBe(path.resolve('x'));
  });

  it('finds the config file through configFile, then --config, then RUNNEL_CONFIG', () => {
    const one = configFile({ brokerId: 1 });
    const two = configFile({ brokerId: 2 });
    const three = configFile({ brokerId: 3 });
    expect(loadBrokerConfig({ env: { RUNNEL_CONFIG: three } }).brokerId).toBe(3);
    expect(loadBrokerConfig({ env: { RUNNEL_CONFIG: three }, flags: { config: two } }).brokerId).toBe(2);
    expect(loadBrokerConfig({ env: { RUNNEL_CONFIG: three }, flags: { config: two }, configFile: one }).brokerId).toBe(1);
  });

  it('treats empty environment variables as unset', () => {
    const config = loadBrokerConfig({ env: { RUNNEL_LISTEN: '', RUNNEL_CONFIG: '', RUNNEL_MAX_TOPICS: '' } });
    expect(config.listen).toEqual(DEFAULT_BROKER_CONFIG.listen);
    expect(config.limits.maxTopics).toBe(10_000);
  });
});

describe('--set', () => {
  it('sets top-level, limits and log keys by dotted path, parsing the text', () => {
    const config = loadBrokerConfig({
      flags: {
        set: [
          'flushIntervalMs=250',
          'autoCreateTopics=yes',
          'metricsListen=off',
          'limits.maxInFlightPerStream=8',
          'log.cleanupPolicy=compact',
          'log.retentionBytes=-1',
          'dataDir=/tmp/with=equals',
        ],
      },
    });
    expect(config).toMatchObject({ flushIntervalMs: 250, autoCreateTopics: true, metricsListen: null, dataDir: '/tmp/with=equals' });
    expect(config.limits.maxInFlightPerStream).toBe(8);
    expect(config.log).toMatchObject({ cleanupPolicy: 'compact', retentionBytes: -1 });
  });

  it('takes a single string as well as an array', () => {
    expect(loadBrokerConfig({ flags: { set: 'limits.maxTopics=3' } }).limits.maxTopics).toBe(3);
  });

  it.each([
    ['limits.maxRequestByte=5', 'unknown key "limits.maxRequestByte" (from --set)'],
    ['retentionMs=5', 'unknown key "retentionMs" (from --set)'],
    ['limits=5', 'unknown key "limits" (set its keys one by one, e.g. limits.maxTopics) (from --set)'],
    ['flushIntervalMs', '--set expects key=value, got "flushIntervalMs"'],
    ['=5', '--set expects key=value, got "=5"'],
  ])('refuses %j', (setting, message) => {
    expect(failure({ flags: { set: [setting] } })).toBe(PREFIX + message);
  });

  it('refuses a --set value that is not strings', () => {
    expect(failure({ flags: { set: [1] } })).toBe(`${PREFIX}--set expects key=value strings, got [1]`);
  });
});

describe('validation of single values', () => {
  it('reports the key, the range, the value and its source', () => {
    expect(failure({ env: { RUNNEL_MAX_IN_FLIGHT_PER_STREAM: 'abc' } })).toBe(
      'invalid configuration: limits.maxInFlightPerStream must be an integer from 1 to 10000, got "abc" (from RUNNEL_MAX_IN_FLIGHT_PER_STREAM)',
    );
  });

  it.each([
    [{ env: { RUNNEL_MAX_IN_FLIGHT_PER_STREAM: '0' } }, 'limits.maxInFlightPerStream must be an integer from 1 to 10000, got "0" (from RUNNEL_MAX_IN_FLIGHT_PER_STREAM)'],
    [{ env: { RUNNEL_FETCH_WAIT_MS_MAX: '1.5' } }, 'limits.fetchWaitMsMax must be an integer from 0 to 600000, got "1.5" (from RUNNEL_FETCH_WAIT_MS_MAX)'],
    [{ env: { RUNNEL_MAX_REQUEST_BYTES: '64MiB' } }, 'limits.maxRequestBytes must be an integer from 1024 to 2147483647, got "64MiB" (from RUNNEL_MAX_REQUEST_BYTES)'],
    [{ env: { RUNNEL_MAX_REQUEST_BYTES: '4294967296' } }, 'limits.maxRequestBytes must be an integer from 1024 to 2147483647, got "4294967296" (from RUNNEL_MAX_REQUEST_BYTES)'],
    [{ env: { RUNNEL_BROKER_ID: '-1' } }, 'brokerId must be an integer from 0 to 2147483647, got "-1" (from RUNNEL_BROKER_ID)'],
    [{ flags: { defaultPartitions: '0' } }, 'defaultPartitions must be an integer from 1 to 100000, got "0" (from --default-partitions)'],
    [{ flags: { set: ['shutdownTimeoutMs=99'] } }, 'shutdownTimeoutMs must be an integer from 100 to 3600000, got "99" (from --set shutdownTimeoutMs)'],
    [{ flags: { set: ['flushIntervalMs=0'] } }, 'flushIntervalMs must be an integer from 1 to 86400000, got "0" (from --set flushIntervalMs)'],
    [{ env: { RUNNEL_LOG_LEVEL: 'verbose' } }, 'logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "verbose" (from RUNNEL_LOG_LEVEL)'],
    [{ env: { RUNNEL_AUTO_CREATE_TOPICS: 'maybe' } }, 'autoCreateTopics must be true or false (or 1/0, yes/no), got "maybe" (from RUNNEL_AUTO_CREATE_TOPICS)'],
    [{ env: { RUNNEL_LISTEN: 'localhost' } }, 'listen must be HOST:PORT (e.g. 127.0.0.1:9400, [::1]:9400; port 0 = any free port), got "localhost" (from RUNNEL_LISTEN)'],
    [
      { env: { RUNNEL_METRICS_LISTEN: 'none' } },
      'metricsListen must be HOST:PORT (e.g. 127.0.0.1:9400, [::1]:9400; port 0 = any free port) or "off", got "none" (from RUNNEL_METRICS_LISTEN)',
    ],
    [{ flags: { listen: '::1:9400' } }, 'listen must put an IPv6 address in brackets, e.g. [::1]:9400, got "::1:9400" (from --listen)'],
    [{ env: { RUNNEL_LOG_RETENTION_MS: 'forever' } }, 'log.retentionMs must be an integer, got "forever" (from RUNNEL_LOG_RETENTION_MS)'],
  ])('refuses %j', (sources, message) => {
    expect(failure(sources)).toBe(PREFIX + message);
  });

  it('accepts the edges of a range', () => {
    const config = loadBrokerConfig({ flags: { set: ['shutdownTimeoutMs=100', 'limits.maxInFlightPerStream=10000', 'limits.fetchWaitMsMax=0', 'limits.recentBatchCacheBytes=0'] } });
    expect(config.shutdownTimeoutMs).toBe(100);
    expect(config.limits).toMatchObject({ maxInFlightPerStream: 10_000, fetchWaitMsMax: 0, recentBatchCacheBytes: 0 });
  });

  it('takes numbers and booleans already typed by commander', () => {
    const config = loadBrokerConfig({ flags: { defaultPartitions: 4, autoCreateTopics: true } });
    expect(config).toMatchObject({ defaultPartitions: 4, autoCreateTopics: true });
    expect(failure({ flags: { defaultPartitions: 2.5 } })).toBe(`${PREFIX}defaultPartitions must be an integer from 1 to 100000, got 2.5 (from --default-partitions)`);
  });

  it('states the source of log values that resolveLogConfig refuses', () => {
    expect(failure({ env: { RUNNEL_LOG_SEGMENT_BYTES: '5' } })).toBe(
      `${PREFIX}log.segmentBytes must be an integer from 1024 to 2147483647, got 5 (from RUNNEL_LOG_SEGMENT_BYTES)`,
    );
    expect(failure({ flags: { set: ['log.segmentBytes=1024'] } })).toBe(
      `${PREFIX}log.maxBatchBytes (1048588) must not exceed segmentBytes (1024) (segmentBytes from --set log.segmentBytes)`,
    );
    expect(failure({ flags: { set: ['log.cleanupPolicy=shred'] } })).toBe(
      `${PREFIX}log.cleanupPolicy must be "delete" or "compact", got shred (from --set log.cleanupPolicy)`,
    );
    const file = configFile({ log: { segmentBytes: 4096 } });
    expect(failure({ configFile: file, env: { RUNNEL_LOG_MAX_BATCH_BYTES: '8192' } })).toBe(
      `${PREFIX}log.maxBatchBytes (8192) must not exceed segmentBytes (4096) (segmentBytes from config file ${file}, maxBatchBytes from RUNNEL_LOG_MAX_BATCH_BYTES)`,
    );
  });

  it('expects JSON types in the config file rather than text', () => {
    const file = configFile({ autoCreateTopics: 'true' });
    expect(failure({ configFile: file })).toBe(`${PREFIX}autoCreateTopics must be true or false, got "true" (from config file ${file})`);
    const numbers = configFile({ limits: { maxTopics: '100' } });
    expect(failure({ configFile: numbers })).toBe(`${PREFIX}limits.maxTopics must be an integer from 1 to 1000000, got "100" (from config file ${numbers})`);
    const empty = configFile({ dataDir: '' });
    expect(failure({ configFile: empty })).toBe(`${PREFIX}dataDir must be a non-empty string, got "" (from config file ${empty})`);
  });

  it('parses environment values of known variables even when they are not used otherwise', () => {
    expect(failure({ env: { RUNNEL_PRODUCER_ID_EXPIRATION_MS: '1d' } })).toContain('(from RUNNEL_PRODUCER_ID_EXPIRATION_MS)');
  });
});

describe('cross-field rules', () => {
  it.each([
    [
      { env: { RUNNEL_SUBSCRIBE_MAX_BYTES: String(8 * 1024 * 1024) }, flags: { set: [`limits.fetchMaxBytes=${4 * 1024 * 1024}`] } },
      'limits.subscribeMaxBytes = 8388608 (from RUNNEL_SUBSCRIBE_MAX_BYTES) must not exceed limits.fetchMaxBytes = 4194304 (from --set limits.fetchMaxBytes)',
    ],
    [
      { env: { RUNNEL_MAX_REQUEST_BYTES: '1024' } },
      'log.maxBatchBytes = 1048588 (default) must not exceed limits.maxRequestBytes = 1024 (from RUNNEL_MAX_REQUEST_BYTES)',
    ],
    [
      { flags: { defaultPartitions: '20' }, env: { RUNNEL_MAX_PARTITIONS_PER_TOPIC: '10' } },
      'defaultPartitions = 20 (from --default-partitions) must not exceed limits.maxPartitionsPerTopic = 10 (from RUNNEL_MAX_PARTITIONS_PER_TOPIC)',
    ],
    [
      { env: { RUNNEL_MAX_PARTITIONS_PER_BROKER: '100' } },
      'limits.maxPartitionsPerTopic = 1000 (default) must not exceed limits.maxPartitionsPerBroker = 100 (from RUNNEL_MAX_PARTITIONS_PER_BROKER)',
    ],
    [
      { env: { RUNNEL_LISTEN: '0.0.0.0:9401' } },
      'metricsListen 127.0.0.1:9401 (default) must use another port than listen 0.0.0.0:9401 (from RUNNEL_LISTEN)',
    ],
    [
      { flags: { listen: '[::1]:7000', metricsListen: '[::]:7000' } },
      'metricsListen [::]:7000 (from --metrics-listen) must use another port than listen [::1]:7000 (from --listen)',
    ],
  ])('refuses %j', (sources, message) => {
    expect(failure(sources)).toBe(PREFIX + message);
  });

  it('does not require fetchMaxBytes <= maxRequestBytes', () => {
    const config = loadBrokerConfig({ flags: { set: [`limits.maxRequestBytes=${2 * 1024 * 1024}`, `limits.fetchMaxBytes=${128 * 1024 * 1024}`] } });
    expect(config.limits).toMatchObject({ maxRequestBytes: 2 * 1024 * 1024, fetchMaxBytes: 128 * 1024 * 1024 });
  });

  it('accepts the equal case of every <= rule', () => {
    const config = loadBrokerConfig({
      flags: {
        defaultPartitions: '50',
        set: ['limits.maxPartitionsPerTopic=50', 'limits.maxPartitionsPerBroker=50', 'limits.subscribeMaxBytes=2048', 'limits.fetchMaxBytes=2048', 'log.maxBatchBytes=4096', 'limits.maxRequestBytes=4096'],
      },
    });
    expect(config.defaultPartitions).toBe(50);
  });

  it('lets listen and metricsListen share port 0 (any free port), and skips the check when metrics are off', () => {
    expect(loadBrokerConfig({ flags: { listen: '127.0.0.1:0', metricsListen: '127.0.0.1:0' } }).metricsListen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(loadBrokerConfig({ flags: { listen: '127.0.0.1:9401', metricsListen: 'off' } }).metricsListen).toBeNull();
  });
});

describe('unknown keys and bad files', () => {
  it.each([
    [{ listn: '127.0.0.1:1' }, 'unknown key "listn"'],
    [{ limits: { maxRequestByte: 1 } }, 'unknown key "limits.maxRequestByte"'],
    [{ log: { retentionMS: 1 } }, 'unknown key "log.retentionMS"'],
    [{ log: { level: 'debug' } }, 'unknown key "log.level"'],
  ])('refuses %j in the config file', (content, message) => {
    const file = configFile(content);
    expect(failure({ configFile: file })).toBe(`${PREFIX}${message} (from config file ${file})`);
  });

  it('refuses a log or limits section that is not an object', () => {
    const file = configFile({ limits: 5 });
    expect(failure({ configFile: file })).toBe(`${PREFIX}limits must be an object, got 5 (from config file ${file})`);
  });

  it('ignores unknown RUNNEL_* variables', () => {
    expect(loadBrokerConfig({ env: { RUNNEL_SOMETHING_ELSE: 'x', RUNNEL_LOG_RETENTION_MSS: 'y' } })).toEqual(loadBrokerConfig({}));
  });

  it('refuses unknown flags and a --config that is not a path', () => {
    expect(failure({ flags: { dataDir: '/tmp/x' } })).toBe(`${PREFIX}unknown flag "dataDir"`);
    expect(failure({ flags: { config: true } })).toBe(`${PREFIX}--config expects a file path, got true`);
  });

  it('names the path of a missing config file', () => {
    const missing = path.join(tempDir(), 'nope.json');
    expect(failure({ configFile: missing })).toBe(`${PREFIX}cannot read config file ${missing} (ENOENT)`);
    expect(failure({ env: { RUNNEL_CONFIG: missing } })).toBe(`${PREFIX}cannot read config file ${missing} (ENOENT)`);
  });

  it('names the path of a config file that is not JSON or not an object', () => {
    const bad = configFile('{ "brokerId": 1, }');
    const message = failure({ configFile: bad });
    expect(message.startsWith(`${PREFIX}config file ${bad} is not valid JSON: `)).toBe(true);
    const array = configFile([1, 2]);
    expect(failure({ configFile: array })).toBe(`${PREFIX}config file ${array} must hold a JSON object`);
  });

  it('reads a config file with a byte-order mark and a full, nested shape', () => {
    const file = configFile(
      '\uFEFF' +
        JSON.stringify({
          brokerId: 2,
          listen: { host: '::1', port: 9500 },
          metricsListen: null,
          logLevel: 'warn',
          autoCreateTopics: true,
          limits: { maxTopics: 10, maxPartitionsPerTopic: 8, maxPartitionsPerBroker: 80 },
          log: { cleanupPolicy: 'compact', retentionMs: -1 },
        }),
    );
    const config = loadBrokerConfig({ configFile: file });
    expect(config).toMatchObject({ brokerId: 2, listen: { host: '::1', port: 9500 }, metricsListen: null, logLevel: 'warn', autoCreateTopics: true });
    expect(config.limits).toMatchObject({ maxTopics: 10, maxPartitionsPerTopic: 8, maxPartitionsPerBroker: 80 });
    expect(config.log).toMatchObject({ cleanupPolicy: 'compact', retentionMs: -1 });
  });

  it('refuses a host:port object in the file that has the wrong shape', () => {
    const file = configFile({ listen: { host: 'h', port: 70000 } });
    expect(failure({ configFile: file })).toBe(
      `${PREFIX}listen must be {"host": string, "port": 0..65535} or a "HOST:PORT" string, got {"host":"h","port":70000} (from config file ${file})`,
    );
  });
});

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:9400', '127.0.0.1', 9400],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['localhost:65535', 'localhost', 65535],
    ['broker-1.example.com:80', 'broker-1.example.com', 80],
    ['[::1]:9400', '::1', 9400],
    ['[::]:0', '::', 0],
    ['[fe80::1%eth0]:9400', 'fe80::1%eth0', 9400],
    ['  10.1.2.3:7  ', '10.1.2.3', 7],
  ])('parses %j', (text, host, port) => {
    expect(parseHostPort(text, 'listen')).toEqual({ host, port });
  });

  it.each([
    ['localhost', 'must be HOST:PORT'],
    ['localhost:', 'must be HOST:PORT'],
    [':9400', 'must be HOST:PORT'],
    ['host:-1', 'must be HOST:PORT'],
    ['host:12x', 'must be HOST:PORT'],
    ['a b:1', 'must be HOST:PORT'],
    ['[::1]', 'must be HOST:PORT'],
    ['host:65536', 'must have a port from 0 to 65535'],
    ['::1:9400', 'must put an IPv6 address in brackets, e.g. [::1]:9400'],
    ['[not-ipv6]:1', 'must have an IPv6 address inside the brackets'],
    ['[127.0.0.1]:1', 'must have an IPv6 address inside the brackets'],
  ])('refuses %j', (text, problem) => {
    const message = hostPortFailure(text);
    expect(message.startsWith(`${PREFIX}listen ${problem}`)).toBe(true);
    expect(message.endsWith(`got ${JSON.stringify(text)}`)).toBe(true);
  });

  it('formats what it parses back, with brackets for IPv6', () => {
    for (const text of ['127.0.0.1:9400', '[::1]:0', 'localhost:1']) expect(formatHostPort(parseHostPort(text, 'x'))).toBe(text);
  });
});

describe('booleans', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['Yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
    [' no ', false],
  ])('reads %j as %s', (text, value) => {
    expect(loadBrokerConfig({ env: { RUNNEL_AUTO_CREATE_TOPICS: text } }).autoCreateTopics).toBe(value);
    expect(loadBrokerConfig({ flags: { set: [`autoCreateTopics=${text}`] } }).autoCreateTopics).toBe(value);
  });

  it.each(['on', 'off', 'y', '2', ''])('refuses %j', (text) => {
    expect(failure({ flags: { set: [`autoCreateTopics=${text}`] } })).toContain('autoCreateTopics must be true or false (or 1/0, yes/no)');
  });

  it('lets a flag turn off what the environment turned on', () => {
    expect(loadBrokerConfig({ env: { RUNNEL_AUTO_CREATE_TOPICS: 'yes' }, flags: { autoCreateTopics: false } }).autoCreateTopics).toBe(false);
  });
});

describe('the key table', () => {
  it('derives environment names in UPPER_SNAKE_CASE, log keys with a LOG_ prefix, all distinct', () => {
    const envOf = (keyPath: string): readonly string[] | undefined => BROKER_CONFIG_KEYS.find((key) => key.path === keyPath)?.env;
    expect(envOf('dataDir')).toEqual(['RUNNEL_DATA', 'RUNNEL_DATA_DIR']);
    expect(envOf('metricsListen')).toEqual(['RUNNEL_METRICS_LISTEN']);
    expect(envOf('logLevel')).toEqual(['RUNNEL_LOG_LEVEL']);
    expect(envOf('limits.fetchWaitMsMax')).toEqual(['RUNNEL_FETCH_WAIT_MS_MAX']);
    expect(envOf('limits.maxInFlightPerStream')).toEqual(['RUNNEL_MAX_IN_FLIGHT_PER_STREAM']);
    expect(envOf('log.retentionMs')).toEqual(['RUNNEL_LOG_RETENTION_MS']);
    const names = BROKER_CONFIG_KEYS.flatMap((key) => key.env);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain('RUNNEL_CONFIG');
  });

  it('covers every field of BrokerConfig, BrokerLimits, LogConfig and the groups config', () => {
    const paths = BROKER_CONFIG_KEYS.map((key) => key.path).sort();
    const expected = [
      ...Object.keys(DEFAULT_BROKER_CONFIG).filter((key) => key !== 'log' && key !== 'limits' && key !== 'groups'),
      ...Object.keys(DEFAULT_BROKER_CONFIG.limits).map((key) => `limits.${key}`),
      ...Object.keys(DEFAULT_BROKER_CONFIG.log).map((key) => `log.${key}`),
      ...Object.keys(DEFAULT_BROKER_CONFIG.groups).map((key) => `groups.${key}`),
    ].sort();
    expect(paths).toEqual(expected);
  });

  it('checks the groups keys: ranges, the session timeout order, and the config file form', () => {
    const config = loadBrokerConfig({ flags: { set: ['groups.heartbeatIntervalMs=500', 'groups.minSessionTimeoutMs=2000'] }, env: { RUNNEL_GROUPS_MAX_GROUPS: '7' } });
    expect(config.groups).toMatchObject({ heartbeatIntervalMs: 500, minSessionTimeoutMs: 2000, maxGroups: 7, defaultSessionTimeoutMs: 10_000 });
    expect(() => loadBrokerConfig({ flags: { set: ['groups.minSessionTimeoutMs=20000'] } })).toThrow(/groups\.minSessionTimeoutMs = 20000 .* must not exceed groups\.defaultSessionTimeoutMs/);
    expect(() => loadBrokerConfig({ flags: { set: ['groups.maxGroups=0'] } })).toThrow(/groups\.maxGroups must be an integer from 1/);
    expect(() => loadBrokerConfig({ flags: { set: ['groups=1'] } })).toThrow(/set its keys one by one, e\.g\. groups\.maxGroups/);
  });

  it('is documented in full in the comment at the top of config.ts', () => {
    const source = fs.readFileSync(fileURLToPath(new URL('../../src/broker/config.ts', import.meta.url)), 'utf8');
    const header = source.slice(0, source.indexOf('*/'));
    for (const key of BROKER_CONFIG_KEYS) {
      expect(header).toMatch(new RegExp(`^ \\* ${key.path.replace('.', '\\.')} `, 'm'));
      for (const name of key.env) expect(header).toContain(name);
      if (key.flag !== undefined) expect(header).toContain(key.flag);
    }
  });
});

describe('with commander', () => {
  it('takes the option object of a commander 14 command as flags', () => {
    const collect = (value: string, previous: string[]): string[] => [...previous, value];
    const command = new Command()
      .exitOverride()
      .option('--data <dir>')
      .option('--listen <host:port>')
      .option('--metrics-listen <host:port|off>')
      .option('--log-level <level>')
      .option('--auto-create-topics')
      .option('--no-auto-create-topics')
      .option('--default-partitions <n>')
      .option('--config <file>')
      .option('--set <key=value>', 'any key', collect, []);
    const file = configFile({ limits: { maxTopics: 12 } });
    command.parse(
      ['--data', '/srv/runnel', '--listen', '[::]:9500', '--metrics-listen', 'off', '--log-level', 'debug', '--auto-create-topics',
        '--default-partitions', '3', '--config', file, '--set', 'log.retentionMs=60000', '--set', 'limits.maxParkedFetches=5'],
      { from: 'user' },
    );
    const config = loadBrokerConfig({ flags: command.opts(), env: {} });
    expect(config).toMatchObject({
      dataDir: '/srv/runnel',
      listen: { host: '::', port: 9500 },
      metricsListen: null,
      logLevel: 'debug',
      autoCreateTopics: true,
      defaultPartitions: 3,
      limits: { maxTopics: 12, maxParkedFetches: 5 },
      log: { retentionMs: 60_000 },
    });
  });
});
