/**
 * `runnel consume --group`, `runnel groups list|describe|delete|reset-offsets` and `runnel topics
 * alter --partitions`, each run as a child process (the CLI on dist/) against one broker process
 * on port 0, with group settings that assign at once (no initial assignment delay, 500 ms
 * heartbeats). The topic holds 1,000 keyed lines over 4 partitions; each test uses groups of its
 * own. Every wait is bounded (WAIT_MS); a consumer that must keep running is waited for by its
 * output, never by a fixed sleep.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GroupDescription } from '../../src/client/index.js';
import { EventWaits } from './event-waits.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
/** Bound of every single wait: a process exit, a line of output. */
const WAIT_MS = 20_000;
const FAST_GROUPS = ['--set', 'groups.initialAssignmentDelayMs=0', '--set', 'groups.heartbeatIntervalMs=500'];
const TOPIC = 'lines';
const PARTITIONS = 4;
const VALUES = Array.from({ length: 1000 }, (_, i) => `line-${i}`);

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<CliProcess>();

/** One CLI process: its output so far, and its exit (SIGKILLed if it outlives WAIT_MS). */
class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Result>;
  private exit: Result | null = null;
  private readonly child: ChildProcess;
  private readonly waits = new EventWaits();

  constructor(args: string[], options: { stdin?: string; lifetimeMs?: number } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    const killer = setTimeout(() => this.signal('SIGKILL'), options.lifetimeMs ?? WAIT_MS);
    this.exited = new Promise((resolve) => {
      // 'close' comes after the exit and after stdout ended: all output has been seen.
      this.child.on('close', (code, signal) => {
        clearTimeout(killer);
        live.delete(this);
        this.exit = { code, signal, stdout: this.stdout, stderr: this.stderr };
        this.notify();
        resolve(this.exit);
      });
    });
    this.child.on('error', (err) => (this.stderr += String(err)));
    this.child.stdin!.end(options.stdin ?? '');
  }

  /** Resolves once `check` holds on the output; rejects if the process ends first or after WAIT_MS. */
  until(check: (stdout: string) => boolean, what: string): Promise<void> {
    return this.waits.until(
      () => check(this.stdout),
      () => (this.exit === null ? null : new Error(`${what}: the process ended first (${JSON.stringify(this.exit)})`)),
      () => new Error(`${what}: not within ${WAIT_MS} ms; stdout ${JSON.stringify(this.stdout.slice(-500))}`),
      WAIT_MS,
    );
  }

  /** Signals this process by its PID; a no-op once it has exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.exit === null && this.child.pid !== undefined) this.child.kill(signal);
  }

  private notify(): void {
    this.waits.notify();
  }
}

let broker: CliProcess;
let dataDir: string;
let brokers: string[];

function runnel(args: string[], stdin?: string): Promise<Result> {
  return new CliProcess([...brokers, ...args], { stdin }).exited;
}

function linesOf(stdout: string): string[] {
  return stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n');
}

async function describeGroup(group: string): Promise<GroupDescription> {
  const result = await runnel(['groups', 'describe', group, '--format', 'json']);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as GroupDescription;
}

/** A failure as the CLI reports one: exit 1, one line on stderr with the code, no stack trace. */
function expectOneLineError(result: Result, code: string): void {
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^runnel: ${code}: `))]);
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runnel-cli-groups-'));
  broker = new CliProcess(['broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn', ...FAST_GROUPS], { lifetimeMs: 300_000 });
  await broker.until((out) => /listening on \S+:\d+\s*$/m.test(out), 'broker start');
  brokers = ['--brokers', /listening on (\S+:\d+)\s*$/m.exec(broker.stdout)![1]];
  expect(await runnel(['topics', 'create', TOPIC, '--partitions', String(PARTITIONS)])).toMatchObject({ code: 0 });
  // Keyed, so the lines spread over every partition.
  const produced = await runnel(['produce', TOPIC, '--key-separator', ':'], VALUES.map((v, i) => `k${i}:${v}\n`).join(''));
  expect(produced).toMatchObject({ code: 0, stderr: expect.stringMatching(/^produced 1000 records/) });
});

afterEach(async () => {
  // A failed test must not leave a consumer running into the next one.
  for (const p of [...live]) {
    if (p === broker) continue;
    p.signal('SIGKILL');
    await p.exited;
  }
});

afterAll(async () => {
  broker?.signal('SIGTERM');
  const stopped = await broker?.exited;
  if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
  expect(stopped).toMatchObject({ code: 0 });
});

describe('runnel consume --group', () => {
  it('goes on exactly where the last run stopped: 400, then the other 600, then nothing', async () => {
    const consume = (max: string[]): Promise<Result> => runnel(['consume', TOPIC, '--group', 'g', '--from-beginning', ...max]);
    const first = await consume(['--max-messages', '400']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const second = await consume(['--max-messages', '600']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(first.stdout)).toHaveLength(400);
    expect(linesOf(second.stdout)).toHaveLength(600);
    // Sorted equal to the 1,000 distinct lines produced: every line once, none twice.
    expect([...linesOf(first.stdout), ...linesOf(second.stdout)].sort()).toEqual([...VALUES].sort());
    expect(await consume(['--timeout-ms', '1500'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('keeps a static member (--instance-id) in the group after it exits; its restart goes on without duplicates', async () => {
    const member = new CliProcess([...brokers, 'consume', TOPIC, '--group', 'static', '--instance-id', 'cli-1', '--from-beginning']);
    await member.until((out) => linesOf(out).length === VALUES.length, 'every line');
    expect((await describeGroup('static')).members.map((m) => m.instanceId)).toEqual(['cli-1']);
    member.signal('SIGINT');
    expect(await member.exited).toMatchObject({ code: 0, stderr: '' });
    // Left "for now" (epoch -2): the broker keeps it, with its partitions, until its session times out.
    const after = await describeGroup('static');
    expect(after.members.map((m) => m.instanceId)).toEqual(['cli-1']);
    expect(after.offsets.reduce((sum, o) => sum + o.committedOffset, 0)).toBe(VALUES.length);
    const restarted = await runnel(['consume', TOPIC, '--group', 'static', '--instance-id', 'cli-1', '--timeout-ms', '1000']);
    expect(restarted).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('reads what was produced while no member ran, on a partition it never got a record from', async () => {
    expect(await runnel(['topics', 'create', 'quiet', '--partitions', '1'])).toMatchObject({ code: 0 });
    expect(await runnel(['consume', 'quiet', '--group', 'quiet', '--timeout-ms', '1000'])).toMatchObject({ code: 0, stdout: '' });
    expect(await runnel(['produce', 'quiet'], 'a\nb\n')).toMatchObject({ code: 0 });
    expect(await runnel(['consume', 'quiet', '--group', 'quiet', '--timeout-ms', '1000'])).toMatchObject({ code: 0, stdout: 'a\nb\n' });
  });
});

describe('runnel groups', () => {
  it('lists and describes a group, resets its offsets (dry run first) and replays from them', async () => {
    const consumed = await runnel(['consume', TOPIC, '--group', 'replay', '--from-beginning', '--max-messages', '1000']);
    expect(linesOf(consumed.stdout)).toHaveLength(1000);
    expect(linesOf((await runnel(['groups', 'list'])).stdout)).toContain('replay\tempty\t0');

    const described = await describeGroup('replay');
    expect(described).toMatchObject({ groupId: 'replay', state: 'empty', members: [] });
    expect(described.offsets.map((o) => o.partition)).toEqual([0, 1, 2, 3]);
    expect(described.offsets.reduce((sum, o) => sum + o.committedOffset, 0)).toBe(1000);
    expect(described.offsets.every((o) => o.lag === 0 && o.committedOffset === o.highWatermark && o.committedOffset > 10)).toBe(true);
    const text = linesOf((await runnel(['groups', 'describe', 'replay'])).stdout);
    expect(text[0]).toMatch(/^group replay\tstate empty\tepoch \d+\tassignor uniform\tmembers 0$/);
    expect(text.slice(1)).toEqual(['topic\tpartition\tcommitted\thighWatermark\tlag\tmember', ...described.offsets.map((o) => `${TOPIC}\t${o.partition}\t${o.committedOffset}\t${o.highWatermark}\t0\t-`)]);

    const toEarliest = ['groups', 'reset-offsets', 'replay', '--topic', TOPIC, '--to-earliest'];
    const table = ['partition\tprevious\tnew', ...described.offsets.map((o) => `${o.partition}\t${o.committedOffset}\t0`)].join('\n') + '\n';
    expect(await runnel([...toEarliest, '--dry-run'])).toMatchObject({ code: 0, stdout: table });
    expect((await describeGroup('replay')).offsets).toEqual(described.offsets);
    expect(await runnel(toEarliest)).toMatchObject({ code: 0, stdout: table, stderr: '' });
    expect((await describeGroup('replay')).offsets.map((o) => [o.committedOffset, o.lag])).toEqual(described.offsets.map((o) => [0, o.highWatermark]));

    const replayed = await runnel(['consume', TOPIC, '--group', 'replay', '--max-messages', '1000']);
    expect(replayed).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(replayed.stdout).sort()).toEqual([...VALUES].sort());

    const end = described.offsets[1].highWatermark;
    const shifted = await runnel(['groups', 'reset-offsets', 'replay', '--topic', TOPIC, '--shift-by', '-10', '--partition', '1']);
    expect(shifted).toMatchObject({ code: 0, stdout: `partition\tprevious\tnew\n1\t${end}\t${end - 10}\n` });
    const tail = await runnel(['consume', TOPIC, '--group', 'replay', '--max-messages', '10', '--print-offset']);
    expect(linesOf(tail.stdout).map((l) => l.split('\t')[0])).toEqual(Array.from({ length: 10 }, (_, i) => `1:${end - 10 + i}`));
    // Nothing else is left to replay: every partition is back at its end.
    expect((await describeGroup('replay')).offsets.map((o) => o.lag)).toEqual([0, 0, 0, 0]);
  });

  it('refuses reset-offsets and delete while a member runs; deletes the group once it stopped on SIGINT', async () => {
    const member = new CliProcess([...brokers, 'consume', TOPIC, '--group', 'busy', '--from-beginning']);
    await member.until((out) => out.includes('\n'), 'a first line');
    const [reset, deleted, described] = await Promise.all([
      runnel(['groups', 'reset-offsets', 'busy', '--topic', TOPIC, '--to-earliest']),
      runnel(['groups', 'delete', 'busy']),
      describeGroup('busy'),
    ]);
    expectOneLineError(reset, 'GROUP_NOT_EMPTY');
    expectOneLineError(deleted, 'GROUP_NOT_EMPTY');
    expect(described.members).toHaveLength(1);
    expect(described.members[0].clientId).toMatch(/^runnel-cli@/);
    member.signal('SIGINT');
    expect(await member.exited).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(await runnel(['groups', 'delete', 'busy'])).toMatchObject({ code: 0, stdout: 'deleted group busy\n', stderr: '' });
    expectOneLineError(await runnel(['groups', 'describe', 'busy']), 'UNKNOWN_GROUP');
    expect(linesOf((await runnel(['groups', 'list'])).stdout).some((l) => l.startsWith('busy\t'))).toBe(false);
  });

  it('refuses bad input in one line on stderr, without a stack trace', async () => {
    const reset = ['groups', 'reset-offsets', 'replay', '--topic', TOPIC];
    const results = await Promise.all([
      runnel(reset),
      runnel([...reset, '--to-earliest', '--to-offset', '5']),
      runnel([...reset, '--to-offset', 'five']),
      runnel(['consume', TOPIC, '--group', 'g', '--offset', '3']),
      runnel(['consume', TOPIC, '--group', 'g', '--partition', '1']),
      runnel(['consume', TOPIC, '--group', 'g', '--from-time', '2026-01-01T00:00:00Z']),
      runnel(['groups', 'describe', 'no-such-group']),
    ]);
    for (const result of results.slice(0, 6)) expectOneLineError(result, 'INVALID_ARGUMENT');
    expect(results[0].stderr).toMatch(/exactly one of --to-earliest, --to-latest, --to-offset, --to-time, --shift-by; got none/);
    expect(results[1].stderr).toMatch(/got --to-earliest and --to-offset/);
    for (const result of results.slice(3, 6)) expect(result.stderr).toMatch(/cannot be combined with --group: use `runnel groups reset-offsets`/);
    expectOneLineError(results[6], 'UNKNOWN_GROUP');
    for (const result of results) expect(result).toMatchObject({ stdout: '', stderr: expect.not.stringMatching(/\n\s+at /) });
  });
});

describe('runnel topics alter --partitions', () => {
  it('grows a topic, with configs in the same call, and refuses to shrink it', async () => {
    expect(await runnel(['topics', 'create', 'grow', '--partitions', '4'])).toMatchObject({ code: 0 });
    expect(await runnel(['topics', 'alter', 'grow', '--partitions', '6'])).toMatchObject({ code: 0, stdout: 'altered topic grow: partitions 6\n' });
    const described = linesOf((await runnel(['topics', 'describe', 'grow'])).stdout);
    expect(described[0]).toMatch(/^topic grow\tpartitions 6\t/);
    expect(described.slice(2).map((l) => l.split('\t')[0])).toEqual(['0', '1', '2', '3', '4', '5']);
    expectOneLineError(await runnel(['topics', 'alter', 'grow', '--partitions', '2']), 'INVALID_ARGUMENT');
    const both = await runnel(['topics', 'alter', 'grow', '--partitions', '7', '--config', 'retentionMs=60000']);
    expect(linesOf(both.stdout)).toEqual(['altered topic grow: partitions 7', expect.stringContaining('retentionMs=60000')]);
    expect((await runnel(['topics', 'describe', 'grow'])).stdout).toMatch(/^topic grow\tpartitions 7\t.*retentionMs=60000/);
  });
});
