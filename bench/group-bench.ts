/**
 * Consumer-group benchmark: a broker child process, group members as child processes
 * (group-bench-member.ts), this process as orchestrator and producer.
 *
 *   throughput  an 8-partition topic of `records` 100-byte records, read from the start by a
 *               fresh group of 1, 2 and 4 members; records/s from the first partition assigned
 *               to the last record counted. Baseline in the same run: one process reading every
 *               partition with assign() (no group, no commits), the same reading loop.
 *   rebalance   a 72-partition topic (9 partitions each for 8 members, 8 each for 9): with 8
 *               members stable, a 9th joins: time from its start to every member owning 8;
 *               then one of the 9 leaves cleanly (SIGTERM): time until the others own 9 each.
 *
 * The broker runs with groups.initialAssignmentDelayMs=0 (a freshly started broker otherwise
 * holds partitions back 3 s, see src/coordinator/config.ts) and default heartbeat settings:
 * rebalances are pushed to members by their long-polling heartbeats, not waited for.
 *
 * Usage: node dist/bench/group-bench.js [--quick] [--records N] [--reps N] [--json FILE|-]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Runnel } from '../src/client/index.js';
import { startBrokerChild } from './broker-bench-common.js';
import { machine, median, row, writeReport } from './report.js';

const CLI = fileURLToPath(new URL('../src/cli/index.js', import.meta.url));
const MEMBER = fileURLToPath(new URL('./group-bench-member.js', import.meta.url));
const RECORD_BYTES = 100;
const THROUGHPUT_PARTITIONS = 8;
export const REBALANCE_PARTITIONS = 72;
const SESSION_TIMEOUT_MS = 10_000;
const WAIT_MS_MAX = 120_000;

interface Options {
  records: number;
  reps: number;
  jsonTarget: string | null;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const records = Number(value('--records') ?? (quick ? 200_000 : 1_000_000));
  const reps = Number(value('--reps') ?? (quick ? 1 : 3));
  if (!Number.isInteger(records) || records < 1000 || !Number.isInteger(reps) || reps < 1) throw new Error('usage: group-bench.js [--quick] [--records N>=1000] [--reps N] [--json FILE|-]');
  return { records, reps, jsonTarget: value('--json') ?? null };
}

const progress = (line: string): void => void process.stderr.write(`${line}\n`);
const nowMs = (): number => performance.timeOrigin + performance.now();

// ---- child processes ----------------------------------------------------------------------

interface MemberEvent {
  event: string;
  partitions?: number;
  owned?: number;
  records?: number;
  atMs?: number;
}

class Member {
  readonly events: MemberEvent[] = [];
  owned = 0;
  records = 0;
  private readonly listeners = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as MemberEvent;
      this.events.push(event);
      if (event.owned !== undefined) this.owned = event.owned;
      if (event.records !== undefined) this.records = event.records;
      for (const listener of this.listeners) listener();
    });
  }

  onEvent(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  firstAt(name: string): number | undefined {
    return this.events.find((e) => e.event === name)?.atMs;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

function startMember(args: Record<string, unknown>): Member {
  const child = spawn(process.execPath, [MEMBER, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Member(child);
}

/** Resolves once `check` holds, re-checked at every event of the members (bounded). */
function until(members: readonly Member[], check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (err?: Error): void => {
      clearTimeout(timer);
      for (const off of offs) off();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), WAIT_MS_MAX);
    const test = (): void => {
      if (check()) done();
    };
    for (const m of members) offs.push(m.onEvent(test));
    test();
  });
}

function startBroker(dataDir: string): Promise<{ child: ChildProcess; address: string }> {
  return startBrokerChild(CLI, dataDir, ['--set', 'groups.initialAssignmentDelayMs=0']);
}

// ---- scenarios ----------------------------------------------------------------------------

async function produce(runnel: Runnel, topic: string, records: number): Promise<void> {
  const producer = runnel.producer({ acks: 'leader', lingerMs: 5 });
  const value = Buffer.alloc(RECORD_BYTES, 7);
  const pending = new Set<Promise<unknown>>();
  for (let done = 0; done < records; done += 1000) {
    const count = Math.min(1000, records - done);
    const sent = producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value, partition: (done + i) % THROUGHPUT_PARTITIONS })) });
    pending.add(sent);
    void sent.finally(() => pending.delete(sent));
    if (pending.size >= 16) await Promise.race(pending);
  }
  await Promise.all(pending);
  await producer.close();
}

/** Records/s of `count` members (0 = the assign() baseline) reading the whole topic from the start. */
async function throughput(address: string, topic: string, records: number, count: number, rep: number): Promise<number> {
  const base = { brokers: address, groupId: `tput-${count}-${rep}`, topic, sessionTimeoutMs: SESSION_TIMEOUT_MS };
  const members = count === 0 ? [startMember({ ...base, mode: 'assign', partitions: THROUGHPUT_PARTITIONS })] : Array.from({ length: count }, () => startMember(base));
  try {
    const total = (): number => members.reduce((n, m) => n + m.records, 0);
    await until(members, () => total() >= records, `${records} records read by ${count} members`);
    const firstAssigned = Math.min(...members.map((m) => m.firstAt('assigned') ?? Infinity));
    const lastCount = Math.max(...members.map((m) => m.events.filter((e) => e.event === 'count').at(-1)?.atMs ?? 0));
    return records / ((lastCount - firstAssigned) / 1000);
  } finally {
    await Promise.all(members.map((m) => m.stop()));
  }
}

