/**
 * The benchmark suite (`runnel bench`, `npm run bench`): Runnel against a raw file append of the
 * same bytes and against Redis Streams and NATS JetStream, in one run on one machine, each
 * client in its own process (bench/suite/client.ts), the broker a child process on a fresh data
 * directory, the peers started by scripts/peers.sh on loopback (a missing one is skipped).
 *
 * Workloads (all sizes and counts settable by flags or a JSON workload file):
 *   produce    records/s and MB/s, 100 B and 1 KiB records; Runnel acks leader / all (and lz4
 *              for 100 B), Redis appendfsync everysec / always, NATS JetStream default sync
 *   consume    catch-up: read what the produce run wrote, from the start
 *   fan-out    one producer, four subscribers in four consumer groups, all at once (Runnel only)
 *   latency    send-to-receipt at fixed rates (HdrHistogram p50 / p99 / p99.9 / max), producer and
 *              consumer in separate processes; Runnel with lingerMs 0
 * Durability is paired as fairly as the peers allow: Runnel acks leader against Redis everysec
 * and NATS's default; Runnel acks all against Redis always (NATS's sync_interval: always needs
 * nats-server 2.10; Debian 12 has 2.9, so that pair is skipped with a message there).
 *
 * Output: a markdown table on stdout, `--json FILE` with every figure, the machine and the peer
 * versions, and SVG charts next to the JSON (produce and consume bars, latency percentiles).
 *
 * Usage: node dist/bench/suite/suite.js [--quick] [--records N] [--reps N] [--rates 1000,10000]
 *        [--workload FILE.json|FILE.yaml] [--no-peers] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { Runnel } from '../../src/client/index.js';
import { PRODUCER_DEFAULTS } from '../../src/client/producer/options.js';
import { REBALANCE_PARTITIONS, rebalance } from '../group-bench.js';
import { machine, median } from '../report.js';
import type { Job, JobResult } from './client.js';
import { PEERS_SCRIPT, rawAppendMBps, rawGrpcMBps, rssSampler, runJob, startBroker, startPeers, startRelay, type Peer } from './processes.js';
import { writeCharts } from './charts.js';


export interface SuiteOptions {
  records: number;
  recordSizes: number[];
  rates: number[];
  latencySeconds: number;
  /** Seconds sent at the rate before the measured `latencySeconds`, not recorded (JIT, connections, caches). */
  latencyWarmupSeconds: number;
  reps: number;
  peers: boolean;
  jsonTarget: string | null;
  quick: boolean;
}

/**
 * A workload file, JSON or YAML (by its extension): any of records, recordSizes, rates,
 * latencySeconds, latencyWarmupSeconds, reps; flags win over it. Example (YAML):
 *   records: 1000000
 *   recordSizes: [100, 1024, 4096]
 *   rates: [1000, 10000]
 */
function readWorkload(file: string): Partial<SuiteOptions> {
  const text = fs.readFileSync(file, 'utf8');
  const parsed: unknown = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: a workload file holds an object`);
  const known = new Set(['records', 'recordSizes', 'rates', 'latencySeconds', 'latencyWarmupSeconds', 'reps']);
  for (const key of Object.keys(parsed)) if (!known.has(key)) throw new Error(`${file}: unknown workload key ${key} (known: ${[...known].join(', ')})`);
  return parsed;
}

function parseArgs(argv: string[]): SuiteOptions {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const workloadFile = value('--workload');
  const fromFile = workloadFile === undefined ? {} : readWorkload(workloadFile);
  const options: SuiteOptions = {
    // The issue's catch-up workload reads a 1,000,000-record topic; produce writes it.
    records: Number(value('--records') ?? fromFile.records ?? (quick ? 100_000 : 1_000_000)),
    recordSizes: fromFile.recordSizes ?? [100, 1024],
    rates: (value('--rates') ?? fromFile.rates?.join(',') ?? (quick ? '10000' : '1000,10000,50000')).split(',').map(Number),
    latencySeconds: Number(fromFile.latencySeconds ?? (quick ? 2 : 5)),
    latencyWarmupSeconds: Number(fromFile.latencyWarmupSeconds ?? (quick ? 1 : 2)),
    reps: Number(value('--reps') ?? fromFile.reps ?? (quick ? 1 : 3)),
    peers: !argv.includes('--no-peers'),
    jsonTarget: value('--json') ?? null,
    quick,
  };
  const ok = Number.isInteger(options.records) && options.records >= 1000 && options.reps >= 1 && options.latencySeconds > 0 && options.latencyWarmupSeconds >= 0 && options.rates.every((r) => Number.isInteger(r) && r > 0) && options.recordSizes.every((b) => Number.isInteger(b) && b >= 16);
  if (!ok) throw new Error('usage: suite.js [--quick] [--records N>=1000] [--reps N] [--rates R,R] [--workload FILE.json] [--no-peers] [--json FILE]');
  return options;
}

// ---- progress --------------------------------------------------------------------------------

class Progress {
  private done = 0;
  private readonly startedMs = Date.now();
  constructor(private readonly total: number) {}
  step(label: string): void {
    this.done++;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const seconds = Math.round((Date.now() - this.startedMs) / 1000);
    const elapsed = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${elapsed} ${label.padEnd(50).slice(0, 50)}`);
    if (process.env.RUNNEL_BENCH_PROGRESS_LINES === '1') process.stderr.write('\n');
    if (this.done === this.total) process.stderr.write('\n');
  }
}

