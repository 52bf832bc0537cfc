/**
 * Broker benchmark: a broker process against a raw grpc-js server process, driven by client
 * processes, in one run, reported as ratios (machines are shared and noisy; absolute numbers
 * drift). Three kinds of child process, all `process.execPath`:
 *
 *   broker      `node dist/src/cli/index.js broker` on a fresh temp data dir, default config
 *   raw server  dist/bench/broker-bench-raw-server.js: a generic gRPC service with Buffer
 *               passthrough serialization (no protobuf), doing nothing with what it gets
 *   client      dist/bench/broker-bench-client.js, one per measurement, given its job as JSON
 *
 *   produce   raw client stream of the same 64 KiB batches, as fast as flow control allows
 *             (baseline, the ceiling) vs ProduceStream with `--window` requests in flight,
 *             acks leader and acks all; plus, as context, a raw bidirectional stream with the
 *             same window and an answer per message, unary Produce with `--window` calls in
 *             flight, and ProduceStream over `--partitions` partitions (round robin)
 *   fetch     a topic of `--fetch-gib` GiB written first (ProduceStream, then one acks=all
 *             request so it is fsynced), then a Fetch loop (maxBytes 4 MiB, following
 *             nextOffset) vs a raw unary loop of 4 MiB answers, and Subscribe from the log start
 *             vs a raw server stream of 4 MiB messages
 *   options   (full runs; `--options-trial`) the raw baseline and the subject of each scenario
 *             again under each client channel-option preset (CHANNEL_PRESETS)
 *
 * Every figure is the median of `--reps` repetitions; within a repetition the scenarios run
 * back to back, in reverse order every other repetition. Ratios are medians of per-repetition
 * ratios. MB/s means 10^6 bytes per second. See bench/README.md.
 *
 * CPU time of the server and client processes is sampled around each timed part (/proc), so
 * the table also shows CPU per byte, which drifts less than MB/s on a busy machine.
 *
 * Usage: node dist/bench/broker-bench.js [--quick] [--mib N] [--fetch-gib N] [--window N]
 *        [--reps N] [--partitions N] [--client-options NAME] [--options-trial | --no-options-trial]
 *        [--trial-reps N] [--only produce|fetch] [--scenarios LIST] [--broker-cpu-prof DIR]
 *        [--client-cpu-prof DIR] [--broker-node-args=S] [--client-node-args=S] [--dir DIR]
 *        [--json [FILE]]      (--help lists them)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadPackageDefinition } from '../src/common/proto.js';
import {
  BATCH_BYTES,
  BATCH_POOL_SIZE,
  CHANNEL_PRESETS,
  GIB,
  KIB,
  MIB,
  RECORD_VALUE_BYTES,
  listeningAddress,
  type ClientEvent,
  type DownloadJob,
  type Job,
  type JobResult,
  type UploadJob,
} from './broker-bench-common.js';
import { comparisonTable, machine as reportMachine, median, row, writeReport, type Comparison } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '..', 'src', 'cli', 'index.js');
const CLIENT = path.join(HERE, 'broker-bench-client.js');
const RAW_SERVER = path.join(HERE, 'broker-bench-raw-server.js');

const FETCH_CHUNK_BYTES = 4 * MIB;
const START_TIMEOUT_MS = 30_000;
/** The broker's shutdownTimeoutMs (10 s) plus its exit margin (5 s), plus slack. */
const STOP_TIMEOUT_MS = 20_000;

const TARGETS = {
  streamLeaderVsRaw: 0.7,
  streamAllVsLeader: 0.5,
} as const;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  produceBytes: number;
  fetchBytes: number;
  warmupBytes: number;
  reps: number;
  window: number;
  partitions: number;
  preset: string;
  optionsTrial: boolean;
  trialReps: number;
  phases: { produce: boolean; fetch: boolean };
  /** null: every scenario; else only these (names as in the table). */
  scenarios: Set<string> | null;
  brokerCpuProfDir: string | null;
  /** Extra node flags for the broker process only (experiments, e.g. V8 heap flags). */
  brokerNodeArgs: string[];
  /** Extra node flags for every client (baseline and subject alike). */
  clientNodeArgs: string[];
  clientCpuProfDir: string | null;
  baseDir: string;
  quick: boolean;
  /** null: no JSON; '-': JSON to stdout (the table goes to stderr); else a file. */
  jsonTarget: string | null;
}

const USAGE = `usage: node dist/bench/broker-bench.js [options]
  --mib N               bytes produced by each produce measurement, MiB (default 512; --quick 64)
  --fetch-gib N         size of the topic the fetch tests read, GiB (default 1; --quick 0.1)
  --window N            requests in flight: ProduceStream, raw bidi stream, unary Produce (default 16; broker max 64)
  --reps N              repetitions, the median is reported (default 3)
  --partitions N        partitions of the multi-partition ProduceStream variant, 0 = skip it (default 8)
  --client-options NAME client channel options for every measurement: ${Object.keys(CHANNEL_PRESETS).join(', ')} (default default)
  --options-trial       also run baseline + subject under every channel-option preset (default in full runs)
  --no-options-trial    skip it (default with --quick)
  --trial-reps N        repetitions of the options trial (default --reps; --quick 1)
  --only PHASE          produce or fetch: run one phase only
  --scenarios LIST      comma-separated scenario names to run (e.g. streamLeader for a clean profile)
  --broker-cpu-prof DIR run the broker (and the raw server) with --cpu-prof, profiles written to DIR at exit
  --broker-node-args=S  extra node flags for the broker process only, space-separated
                        (e.g. --broker-node-args=--initial-old-space-size=128); the raw server gets none
  --client-node-args=S  extra node flags for every client process, baseline and subject alike
  --client-cpu-prof DIR run every client with --cpu-prof, profiles written to DIR
  --dir DIR             parent of the temp directory (default os.tmpdir())
  --quick               small volumes, finishes in about a minute
  --json [FILE]         write every figure as JSON to FILE, or to stdout without FILE`;