/**
 * Join of a 9th member to 8, then a clean leave of one of the 9: ms until everyone owns its new
 * share. `topic` has REBALANCE_PARTITIONS partitions. Also run by the benchmark suite.
 */
export async function rebalance(address: string, topic: string, rep: number): Promise<{ joinMs: number; leaveMs: number }> {
  const base = { brokers: address, groupId: `rebalance-${rep}`, topic, sessionTimeoutMs: SESSION_TIMEOUT_MS };
  const members = Array.from({ length: 8 }, () => startMember(base));
  try {
    await until(members, () => members.every((m) => m.owned === REBALANCE_PARTITIONS / 8), 'a stable group of 8');
    const ninth = startMember(base);
    members.push(ninth);
    await until(members, () => members.every((m) => m.owned === REBALANCE_PARTITIONS / 9), 'the 9th member to get its share');
    const joinMs = Math.max(...members.flatMap((m) => m.events.filter((e) => e.event === 'assigned').map((e) => e.atMs ?? 0))) - ninth.firstAt('started')!;
    const leaver = members.shift()!;
    const leaveStartMs = nowMs();
    await leaver.stop();
    await until(members, () => members.every((m) => m.owned === REBALANCE_PARTITIONS / 8), 'the leaver partitions to move');
    const leaveMs = Math.max(...members.flatMap((m) => m.events.filter((e) => e.event === 'assigned').map((e) => e.atMs ?? 0))) - leaveStartMs;
    return { joinMs, leaveMs };
  } finally {
    await Promise.all(members.map((m) => m.stop()));
  }
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-group-bench-'));
  const broker = await startBroker(dataDir);
  const runnel = new Runnel({ brokers: [broker.address] });
  try {
    const admin = runnel.admin();
    await admin.createTopic('tput', { partitions: THROUGHPUT_PARTITIONS });
    await admin.createTopic('rebalance', { partitions: REBALANCE_PARTITIONS });
    progress(`group bench: broker pid ${broker.child.pid} at ${broker.address}; producing ${opts.records} records`);
    await produce(runnel, 'tput', opts.records);
    const reps: Record<string, number>[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      const figures: Record<string, number> = {};
      for (const count of [0, 1, 2, 4]) {
        const perSec = await throughput(broker.address, 'tput', opts.records, count, rep);
        figures[count === 0 ? 'assign' : `group${count}`] = perSec;
        progress(`rep ${rep + 1}: ${count === 0 ? 'assign() baseline' : `${count} members`}: ${(perSec / 1e6).toFixed(2)} M records/s`);
      }
      const { joinMs, leaveMs } = await rebalance(broker.address, 'rebalance', rep);
      figures.joinMs = joinMs;
      figures.leaveMs = leaveMs;
      progress(`rep ${rep + 1}: join of a 9th member ${joinMs.toFixed(0)} ms, leave of one of 9 ${leaveMs.toFixed(0)} ms`);
      reps.push(figures);
    }
    const med = (name: string): number => median(reps.map((r) => r[name]!));
    const widths = [40, 14, 18];
    const lines = [row(['measurement', 'median', 'per rep'], widths)];
    for (const name of ['assign', 'group1', 'group2', 'group4']) {
      lines.push(row([`${name === 'assign' ? 'assign() baseline, 1 process' : `group of ${name.slice(5)}`} (M records/s)`, (med(name) / 1e6).toFixed(2), reps.map((r) => (r[name]! / 1e6).toFixed(2)).join(' ')], widths));
    }
    for (const name of ['group1', 'group2', 'group4']) {
      lines.push(row([`group of ${name.slice(5)} / assign() baseline`, (med(name) / med('assign')).toFixed(2), reps.map((r) => (r[name]! / r.assign!).toFixed(2)).join(' ')], widths));
    }
    lines.push(row(['join of a 9th member to 8 (ms)', med('joinMs').toFixed(0), reps.map((r) => r.joinMs!.toFixed(0)).join(' ')], widths));
    lines.push(row(['clean leave of one of 9 (ms)', med('leaveMs').toFixed(0), reps.map((r) => r.leaveMs!.toFixed(0)).join(' ')], widths));
    const table = [...lines, '', `${opts.records} records of ${RECORD_BYTES} B on ${THROUGHPUT_PARTITIONS} partitions; rebalances on ${REBALANCE_PARTITIONS} partitions; medians of ${opts.reps} reps`, ''].join('\n');
    const document = { command: ['node', ...process.argv.slice(1)].join(' '), machine: machine(), options: opts, reps };
    writeReport(`${document.command}\n`, table, document, opts.jsonTarget);
  } finally {
    await runnel.close();
    broker.child.kill('SIGTERM');
    await new Promise((resolve) => broker.child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    process.stderr.write(`group-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