// ---- the run ---------------------------------------------------------------------------------

export interface Figure {
  workload: string;
  system: string;
  recordBytes: number;
  recordsPerSec: number;
  mbPerSec: number;
  latencyMs?: JobResult['latencyMs'];
  rssBytesMax: number;
  /** rssBytesMax less the process's RSS when its job began (Node and the loaded modules). */
  rssGrowthBytesMax: number;
}

const RELAY_LABEL = 'raw grpc-js relay';
/** The producer's bufferBytes as the suite's producers run it (the default), for the memory target. */
const PRODUCER_BUFFER_BYTES = PRODUCER_DEFAULTS.bufferBytes;
/**
 * The relay moves one gRPC message per record; above this rate it falls behind on 2 cores (at
 * 50,000/s its p99 was 231 ms against Runnel's 4 ms, which batches), so it is no floor there.
 */
const RELAY_RATE_MAX = 10_000;

interface Subject {
  label: string;
  system: Job['system'];
  target: string;
  acks: Job['acks'];
  compression: Job['compression'];
}

function subjects(broker: string, peers: Peer[], recordBytes: number): Subject[] {
  const list: Subject[] = [
    { label: 'runnel acks leader', system: 'runnel', target: broker, acks: 'leader', compression: 'none' },
    { label: 'runnel acks all', system: 'runnel', target: broker, acks: 'all', compression: 'none' },
  ];
  if (recordBytes <= 100) list.push({ label: 'runnel acks leader lz4', system: 'runnel', target: broker, acks: 'leader', compression: 'lz4' });
  for (const peer of peers) {
    const label = peer.name === 'redis' ? 'redis everysec' : peer.name === 'redis-always' ? 'redis always' : peer.name === 'nats' ? 'nats default' : 'nats always';
    list.push({ label, system: peer.name.startsWith('redis') ? 'redis' : 'nats', target: peer.address, acks: 'leader', compression: 'none' });
  }
  return list;
}

/** NATS publishes through per-message acks; it gets fewer records so a run stays within minutes. */
const recordsFor = (subject: Subject, records: number, recordBytes: number): number =>
  Math.max(1000, Math.floor((subject.system === 'nats' ? Math.min(records, 100_000) : records) / (recordBytes > 100 ? 4 : 1)));

interface Rebalance {
  /** A 9th member joins 8: ms from its start until every member owns its new share. */
  joinMs: number;
  /** One of 9 leaves cleanly: ms until the 8 others own its partitions. */
  leaveMs: number;
}