const VALUE_FLAGS = new Set(['--mib', '--fetch-gib', '--window', '--reps', '--partitions', '--client-options', '--trial-reps', '--only', '--scenarios', '--broker-cpu-prof', '--broker-node-args', '--client-node-args', '--client-cpu-prof', '--dir', '--json']);
const BOOLEAN_FLAGS = new Set(['--quick', '--options-trial', '--no-options-trial']);

function parseArgs(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (raw === '--help' || raw === '-h') exitWithUsage(0);
    const equals = raw.startsWith('--') ? raw.indexOf('=') : -1;
    if (equals > 0) {
      const name = raw.slice(0, equals);
      if (!VALUE_FLAGS.has(name)) exitWithUsage(2, `unknown option ${name}`);
      flags.set(name, raw.slice(equals + 1));
      continue;
    }
    const arg = raw;
    if (!VALUE_FLAGS.has(arg) && !BOOLEAN_FLAGS.has(arg)) exitWithUsage(2, arg.startsWith('--') ? `unknown option ${arg}` : `unexpected argument ${arg}`);
    const next = argv[i + 1];
    const takesValue = VALUE_FLAGS.has(arg) && next !== undefined && !next.startsWith('--');
    if (VALUE_FLAGS.has(arg) && !takesValue && arg !== '--json') exitWithUsage(2, `${arg} needs a value`);
    flags.set(arg, takesValue ? next : '');
    if (takesValue) i++;
  }
  return optionsFromFlags(flags);
}

function optionsFromFlags(flags: Map<string, string>): Options {
  const quick = flags.has('--quick');
  const json = flags.get('--json');
  const reps = Math.round(numberFlag(flags, '--reps', 3));
  const window = Math.round(numberFlag(flags, '--window', 16));
  if (window > 64) exitWithUsage(2, `--window ${window} exceeds the broker's default limits.maxInFlightPerStream (64)`);
  const preset = flags.get('--client-options') ?? 'default';
  if (!(preset in CHANNEL_PRESETS)) exitWithUsage(2, `--client-options must be one of ${Object.keys(CHANNEL_PRESETS).join(', ')}`);
  const only = flags.get('--only');
  if (only !== undefined && only !== 'produce' && only !== 'fetch') exitWithUsage(2, '--only takes produce or fetch');
  const produceBytes = Math.round(numberFlag(flags, '--mib', quick ? 64 : 512) * MIB);
  const optionsTrial = flags.has('--options-trial') ? true : flags.has('--no-options-trial') ? false : !quick;
  return {
    produceBytes,
    fetchBytes: Math.round(numberFlag(flags, '--fetch-gib', quick ? 0.1 : 1) * GIB),
    warmupBytes: quick ? 8 * MIB : 32 * MIB,
    reps,
    window,
    partitions: Math.round(numberFlag(flags, '--partitions', 8, true)),
    preset,
    optionsTrial,
    trialReps: Math.round(numberFlag(flags, '--trial-reps', quick ? 1 : reps)),
    phases: { produce: only !== 'fetch', fetch: only !== 'produce' },
    scenarios: flags.has('--scenarios') ? new Set(flags.get('--scenarios')!.split(',').filter((n) => n !== '')) : null,
    brokerCpuProfDir: dirFlag(flags, '--broker-cpu-prof'),
    brokerNodeArgs: (flags.get('--broker-node-args') ?? '').split(' ').filter((a) => a !== ''),
    clientNodeArgs: (flags.get('--client-node-args') ?? '').split(' ').filter((a) => a !== ''),
    clientCpuProfDir: dirFlag(flags, '--client-cpu-prof'),
    baseDir: flags.get('--dir') || os.tmpdir(),
    quick,
    jsonTarget: json === undefined ? null : json === '' ? '-' : json,
  };
}

function dirFlag(flags: Map<string, string>, name: string): string | null {
  const value = flags.get(name);
  if (value === undefined) return null;
  fs.mkdirSync(value, { recursive: true });
  return path.resolve(value);
}

function numberFlag(flags: Map<string, string>, name: string, fallback: number, zeroAllowed = false): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) exitWithUsage(2, `${name} needs a positive number, got "${raw}"`);
  return value;
}