async function runAll(opts: SuiteOptions, broker: string, peers: Peer[], runnel: Runnel, failures: string[]): Promise<{ reps: Figure[][]; rebalances: Rebalance[] }> {
  const admin = runnel.admin();
  const sizes = opts.recordSizes;
  // Latency: every subject without compression, and the raw relay under them all.
  const latencySubjects: Subject[] = [...subjects(broker, peers, 100).filter((s) => s.compression === 'none'), { label: RELAY_LABEL, system: 'relay', target: '', acks: 'leader', compression: 'none' }];
  // Fan-out: each system at its default durability (Redis always is left out).
  const fanOutSubjects = subjects(broker, peers, 100).filter((s) => s.compression === 'none' && s.label !== 'runnel acks all' && s.label !== 'redis always');
  const latencySubjectsAt = (rate: number): Subject[] => latencySubjects.filter((s) => s.system !== 'relay' || rate <= RELAY_RATE_MAX);
  const perRep = 1 + fanOutSubjects.length + sizes.reduce((n, b) => n + subjects(broker, peers, b).length * 2, 0) + opts.rates.reduce((n, rate) => n + latencySubjectsAt(rate).length, 0);
  const progress = new Progress(perRep * opts.reps);
  // A failed measurement is reported and the run goes on: one broken peer (or bug) must not
  // cost every other figure of a 15-minute run.
  const attempt = async (label: string, measure: () => Promise<void>): Promise<void> => {
    try {
      await measure();
    } catch (err) {
      failures.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
      process.stderr.write(`\nfailed: ${failures[failures.length - 1]}\n`);
    }
    progress.step(label);
  };
  const reps: Figure[][] = [];
  const rebalances: Rebalance[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const figures: Figure[] = [];
    for (const recordBytes of sizes) {
      for (const subject of subjects(broker, peers, recordBytes)) {
        const records = recordsFor(subject, opts.records, recordBytes);
        const name = `bench-${recordBytes}-${subject.label.replace(/\s+/g, '-')}-${rep}`;
        const job: Job = { system: subject.system, kind: 'produce', target: subject.target, name, records, recordBytes, acks: subject.acks, compression: subject.compression, partitions: 1, rate: 0 };
        if (subject.system === 'runnel') await admin.createTopic(name, { partitions: 1 });
        let produced = false;
        await attempt(`rep ${rep + 1} produce ${recordBytes} B ${subject.label}`, async () => {
          figures.push(figure('produce', subject.label, recordBytes, await runJob(job)));
          produced = true;
        });
        await attempt(`rep ${rep + 1} consume ${recordBytes} B ${subject.label}`, async () => {
          if (!produced) throw new Error('nothing to read: the produce run failed');
          figures.push(figure('consume', subject.label, recordBytes, await runJob({ ...job, kind: 'consume' })));
        });
        if (subject.system === 'runnel') await admin.deleteTopic(name);
      }
    }
    for (const subject of fanOutSubjects) {
      await attempt(`rep ${rep + 1} fan-out ${subject.label}`, async () => void figures.push(...(await fanOut(admin, subject, opts, rep))));
    }
    await attempt(`rep ${rep + 1} group rebalance`, async () => {
      const rebalanceTopic = `rebalance-${rep}`;
      await admin.createTopic(rebalanceTopic, { partitions: REBALANCE_PARTITIONS });
      rebalances.push(await rebalance(broker, rebalanceTopic, rep));
      await admin.deleteTopic(rebalanceTopic);
    });
    for (const rate of opts.rates) {
      for (const subject of latencySubjectsAt(rate)) {
        await attempt(`rep ${rep + 1} latency ${rate}/s ${subject.label}`, async () => void figures.push(await latency(admin, subject, opts, rate, rep)));
      }
    }
    reps.push(figures);
  }
  return { reps, rebalances };
}

/** End-to-end latency at `rate` records/s: the consumer process first, then the paced producer process. */
async function latency(admin: ReturnType<Runnel['admin']>, subject: Subject, opts: SuiteOptions, rate: number, rep: number): Promise<Figure> {
  const name = `latency-${rate}-${subject.label.replace(/\s+/g, '-')}-${rep}`;
  const relay = subject.system === 'relay' ? await startRelay() : null;
  try {
    if (subject.system === 'runnel') await admin.createTopic(name, { partitions: 1 });
    const warmupRecords = Math.round(rate * opts.latencyWarmupSeconds);
    const records = warmupRecords + rate * opts.latencySeconds;
    const target = relay?.address ?? subject.target;
    const job: Job = { system: subject.system, kind: 'latency-consume', target, name, records, warmupRecords, recordBytes: 100, acks: subject.acks, compression: 'none', partitions: 1, rate };
    const consuming = runJob(job);
    // The consumer is subscribed before the first record (its stream opens within this time).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const producing = runJob({ ...job, kind: 'latency-produce' });
    const [result] = await Promise.all([consuming, producing]);
    return { ...figure(`latency ${rate}/s`, subject.label, 100, result), recordsPerSec: rate, mbPerSec: (rate * 100) / 1e6 };
  } finally {
    // Also after a failure: what a failed run left must not weigh on the runs after it.
    if (subject.system === 'runnel') await admin.deleteTopic(name).catch(() => undefined);
    if (relay !== null) {
      relay.child.kill('SIGTERM');
      if (relay.child.exitCode === null) await new Promise((resolve) => relay.child.once('exit', resolve));
    }
  }
}

/**
 * Fan-out: one producer process and four consumer processes, each the one member of its own
 * group (Redis: a consumer group each; NATS: a durable consumer each), all started together on
 * a fresh stream (Runnel: 4 partitions); records/s per subscriber (from its first record to its
 * last) and for the producer. Runnel acks leader, Redis everysec and NATS's default.
 */
async function fanOut(admin: ReturnType<Runnel['admin']>, subject: Subject, opts: SuiteOptions, rep: number): Promise<Figure[]> {
  const name = `fanout-${subject.label.replace(/\s+/g, '-')}-${rep}`;
  const partitions = subject.system === 'runnel' ? 4 : 1;
  if (subject.system === 'runnel') await admin.createTopic(name, { partitions });
  const records = recordsFor(subject, opts.records, 100);
  const base: Job = { system: subject.system, kind: 'group-consume', target: subject.target, name, records, recordBytes: 100, acks: subject.acks, compression: 'none', partitions, rate: 0 };
  let produced: JobResult;
  let consumed: JobResult[];
  try {
    const subscribers = Promise.all(Array.from({ length: FAN_OUT_GROUPS }, (_, i) => runJob({ ...base, groupId: `${name}-${i}` })));
    [produced, consumed] = await Promise.all([runJob({ ...base, kind: 'produce' }), subscribers]);
  } finally {
    if (subject.system === 'runnel') await admin.deleteTopic(name).catch(() => undefined);
  }
  const slowest = consumed.reduce((a, b) => (a.durationMs > b.durationMs ? a : b));
  return [figure('fan-out produce', subject.label, 100, produced), figure(`fan-out, slowest of ${FAN_OUT_GROUPS} groups`, subject.label, 100, slowest)];
}

const FAN_OUT_GROUPS = 4;

function figure(workload: string, system: string, recordBytes: number, result: JobResult): Figure {
  const recordsPerSec = result.records / (result.durationMs / 1000);
  return { workload, system, recordBytes, recordsPerSec, mbPerSec: (recordsPerSec * recordBytes) / 1e6, latencyMs: result.latencyMs, rssBytesMax: result.rssBytesMax, rssGrowthBytesMax: result.rssBytesMax - result.rssBytesAtStart };
}