function exitWithUsage(code: number, problem?: string): never {
  if (problem !== undefined) process.stderr.write(`${problem}\n`);
  (code === 0 ? process.stdout : process.stderr).write(`${USAGE}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();

/** Last resort (an exception escaped): no child outlives the benchmark. */
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function forwardStderr(child: ChildProcess, label: string): void {
  if (child.stderr === null) return;
  readline.createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`[${label}] ${line}\n`));
}

function cpuProfArgs(dir: string | null, name: string): string[] {
  const file = `${name.replace(/[^A-Za-z0-9_-]+/g, '-')}-${Date.now()}.cpuprofile`;
  return dir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', file];
}

/** A long-lived server child (broker or raw server) and the address it printed. */
interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  address: string;
}

function startServer(name: string, args: string[]): Promise<Server> {
  const child = track(spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  forwardStderr(child, name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not print its address within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    let started = false;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const address = started ? null : listeningAddress(line);
      if (address === null) {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      started = true;
      clearTimeout(timer);
      resolve({ name, child, pid: child.pid!, address });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${name} exited (${signal ?? code}) before listening`));
    });
    child.once('error', reject);
  });
}

/** SIGTERM by PID, then SIGKILL if it is still there after STOP_TIMEOUT_MS. */
async function stopServer(server: Server): Promise<number | string | null> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  process.kill(server.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(`${server.name} (pid ${server.pid}) did not stop within ${STOP_TIMEOUT_MS} ms; SIGKILL\n`);
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

const CLOCK_TICKS_PER_SEC = clockTicks();

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** User + system CPU time of a process, ms (Linux /proc); null elsewhere. */
function cpuTimeMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC) * 1000;
  } catch {
    return null;
  }
}

/** Resident set size of a process, bytes (Linux /proc); null elsewhere. */
function rssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * KIB;
  } catch {
    return null;
  }
}

interface ClientRun {
  result: JobResult;
  /** CPU time the server process used between the client's begin and end events. */
  serverCpuMs: number | null;
  serverRssBytes: number | null;
}