/** Medians over reps of every (workload, system, size), in first-seen order; a figure a failed rep lacks is the median of the others. */
function medians(reps: Figure[][]): Figure[] {
  const groups = new Map<string, Figure[]>();
  for (const f of reps.flat()) {
    const key = `${f.workload}\u0000${f.system}\u0000${f.recordBytes}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [f]);
    else group.push(f);
  }
  return [...groups.values()].map((same) => {
    const f = same[0]!;
    const m = (pick: (g: Figure) => number): number => median(same.map(pick));
    const latencyMs = f.latencyMs === undefined ? undefined : { p50: m((g) => g.latencyMs!.p50), p99: m((g) => g.latencyMs!.p99), p999: m((g) => g.latencyMs!.p999), max: m((g) => g.latencyMs!.max) };
    return { ...f, recordsPerSec: m((g) => g.recordsPerSec), mbPerSec: m((g) => g.mbPerSec), rssBytesMax: Math.max(...same.map((g) => g.rssBytesMax)), rssGrowthBytesMax: Math.max(...same.map((g) => g.rssGrowthBytesMax)), latencyMs };
  });
}

function markdown(figures: Figure[], rawMBps: number, rawGrpc: number, skipped: string[]): string {
  const lines = ['| workload | system | record | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | runnel acks leader vs this |', '|---|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  const f2 = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(2));
  for (const f of figures) {
    const runnel = figures.find((g) => g.workload === f.workload && g.recordBytes === f.recordBytes && g.system === 'runnel acks leader');
    const ratio = f.workload.startsWith('latency')
      ? runnel?.latencyMs !== undefined && f.latencyMs !== undefined
        ? `p99 ${(runnel.latencyMs.p99 / f.latencyMs.p99).toFixed(2)}x`
        : '-'
      : runnel === undefined
        ? '-'
        : `${(runnel.recordsPerSec / f.recordsPerSec).toFixed(2)}x`;
    lines.push(`| ${f.workload} | ${f.system} | ${f.recordBytes} B | ${Math.round(f.recordsPerSec).toLocaleString('en-US')} | ${f.mbPerSec.toFixed(1)} | ${f2(f.latencyMs?.p50)} | ${f2(f.latencyMs?.p99)} | ${f2(f.latencyMs?.p999)} | ${f2(f.latencyMs?.max)} | ${f.system === 'runnel acks leader' ? '1' : ratio} |`);
  }
  const leader100 = figures.find((f) => f.workload === 'produce' && f.recordBytes === 100 && f.system === 'runnel acks leader');
  const of = (ceiling: number): string => (leader100 === undefined ? '-' : (leader100.mbPerSec / ceiling).toFixed(2));
  lines.push(
    '',
    `Raw ceilings in this run: file append of the same bytes (writeSync, 64 KiB) ${rawMBps.toFixed(0)} MB/s; a raw grpc-js client stream (64 KiB messages, two processes) ${rawGrpc.toFixed(0)} MB/s. ` +
      `Runnel produce, 100 B, acks leader: ${leader100?.mbPerSec.toFixed(1) ?? '-'} MB/s = ${of(rawMBps)} of the file append, ${of(rawGrpc)} of the grpc-js stream (issue 6 target: 0.5).`,
  );
  for (const floor of figures.filter((f) => f.system === RELAY_LABEL && f.latencyMs !== undefined)) {
    const runnel = figures.find((g) => g.workload === floor.workload && g.system === 'runnel acks leader');
    if (runnel?.latencyMs === undefined) continue;
    const over = (pick: (l: NonNullable<Figure['latencyMs']>) => number): string => `${pick(runnel.latencyMs!).toFixed(2)} ms vs ${pick(floor.latencyMs!).toFixed(2)} ms (${(pick(runnel.latencyMs!) / pick(floor.latencyMs!)).toFixed(1)}x)`;
    lines.push(`Latency floor, ${floor.workload} (the same three processes and two gRPC hops through a raw grpc-js relay, no storage): Runnel acks leader p50 ${over((l) => l.p50)}, p99 ${over((l) => l.p99)}.`);
  }
  lines.push('"runnel acks leader vs this": Runnel acks leader\'s records/s divided by this row\'s (above 1: Runnel is faster), or Runnel\'s p99 divided by this row\'s (below 1: Runnel is faster).');
  for (const s of skipped) lines.push(`Skipped: ${s}`);
  return `${lines.join('\n')}\n`;
}

export async function runSuite(argv: string[]): Promise<void> {
  const opts = parseArgs(argv);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-bench-suite-'));
  const broker = await startBroker(path.join(root, 'data'));
  const peerDir = path.join(root, 'peers');
  const { peers, skipped } = opts.peers ? startPeers(peerDir) : { peers: [], skipped: ['peers (--no-peers)'] };
  const runnel = new Runnel({ brokers: [broker.address] });
  // Ctrl-C or a kill: the job, relay and member processes exit with our stdin pipes; the broker
  // and the peers are stopped here, and the data directory removed.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench suite: ${signal}, stopping the broker and the peers\n`);
    broker.child.kill('SIGTERM');
    if (opts.peers) spawnSync('bash', [PEERS_SCRIPT, 'stop', peerDir], { timeout: 30_000 });
    fs.rmSync(root, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stderr.write(`bench suite: broker ${broker.address}; peers: ${peers.map((p) => `${p.name} ${p.version} at ${p.address}`).join(', ') || 'none'}\n`);
    for (const s of skipped) process.stderr.write(`skipped: ${s}\n`);
    const rawMBps = rawAppendMBps(root, 256 * 1024 * 1024);
    const rawGrpc = await rawGrpcMBps((opts.quick ? 128 : 512) * 2 ** 20);
    const brokerRss = rssSampler(broker.child.pid!);
    const failures: string[] = [];
    const { reps, rebalances } = await runAll(opts, broker.address, peers, runnel, failures);
    const brokerRssBytesMax = brokerRss.stop();
    const figures = medians(reps);
    const clientRssBytesMax = Math.max(...figures.filter((f) => f.system.startsWith('runnel')).map((f) => f.rssBytesMax));
    const producers = figures.filter((f) => f.system.startsWith('runnel') && f.workload === 'produce');
    const producerRssBytesMax = Math.max(...producers.map((f) => f.rssBytesMax));
    const producerRssGrowthBytesMax = Math.max(...producers.map((f) => f.rssGrowthBytesMax));
    const table = markdown(figures, rawMBps, rawGrpc, [...skipped, ...failures.map((f) => `FAILED ${f}`)]);
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
    const rebalanceMs = rebalances.length === 0 ? null : { joinMs: median(rebalances.map((r) => r.joinMs)), leaveMs: median(rebalances.map((r) => r.leaveMs)) };
    const rebalanceLine =
      rebalanceMs === null
        ? 'Group rebalance: not measured (failed, see above).'
        : `Group rebalance, ${REBALANCE_PARTITIONS} partitions, medians of ${rebalances.length}: a 9th member joins 8 in ${rebalanceMs.joinMs.toFixed(0)} ms; one of 9 leaves cleanly in ${rebalanceMs.leaveMs.toFixed(0)} ms (until every member owns its new share; per rep ${rebalances.map((r) => `${r.joinMs.toFixed(0)}/${r.leaveMs.toFixed(0)}`).join(', ')}).`;
    process.stdout.write(`\n${table}${rebalanceLine}\n`);
    process.stdout.write(
      `Broker RSS, highest through the run: ${mib(brokerRssBytesMax)} MiB (target < 300); Runnel client processes: ${mib(clientRssBytesMax)} MiB at most; ` +
        `Runnel producer processes (throughput runs): ${mib(producerRssBytesMax)} MiB at most, ${mib(producerRssGrowthBytesMax)} MiB above their RSS at start (SDK loaded) (target: bufferBytes + 64 MB = ${mib(PRODUCER_BUFFER_BYTES + 64e6)} MiB).\n`,
    );
    const document = { command: ['node', ...process.argv.slice(1)].join(' '), machine: machine({ peers: peers.map(({ name, version, durability }) => ({ name, version, durability })) }), options: opts, rawAppendMBps: rawMBps, rawGrpcMBps: rawGrpc, rebalanceMs, rebalances, brokerRssBytesMax, clientRssBytesMax, producerRssBytesMax, producerRssGrowthBytesMax, medians: figures, reps, skipped, failures };
    if (opts.jsonTarget !== null) {
      fs.writeFileSync(opts.jsonTarget, `${JSON.stringify(document, null, 2)}\n`);
      const charts = writeCharts(figures, path.dirname(path.resolve(opts.jsonTarget)), path.basename(opts.jsonTarget, '.json'));
      process.stdout.write(`JSON written to ${opts.jsonTarget}; charts: ${charts.join(', ')}\n`);
    }
    if (failures.length > 0) {
      process.stderr.write(`bench suite: ${failures.length} measurement(s) failed (listed in the table's notes)\n`);
      process.exitCode = 1;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await runnel.close();
    broker.child.kill('SIGTERM');
    await new Promise((resolve) => broker.child.once('exit', resolve));
    if (opts.peers) spawnSync('bash', [PEERS_SCRIPT, 'stop', peerDir], { timeout: 30_000 });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runSuite(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench suite: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