/** Runs one client child on `job`, sampling `server`'s CPU time at the client's begin and end events. */
function runClient(job: Job, server: Server, opts: Options, label: string): Promise<ClientRun> {
  const args = [...opts.clientNodeArgs, ...cpuProfArgs(opts.clientCpuProfDir, `client-${label}`), CLIENT, JSON.stringify(job)];
  const child = track(spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  forwardStderr(child, `client ${label}`);
  return new Promise((resolve, reject) => {
    let cpuAtBegin: number | null = null;
    let serverCpuMs: number | null = null;
    let serverRss: number | null = null;
    let result: JobResult | null = null;
    let error: string | null = null;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: ClientEvent;
      try {
        event = JSON.parse(line) as ClientEvent;
      } catch {
        process.stderr.write(`[client ${label}] ${line}\n`);
        return;
      }
      if (event.event === 'begin') cpuAtBegin = cpuTimeMs(server.pid);
      else if (event.event === 'end') {
        const now = cpuTimeMs(server.pid);
        serverCpuMs = now === null || cpuAtBegin === null ? null : now - cpuAtBegin;
        serverRss = rssBytes(server.pid);
      } else if (event.event === 'result') result = event;
      else error = event.message;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (result !== null && code === 0) resolve({ result, serverCpuMs, serverRssBytes: serverRss });
      else reject(new Error(`client ${label} failed (${signal ?? code}): ${error ?? 'no result'}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Admin

interface AdminClient extends grpc.Client {
  createTopics(request: unknown, callback: grpc.requestCallback<{ topics: { name: string; error: { code: string; message: string } | null }[] }>): grpc.ClientUnaryCall;
  deleteTopics(request: unknown, callback: grpc.requestCallback<{ topics: { name: string; error: { code: string; message: string } | null }[] }>): grpc.ClientUnaryCall;
}

type AdminConstructor = new (address: string, credentials: grpc.ChannelCredentials) => AdminClient;

class Admin {
  private readonly client: AdminClient;
  private serial = 0;

  constructor(address: string) {
    const loaded = grpc.loadPackageDefinition(loadPackageDefinition()) as unknown as { runnel: { v1: { Admin: AdminConstructor } } };
    this.client = new loaded.runnel.v1.Admin(address, grpc.credentials.createInsecure());
  }

  /** A fresh topic with the broker's default configs. */
  async createTopic(prefix: string, partitions: number): Promise<string> {
    const name = `${prefix}-${this.serial++}`;
    await this.call('createTopics', { topics: [{ name, partitions, configs: [] }], validateOnly: false });
    return name;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.call('deleteTopics', { names: [name] });
  }

  private call(method: 'createTopics' | 'deleteTopics', request: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client[method](request, (err, response) => {
        if (err !== null) return reject(err);
        const failed = response?.topics.find((t) => t.error);
        if (failed?.error) return reject(new Error(`${method} ${failed.name}: ${failed.error.code}: ${failed.error.message}`));
        resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Figures {
  bytes: number;
  records: number;
  messages: number;
  durationMs: number;
  bytesPerSec: number;
  recordsPerSec: number;
  messagesPerSec: number;
  /** CPU time / wall time of the timed part, % of one core. */
  clientCpuPct: number;
  serverCpuPct: number | null;
  /** CPU time per payload byte, ns (= ms per MB); steadier than MB/s on a busy machine. */
  clientCpuNsPerByte: number;
  serverCpuNsPerByte: number | null;
  serverRssBytes: number | null;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

function figures(run: ClientRun): Figures {
  const { result } = run;
  const seconds = result.durationMs / 1000;
  return {
    bytes: result.bytes,
    records: result.records,
    messages: result.messages,
    durationMs: result.durationMs,
    bytesPerSec: result.bytes / seconds,
    recordsPerSec: result.records / seconds,
    messagesPerSec: result.messages / seconds,
    clientCpuPct: (result.clientCpuMs / result.durationMs) * 100,
    serverCpuPct: run.serverCpuMs === null ? null : (run.serverCpuMs / result.durationMs) * 100,
    clientCpuNsPerByte: (result.clientCpuMs * 1e6) / result.bytes,
    serverCpuNsPerByte: run.serverCpuMs === null ? null : (run.serverCpuMs * 1e6) / result.bytes,
    serverRssBytes: run.serverRssBytes,
    latencyP50Ms: result.latencyP50Ms ?? null,
    latencyP99Ms: result.latencyP99Ms ?? null,
  };
}

interface Env {
  opts: Options;
  broker: Server;
  raw: Server;
  admin: Admin;
}

interface ProduceScenario {
  name: string;
  kind: UploadJob['kind'];
  acks: UploadJob['acks'];
  partitions: number;
}

function produceScenarios(opts: Options): ProduceScenario[] {
  return selected(opts, allProduceScenarios(opts));
}

function allProduceScenarios(opts: Options): ProduceScenario[] {
  const list: ProduceScenario[] = [
    { name: 'rawUpload', kind: 'rawUpload', acks: 'ACKS_LEADER', partitions: 1 },
    { name: 'rawUploadAck', kind: 'rawUploadAck', acks: 'ACKS_LEADER', partitions: 1 },
    { name: 'rawUploadAppend', kind: 'rawUploadAppend', acks: 'ACKS_LEADER', partitions: 1 },
    { name: 'streamLeader', kind: 'produceStream', acks: 'ACKS_LEADER', partitions: 1 },
    { name: 'streamAll', kind: 'produceStream', acks: 'ACKS_ALL', partitions: 1 },
    { name: 'unaryLeader', kind: 'produceUnary', acks: 'ACKS_LEADER', partitions: 1 },
  ];
  if (opts.partitions > 1) {
    list.push({ name: `streamLeader${opts.partitions}p`, kind: 'produceStream', acks: 'ACKS_LEADER', partitions: opts.partitions });
    list.push({ name: `streamAll${opts.partitions}p`, kind: 'produceStream', acks: 'ACKS_ALL', partitions: opts.partitions });
  }
  return list;
}

function selected<T extends { name: string }>(opts: Options, list: T[]): T[] {
  return opts.scenarios === null ? list : list.filter((s) => opts.scenarios!.has(s.name));
}

const isRaw = (kind: Job['kind']): boolean => kind.startsWith('raw');

/** One produce measurement; subjects get a fresh topic, deleted afterwards (outside the timing). */
async function measureProduce(env: Env, scenario: ProduceScenario, preset: string, bytes: number, warmupBytes: number, label: string): Promise<Figures> {
  const { opts, admin } = env;
  const raw = isRaw(scenario.kind);
  const topic = raw ? '' : await admin.createTopic('bench', scenario.partitions);
  try {
    const job: UploadJob = {
      kind: scenario.kind,
      target: raw ? env.raw.address : env.broker.address,
      channelOptions: CHANNEL_PRESETS[preset]!,
      bytes,
      warmupBytes,
      window: opts.window,
      topic,
      partitions: scenario.partitions,
      acks: scenario.acks,
      finalFlush: false,
    };
    const result = figures(await runClient(job, raw ? env.raw : env.broker, opts, label));
    progress(`  ${label}: ${describe(result)}`);
    return result;
  } finally {
    if (!raw) await admin.deleteTopic(topic);
  }
}

/** Runs `steps` in order on even repetitions and in reverse order on odd ones. */
async function inAlternatingOrder<T>(rep: number, steps: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(steps.length);
  const order = steps.map((_, i) => i);
  if (rep % 2 === 1) order.reverse();
  for (const i of order) results[i] = await steps[i]!();
  return results;
}

type RepTable = Record<string, Figures>[];

async function runProducePhase(env: Env): Promise<RepTable> {
  const { opts } = env;
  const scenarios = produceScenarios(opts);
  progress(`produce: warm-up (${opts.warmupBytes / MIB} MiB per scenario, not reported)`);
  for (const s of scenarios) await measureProduce(env, s, opts.preset, opts.warmupBytes, 0, `warm-up ${s.name}`);
  const reps: RepTable = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    progress(`produce rep ${rep + 1}/${opts.reps} (${opts.produceBytes / MIB} MiB each, ${rep % 2 === 0 ? 'forward' : 'reverse'} order)`);
    const results = await inAlternatingOrder(
      rep,
      scenarios.map((s) => () => measureProduce(env, s, opts.preset, opts.produceBytes, opts.warmupBytes, `${s.name} rep ${rep + 1}`)),
    );
    reps.push(Object.fromEntries(scenarios.map((s, i) => [s.name, results[i]!])));
  }
  return reps;
}

interface FetchTopic {
  name: string;
  endOffset: number;
  logBytes: number;
  fill: Figures;
}

/** Writes the fetch topic with ProduceStream (acks leader), then one acks=all request (fsync). */
async function fillFetchTopic(env: Env): Promise<FetchTopic> {
  const { opts, admin } = env;
  const name = await admin.createTopic('bench-fetch', 1);
  progress(`fetch: writing ${(opts.fetchBytes / GIB).toFixed(2)} GiB to ${name}`);
  const job: UploadJob = {
    kind: 'produceStream',
    target: env.broker.address,
    channelOptions: CHANNEL_PRESETS[opts.preset]!,
    bytes: opts.fetchBytes,
    warmupBytes: 0,
    window: opts.window,
    topic: name,
    partitions: 1,
    acks: 'ACKS_LEADER',
    finalFlush: true,
  };
  const run = await runClient(job, env.broker, opts, 'fill');
  const fill = figures(run);
  progress(`  fill: ${describe(fill)}`);
  return { name, endOffset: run.result.endOffset!, logBytes: run.result.totalBytesSent!, fill };
}

interface FetchScenario {
  name: string;
  kind: DownloadJob['kind'];
}

const FETCH_SCENARIOS: FetchScenario[] = [
  { name: 'rawGet', kind: 'rawGet' },
  { name: 'fetch', kind: 'fetch' },
  { name: 'rawDownload', kind: 'rawDownload' },
  { name: 'subscribe', kind: 'subscribe' },
];

async function measureFetch(env: Env, topic: FetchTopic, scenario: FetchScenario, preset: string, label: string): Promise<Figures> {
  const raw = isRaw(scenario.kind);
  const job: DownloadJob = {
    kind: scenario.kind,
    target: raw ? env.raw.address : env.broker.address,
    channelOptions: CHANNEL_PRESETS[preset]!,
    bytes: topic.logBytes,
    warmupBytes: Math.min(env.opts.warmupBytes, Math.floor(topic.logBytes / 4)),
    topic: topic.name,
    endOffset: topic.endOffset,
    chunkBytes: FETCH_CHUNK_BYTES,
  };
  const result = figures(await runClient(job, raw ? env.raw : env.broker, env.opts, label));
  progress(`  ${label}: ${describe(result)}`);
  return result;
}

async function runFetchReps(env: Env, topic: FetchTopic): Promise<RepTable> {
  const { opts } = env;
  const scenarios = selected(opts, FETCH_SCENARIOS);
  const reps: RepTable = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    progress(`fetch rep ${rep + 1}/${opts.reps} (${(topic.logBytes / MIB).toFixed(0)} MiB each)`);
    const results = await inAlternatingOrder(
      rep,
      scenarios.map((s) => () => measureFetch(env, topic, s, opts.preset, `${s.name} rep ${rep + 1}`)),
    );
    reps.push(Object.fromEntries(scenarios.map((s, i) => [s.name, results[i]!])));
  }
  return reps;
}

// ---------------------------------------------------------------------------------------------
// Options trial: baseline and subject under every channel-option preset

interface TrialPair {
  name: string;
  baseline: string;
  subject: string;
}

interface TrialResult {
  preset: string;
  channelOptions: grpc.ChannelOptions;
  pairs: { name: string; baselineName: string; subjectName: string; baseline: Summary; subject: Summary; ratioPerRep: number[]; ratio: number }[];
}

async function runTrial(
  env: Env,
  pairs: TrialPair[],
  measureOne: (scenarioName: string, preset: string, label: string) => Promise<Figures>,
): Promise<TrialResult[]> {
  const presets = Object.keys(CHANNEL_PRESETS);
  const perPreset = new Map<string, Record<string, Figures>[]>(presets.map((p) => [p, []]));
  for (let rep = 0; rep < env.opts.trialReps; rep++) {
    progress(`options trial rep ${rep + 1}/${env.opts.trialReps}: ${pairs.map((p) => p.name).join(', ')} under ${presets.join(', ')}`);
    const steps = presets.flatMap((preset) =>
      pairs.flatMap((pair) => [pair.baseline, pair.subject].map((name) => async () => ({ preset, name, figures: await measureOne(name, preset, `${preset} ${name} rep ${rep + 1}`) }))),
    );
    const results = await inAlternatingOrder(rep, steps);
    for (const preset of presets) {
      perPreset.get(preset)!.push(Object.fromEntries(results.filter((r) => r.preset === preset).map((r) => [r.name, r.figures])));
    }
  }
  return presets.map((preset) => {
    const reps = perPreset.get(preset)!;
    return {
      preset,
      channelOptions: CHANNEL_PRESETS[preset]!,
      pairs: pairs.map((pair) => {
        const ratioPerRep = reps.map((r) => r[pair.subject]!.bytesPerSec / r[pair.baseline]!.bytesPerSec);
        return {
          name: pair.name,
          baselineName: pair.baseline,
          subjectName: pair.subject,
          baseline: summarize(reps.map((r) => r[pair.baseline]!)),
          subject: summarize(reps.map((r) => r[pair.subject]!)),
          ratioPerRep,
          ratio: median(ratioPerRep),
        };
      }),
    };
  });
}

function produceTrial(env: Env): Promise<TrialResult[]> {
  const byName = new Map(allProduceScenarios(env.opts).map((s) => [s.name, s]));
  return runTrial(env, [{ name: 'produce', baseline: 'rawUpload', subject: 'streamLeader' }], (name, preset, label) =>
    measureProduce(env, byName.get(name)!, preset, env.opts.produceBytes, env.opts.warmupBytes, label),
  );
}

function fetchTrial(env: Env, topic: FetchTopic): Promise<TrialResult[]> {
  const byName = new Map(FETCH_SCENARIOS.map((s) => [s.name, s]));
  return runTrial(env, [{ name: 'fetch', baseline: 'rawGet', subject: 'fetch' }], (name, preset, label) => measureFetch(env, topic, byName.get(name)!, preset, label));
}

// ---------------------------------------------------------------------------------------------
// Statistics and report


function medianOrNull(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : median(present);
}

interface Summary {
  reps: Figures[];
  medianBytesPerSec: number;
  medianRecordsPerSec: number;
  medianMessagesPerSec: number;
  medianDurationMs: number;
  medianClientCpuPct: number;
  medianServerCpuPct: number | null;
  medianClientCpuNsPerByte: number;
  medianServerCpuNsPerByte: number | null;
  medianLatencyP50Ms: number | null;
  medianLatencyP99Ms: number | null;
  maxServerRssBytes: number | null;
}

function summarize(reps: Figures[]): Summary {
  const rss = reps.map((r) => r.serverRssBytes).filter((v): v is number => v !== null);
  return {
    reps,
    medianBytesPerSec: median(reps.map((r) => r.bytesPerSec)),
    medianRecordsPerSec: median(reps.map((r) => r.recordsPerSec)),
    medianMessagesPerSec: median(reps.map((r) => r.messagesPerSec)),
    medianDurationMs: median(reps.map((r) => r.durationMs)),
    medianClientCpuPct: median(reps.map((r) => r.clientCpuPct)),
    medianServerCpuPct: medianOrNull(reps.map((r) => r.serverCpuPct)),
    medianClientCpuNsPerByte: median(reps.map((r) => r.clientCpuNsPerByte)),
    medianServerCpuNsPerByte: medianOrNull(reps.map((r) => r.serverCpuNsPerByte)),
    medianLatencyP50Ms: medianOrNull(reps.map((r) => r.latencyP50Ms)),
    medianLatencyP99Ms: medianOrNull(reps.map((r) => r.latencyP99Ms)),
    maxServerRssBytes: rss.length === 0 ? null : Math.max(...rss),
  };
}


function compare(reps: RepTable, name: string, subject: string, baseline: string, target: number | null): Comparison | null {
  if (reps.length === 0 || reps[0]![subject] === undefined || reps[0]![baseline] === undefined) return null;
  const ratioPerRep = reps.map((r) => r[subject]!.bytesPerSec / r[baseline]!.bytesPerSec);
  const ratio = median(ratioPerRep);
  return { name, subject, baseline, ratio, ratioPerRep, target, pass: target === null ? null : ratio >= target };
}

function comparisons(produce: RepTable, fetch: RepTable, opts: Options): Comparison[] {
  const p = opts.partitions;
  const list = [
    compare(produce, 'ProduceStream acks leader vs raw grpc-js', 'streamLeader', 'rawUpload', TARGETS.streamLeaderVsRaw),
    compare(produce, 'acks all vs acks leader (ProduceStream)', 'streamAll', 'streamLeader', TARGETS.streamAllVsLeader),
    compare(produce, 'ProduceStream acks all vs raw grpc-js', 'streamAll', 'rawUpload', null),
    compare(produce, 'ProduceStream vs raw bidi, same window', 'streamLeader', 'rawUploadAck', null),
    compare(produce, 'raw bidi with window vs raw client stream', 'rawUploadAck', 'rawUpload', null),
    compare(produce, 'ProduceStream vs raw bidi + file append', 'streamLeader', 'rawUploadAppend', null),
    compare(produce, 'raw bidi + file append vs raw client stream', 'rawUploadAppend', 'rawUpload', null),
    compare(produce, 'unary Produce vs ProduceStream (acks leader)', 'unaryLeader', 'streamLeader', null),
    compare(produce, 'unary Produce vs raw grpc-js', 'unaryLeader', 'rawUpload', null),
    compare(produce, `${p} partitions vs 1 (acks leader)`, `streamLeader${p}p`, 'streamLeader', null),
    compare(produce, `${p} partitions vs 1 (acks all)`, `streamAll${p}p`, 'streamAll', null),
    compare(fetch, 'Fetch loop vs raw unary loop', 'fetch', 'rawGet', null),
    compare(fetch, 'Subscribe vs raw server stream', 'subscribe', 'rawDownload', null),
  ];
  return list.filter((c): c is Comparison => c !== null);
}

function machine(): Record<string, unknown> {
  return reportMachine({ grpcJs: packageVersion('@grpc/grpc-js') });
}

function packageVersion(name: string): string {
  try {
    const file = path.join(HERE, '..', '..', 'node_modules', ...name.split('/'), 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function describe(f: Figures): string {
  const cpu = f.serverCpuPct === null ? '' : `, server CPU ${f.serverCpuPct.toFixed(0)}%`;
  return `${(f.bytesPerSec / 1e6).toFixed(0)} MB/s, ${(f.recordsPerSec / 1e6).toFixed(2)} M records/s${cpu}, client CPU ${f.clientCpuPct.toFixed(0)}%`;
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}


const fixed = (value: number | null, digits: number): string => (value === null ? '-' : value.toFixed(digits));

function figuresTable(measurements: Record<string, Summary>): string[] {
  const widths = [18, 6, 10, 7, 7, 7, 7, 8, 8, 7, 7];
  const lines = [row(['measurement', 'MB/s', 'records/s', 'msgs/s', 'ms', 'srv CPU', 'cli CPU', 'srv ns/B', 'cli ns/B', 'p50 ms', 'p99 ms'], widths)];
  for (const [name, s] of Object.entries(measurements)) {
    lines.push(
      row(
        [
          name,
          (s.medianBytesPerSec / 1e6).toFixed(0),
          s.medianRecordsPerSec === 0 ? '-' : s.medianRecordsPerSec.toFixed(0),
          s.medianMessagesPerSec.toFixed(0),
          s.medianDurationMs.toFixed(0),
          s.medianServerCpuPct === null ? '-' : `${s.medianServerCpuPct.toFixed(0)}%`,
          `${s.medianClientCpuPct.toFixed(0)}%`,
          fixed(s.medianServerCpuNsPerByte, 2),
          s.medianClientCpuNsPerByte.toFixed(2),
          fixed(s.medianLatencyP50Ms, 1),
          fixed(s.medianLatencyP99Ms, 1),
        ],
        widths,
      ),
    );
  }
  return lines;
}


function trialTable(trials: TrialResult[]): string[] {
  if (trials.length === 0) return [];
  const widths = [10, 8, 22, 12, 12, 6, 16];
  const lines = [row(['preset', 'pair', 'baseline / subject', 'base MB/s', 'subj MB/s', 'ratio', 'per rep'], widths)];
  for (const t of trials) {
    for (const p of t.pairs) {
      lines.push(
        row(
          [
            t.preset,
            p.name,
            `${p.baselineName} / ${p.subjectName}`,
            (p.baseline.medianBytesPerSec / 1e6).toFixed(0),
            (p.subject.medianBytesPerSec / 1e6).toFixed(0),
            p.ratio.toFixed(2),
            p.ratioPerRep.map((r) => r.toFixed(2)).join(' '),
          ],
          widths,
        ),
      );
    }
  }
  return lines;
}

function describeMachine(m: Record<string, unknown>): string {
  const memGiB = (Number(m.memoryBytes) / GIB).toFixed(1);
  const load = (m.loadAverageAtStart as number[]).map((v) => v.toFixed(2)).join(' ');
  return `machine: ${String(m.cpuModel)}, ${String(m.cores)} cores, ${memGiB} GiB RAM, Node ${String(m.node)}, grpc-js ${String(m.grpcJs)}, ${String(m.platform)}; load average at start ${load}`;
}

function settings(opts: Options, batch: { recordsPerBatch: number; batchBytes: number } | null): Record<string, unknown> {
  return {
    quick: opts.quick,
    produceBytes: opts.produceBytes,
    fetchBytes: opts.fetchBytes,
    warmupBytesPerMeasurement: opts.warmupBytes,
    reps: opts.reps,
    window: opts.window,
    partitionsVariant: opts.partitions,
    clientOptionsPreset: opts.preset,
    clientChannelOptions: CHANNEL_PRESETS[opts.preset],
    optionsTrial: opts.optionsTrial,
    trialReps: opts.trialReps,
    channelPresets: CHANNEL_PRESETS,
    batchBytesTarget: BATCH_BYTES,
    batchBytes: batch?.batchBytes ?? null,
    recordsPerBatch: batch?.recordsPerBatch ?? null,
    recordValueBytes: RECORD_VALUE_BYTES,
    recordKey: 'null',
    distinctPrebuiltBatches: BATCH_POOL_SIZE,
    fetchMaxBytes: FETCH_CHUNK_BYTES,
    broker: `node ${opts.brokerNodeArgs.map((a) => `${a} `).join('')}dist/src/cli/index.js broker --data <temp> --listen 127.0.0.1:0 --metrics-listen off --log-level warn (default config)`,
    tempDirParent: opts.baseDir,
    brokerCpuProfDir: opts.brokerCpuProfDir,
    brokerNodeArgs: opts.brokerNodeArgs,
    clientNodeArgs: opts.clientNodeArgs,
    clientCpuProfDir: opts.clientCpuProfDir,
    mbUnit: 'MB = 10^6 bytes',
    cpuMethod: 'server CPU: /proc/<pid>/stat utime+stime between the client\'s begin and end events; client CPU: process.cpuUsage() over the timed part; % of one core',
    ratioMethod: 'median over repetitions of subject/baseline bytes-per-second; scenarios run in forward order on even repetitions, reverse on odd ones',
  };
}

// ---------------------------------------------------------------------------------------------
// Main

interface Outcome {
  produce: RepTable;
  fetch: RepTable;
  fetchTopic: FetchTopic | null;
  trials: { produce: TrialResult[]; fetch: TrialResult[] };
}

async function runPhases(env: Env): Promise<Outcome> {
  const outcome: Outcome = { produce: [], fetch: [], fetchTopic: null, trials: { produce: [], fetch: [] } };
  const { opts } = env;
  if (opts.phases.produce && produceScenarios(opts).length > 0) {
    outcome.produce = await runProducePhase(env);
    if (opts.optionsTrial) outcome.trials.produce = await produceTrial(env);
  }
  if (opts.phases.fetch && selected(opts, FETCH_SCENARIOS).length > 0) {
    const topic = await fillFetchTopic(env);
    outcome.fetchTopic = topic;
    try {
      outcome.fetch = await runFetchReps(env, topic);
      if (opts.optionsTrial) outcome.trials.fetch = await fetchTrial(env, topic);
    } finally {
      await env.admin.deleteTopic(topic.name);
    }
  }
  return outcome;
}

function recordsPerBatchFrom(outcome: Outcome): { recordsPerBatch: number; batchBytes: number } | null {
  const sample = outcome.produce[0]?.streamLeader ?? outcome.fetchTopic?.fill;
  if (sample === undefined) return null;
  return { recordsPerBatch: sample.records / sample.messages, batchBytes: sample.bytes / sample.messages };
}

function buildDocument(opts: Options, outcome: Outcome, startedAt: Date, brokerExit: unknown): Record<string, unknown> {
  const names = [...new Set([...outcome.produce.flatMap((r) => Object.keys(r)), ...outcome.fetch.flatMap((r) => Object.keys(r))])];
  const measurements: Record<string, Summary> = {};
  for (const name of names) {
    const table = outcome.produce[0]?.[name] !== undefined ? outcome.produce : outcome.fetch;
    measurements[name] = summarize(table.map((r) => r[name]!));
  }
  if (outcome.fetchTopic !== null) measurements.fetchFill = summarize([outcome.fetchTopic.fill]);
  const list = comparisons(outcome.produce, outcome.fetch, opts);
  return {
    benchmark: 'broker',
    startedAt: startedAt.toISOString(),
    totalDurationMs: Date.now() - startedAt.getTime(),
    command: ['node', path.relative(process.cwd(), process.argv[1] ?? ''), ...process.argv.slice(2)].join(' '),
    argv: process.argv,
    machine: machine(),
    settings: settings(opts, recordsPerBatchFrom(outcome)),
    fetchTopic: outcome.fetchTopic === null ? null : { endOffset: outcome.fetchTopic.endOffset, logBytes: outcome.fetchTopic.logBytes },
    measurements,
    comparisons: list,
    optionsTrial: outcome.trials,
    brokerExit,
    allTargetsMet: list.every((c) => c.pass !== false),
  };
}

function emit(document: Record<string, unknown>, opts: Options): void {
  const measurements = document.measurements as Record<string, Summary>;
  const list = document.comparisons as Comparison[];
  const trials = document.optionsTrial as Outcome['trials'];
  const trialLines = trialTable([...trials.produce, ...trials.fetch]);
  const s = document.settings as { recordsPerBatch: number | null; batchBytes: number | null };
  const notes = [
    `${s.recordsPerBatch ?? '?'} records of ${RECORD_VALUE_BYTES} B per ${s.batchBytes ?? '?'}-byte batch; ` +
      `window ${opts.window}; client options "${opts.preset}"; medians of ${opts.reps} reps; MB = 10^6 bytes`,
    'srv CPU / cli CPU: CPU time of the server (broker or raw server) and of the client during the timed part, % of one core;',
    'srv ns/B / cli ns/B: the same CPU time per payload byte (ns/B = CPU ms per MB), less sensitive to other load than MB/s',
  ];
  const table = [
    ...figuresTable(measurements),
    '',
    ...comparisonTable(list),
    ...(trialLines.length > 0 ? ['', 'client channel options (same options for baseline and subject):', ...trialLines] : []),
    '',
    ...notes,
    '',
  ].join('\n');
  const header = `${String(document.command)}\n${describeMachine(document.machine as Record<string, unknown>)}\n\n`;
  writeReport(header, table, document, opts.jsonTarget);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const root = fs.mkdtempSync(path.join(opts.baseDir, 'runnel-broker-bench-'));
  const dataDir = path.join(root, 'data');
  const rawAppendDir = path.join(root, 'raw-append');
  fs.mkdirSync(rawAppendDir);
  const cleanUp = (): void => {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  progress(`broker bench: temp dir ${root}; produce ${opts.produceBytes / MIB} MiB x ${opts.reps} reps, fetch ${(opts.fetchBytes / GIB).toFixed(2)} GiB, window ${opts.window}`);
  const servers: Server[] = [];
  try {
    const brokerArgs = [
      ...opts.brokerNodeArgs,
      ...cpuProfArgs(opts.brokerCpuProfDir, 'broker'),
      CLI,
      'broker',
      '--data',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--metrics-listen',
      'off',
      '--log-level',
      'warn',
    ];
    const [broker, raw] = await Promise.all([startServer('broker', brokerArgs), startServer('raw server', [...cpuProfArgs(opts.brokerCpuProfDir, 'raw-server'), RAW_SERVER, rawAppendDir])]);
    servers.push(broker, raw);
    progress(`broker pid ${broker.pid} at ${broker.address}; raw server pid ${raw.pid} at ${raw.address}`);
    const admin = new Admin(broker.address);
    let outcome: Outcome;
    try {
      outcome = await runPhases({ opts, broker, raw, admin });
    } finally {
      admin.close();
    }
    const brokerExit = await stopServer(broker);
    await stopServer(raw);
    if (brokerExit !== 0) progress(`broker exited with ${String(brokerExit)}`);
    emit(buildDocument(opts, outcome, startedAt, brokerExit), opts);
  } finally {
    for (const server of servers) await stopServer(server);
    cleanUp();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`broker bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
