/**
 * Consumer groups under churn, with real processes: one broker (the CLI on dist/, port 0, data in
 * a temp directory) and up to 8 group members, each a child process (fixtures/group-member.mjs,
 * the compiled SDK) that prints what it is assigned, revokes, loses and consumes, stamped with
 * process.hrtime.bigint() (CLOCK_MONOTONIC, one clock for every process of the machine). This
 * process produces continuously to the 12 partitions of the topic and remembers every
 * acknowledged (partition, offset).
 *
 * Chaos: a seeded random sequence of steps (start a member, stop one cleanly with SIGTERM, or
 * SIGKILL one) grows the group from 1 member to 8 and shrinks it again. After each step the test
 * waits, bounded, until the group settled: every partition owned by exactly one live member, as
 * the members' events tell, balanced (each owns floor or ceil of 12 / members), and the broker's
 * DescribeGroups says 'stable' with the same owners.
 *
 * Checks, exact:
 *   - ownership: per partition, the intervals [assigned, released) of all members never overlap.
 *     Released is the member's revoked or lost event, its closed event, or for a SIGKILLed member
 *     the kill, as this process recorded it right before sending SIGKILL; a line the child managed
 *     to print between that moment and the signal landing extends its interval to that line (the
 *     process was still alive then).
 *   - every consumed message lies inside one of its member's intervals of its partition;
 *   - after the producer stops and the group drained (committed offsets = high watermarks): the
 *     group is stable, every partition has one live owner (events and DescribeGroups agree),
 *     every acknowledged record was consumed, with the value produced at that offset;
 *   - duplicates: a record consumed again was first consumed in an interval that ended with a
 *     SIGKILL or a loss, never one that ended with a clean revocation or close (the SDK commits
 *     before it gives a partition up);
 *   - no member that keeps heartbeating is fenced for its epoch (FENCED_MEMBER_EPOCH): nothing
 *     here stalls a member, so a loss may only follow a missed session.
 *
 * A second test measures how long partitions stay unowned: 8 members started at once (a burst of
 * joins), once stable one member leaves cleanly (SIGTERM → every one of its partitions assigned
 * to another member: < 1 s), then one is SIGKILLed (kill → all its partitions assigned elsewhere:
 * < session timeout + 1.5 s); the same end-of-run checks follow.
 *
 * The seed is in the test names; RUNNEL_GROUPS_CHAOS_SEED=<seed> replays the steps (the timing is
 * the machine's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Runnel, type Admin, type GroupDescription, type Producer } from '../../src/client/index.js';
import { rng, tempDir } from '../storage/helpers.js';
import { Hub } from './event-waits.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/group-member.mjs', import.meta.url));
const SEED = Number(process.env.RUNNEL_GROUPS_CHAOS_SEED ?? Math.floor(Math.random() * 1e9));
const BROKER_SETTINGS = ['groups.initialAssignmentDelayMs=0', 'groups.heartbeatIntervalMs=500'];
const TOPIC = 'chaos';
const PARTITIONS = 12;
const MEMBERS_MAX = 8;
const SESSION_TIMEOUT_MS = 2000;
const STEPS_MIN = 20;
const STEPS_MAX = 40;
const KILLS_MIN = 3;
const LEAVES_MIN = 3;
/** Removals while growing (and starts while shrinking, twice as many) are bounded by this. */
const DETOURS_MAX = 4;
/** Bound of every single wait (a member start, a settle, an exit, the drain). */
const WAIT_MS = 30_000;
const POLL_MS = 150;
const PRODUCE_TICK_MS = 20;
/** 2,000 records per second in the chaos test; a light load while rebalance times are measured. */
const CHAOS_RECORDS_PER_TICK = 40;
const TIMING_RECORDS_PER_TICK = 6;
const SENDS_IN_FLIGHT_MAX = 8;
const LEAVE_REBALANCE_MS_MAX = 1000;
const KILL_REBALANCE_MS_MAX = SESSION_TIMEOUT_MS + 1500;
/** A SIGKILLed child may print for a moment after the kill was recorded, not for this long. */
const KILL_LANDING_MS_MAX = 500;
const NEVER = 2n ** 63n;
const T0 = process.hrtime.bigint();

/** Milliseconds since the test file was loaded, for messages. */
const ms = (t: bigint): string => (t === NEVER ? '∞' : (Number(t - T0) / 1e6).toFixed(1));
const elapsedMs = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

/**
 * Polls an async condition (an admin call: no event tells when it changes) every POLL_MS until
 * it holds; bounded like a Hub wait, and ended by the Hub's failure too.
 */
async function poll(hub: Hub, done: () => Promise<boolean>, what: string, context: () => string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hub.failure !== null) throw new Error(`${what}: ${hub.failure.message}\n${context()}`, { cause: hub.failure });
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Child processes still running, SIGKILLed after each test whatever happened. */
const children = new Set<ChildProcess>();

afterEach(async () => {
  const waits = [...children].map((child) => new Promise((resolve) => child.once('close', resolve)));
  for (const child of children) killByPid(child, 'SIGKILL');
  await Promise.all(waits);
});

/** Sends a signal by PID (never by name); a no-op once the process has exited. */
function killByPid(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Spawns `node <args>`, hands it stdout lines, records its exit; 'close' comes after the last line. */
function spawnNode(args: string[], stdin: 'ignore' | 'pipe', onLine: (line: string) => void, onExit: (exit: Exit, stderr: string) => void): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: [stdin, 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  readline.createInterface({ input: child.stdout! }).on('line', onLine);
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  child.on('close', (code, signal) => {
    children.delete(child);
    onExit({ code, signal }, stderr);
  });
  child.on('error', (err) => onExit({ code: null, signal: null }, `${stderr}${String(err)}`));
  return child;
}

class BrokerProcess {
  readonly lines: string[] = [];
  exit: Exit | null = null;
  stderr = '';
  private readonly child: ChildProcess;
  private expectedExit = false;

  constructor(
    dataDir: string,
    private readonly hub: Hub,
  ) {
    const args = [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info', ...BROKER_SETTINGS.flatMap((s) => ['--set', s])];
    this.child = spawnNode(
      args,
      'ignore',
      (line) => {
        this.lines.push(line);
        hub.notify();
      },
      (exit, stderr) => {
        this.exit = exit;
        this.stderr = stderr;
        if (!this.expectedExit) hub.fail(new Error(`the broker exited (${this.describe()})`));
        hub.notify();
      },
    );
  }

  describe(): string {
    const exit = this.exit === null ? `pid ${this.child.pid} running` : `exit code ${this.exit.code}, signal ${this.exit.signal}`;
    return `broker ${exit}; last lines: ${JSON.stringify(this.lines.slice(-3))}; stderr: ${this.stderr}`;
  }

  async address(): Promise<string> {
    const find = (): string | null => {
      for (const line of this.lines) {
        const match = /listening on (\S+:\d+)\s*$/.exec(line);
        if (match !== null) return match[1];
      }
      return null;
    };
    await this.hub.until(() => find() !== null, 'broker start', () => this.describe());
    return find()!;
  }

  /** The broker's log lines naming a member, short. */
  about(memberId: string): string {
    return this.lines
      .filter((line) => line.includes(memberId))
      .map((line) => {
        const entry = JSON.parse(line) as { msg?: string; reason?: string; time?: number };
        return `${entry.msg}${entry.reason === undefined ? '' : ` (${entry.reason})`}`;
      })
      .join(', ');
  }

  async stop(): Promise<void> {
    this.expectedExit = true;
    killByPid(this.child, 'SIGTERM');
    await this.hub.until(() => this.exit !== null, 'broker stop', () => this.describe()).catch(() => killByPid(this.child, 'SIGKILL'));
  }
}

interface MemberEvent {
  event: 'started' | 'assigned' | 'revoked' | 'lost' | 'consumed' | 'closed';
  t: bigint;
  memberId?: string;
  partitions?: number[];
  partition?: number;
  offset?: number;
  value?: string | null;
  reason?: string;
  message?: string;
}

/** One member process: its events (in the order printed), what it owns now, how it ended. */
class Member {
  readonly events: MemberEvent[] = [];
  readonly owned = new Set<number>();
  memberId: string | null = null;
  exit: Exit | null = null;
  stderr = '';
  killedAt: bigint | null = null;
  terminatedAt: bigint | null = null;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    address: string,
    group: string,
    private readonly hub: Hub,
    private readonly onConsumed: (event: MemberEvent) => void,
  ) {
    // stdin is a pipe this process keeps open: the member's watchdog exits when it closes.
    const args = [FIXTURE, address, group, TOPIC, name, String(SESSION_TIMEOUT_MS)];
    this.child = spawnNode(args, 'pipe', (line) => this.onLine(line), (exit, stderr) => this.onExit(exit, stderr));
  }

  /** Started, neither stopped nor killed (nor exited). */
  get alive(): boolean {
    return this.exit === null && this.killedAt === null && this.terminatedAt === null;
  }

  get closed(): boolean {
    return this.events.some((e) => e.event === 'closed');
  }

  kill(): void {
    this.killedAt = process.hrtime.bigint();
    killByPid(this.child, 'SIGKILL');
  }

  terminate(): void {
    this.terminatedAt = process.hrtime.bigint();
    killByPid(this.child, 'SIGTERM');
  }

  /** The first `assigned` event naming the partition after `since`, if any. */
  assignedAfter(partition: number, since: bigint): MemberEvent | undefined {
    return this.events.find((e) => e.event === 'assigned' && e.t > since && e.partitions!.includes(partition));
  }

  describe(): string {
    const state = this.killedAt !== null ? 'killed' : this.exit !== null ? `exited ${this.exit.code}/${this.exit.signal}` : this.terminatedAt !== null ? 'stopping' : 'alive';
    const recent = this.events.filter((e) => e.event !== 'consumed').slice(-4).map(formatEvent);
    return `${this.name} (${state}, owns [${[...this.owned].sort((a, b) => a - b).join(',')}]): ${recent.join('; ')}${this.stderr === '' ? '' : `; stderr: ${this.stderr}`}`;
  }

  private onLine(line: string): void {
    let event: MemberEvent;
    try {
      const raw = JSON.parse(line) as Omit<MemberEvent, 't'> & { t: string };
      event = { ...raw, t: BigInt(raw.t) };
    } catch {
      this.hub.fail(new Error(`${this.name} printed a line that is not an event: ${line}`));
      return;
    }
    this.events.push(event);
    if (event.event === 'started') this.memberId = event.memberId!;
    else if (event.event === 'consumed') this.onConsumed(event);
    else if (event.event === 'assigned') this.take(event);
    else if (event.event === 'revoked' || event.event === 'lost') this.release(event);
    this.hub.notify();
  }

  private take(event: MemberEvent): void {
    for (const p of event.partitions!) {
      if (this.owned.has(p)) this.hub.fail(new Error(`${this.name} was assigned partition ${p}, which it owns already (${formatEvent(event)})`));
      this.owned.add(p);
    }
  }

  private release(event: MemberEvent): void {
    for (const p of event.partitions!) {
      if (!this.owned.delete(p)) this.hub.fail(new Error(`${this.name}: ${event.event} partition ${p}, which it does not own (${formatEvent(event)})`));
    }
  }

  private onExit(exit: Exit, stderr: string): void {
    this.exit = exit;
    this.stderr = stderr;
    if (this.killedAt === null && this.terminatedAt === null) this.hub.fail(new Error(`member ${this.name} exited by itself: ${this.describe()}`));
    else if (this.killedAt === null && exit.code !== 0) this.hub.fail(new Error(`member ${this.name} did not stop cleanly on SIGTERM: ${this.describe()}`));
    this.hub.notify();
  }
}

function formatEvent(e: MemberEvent): string {
  if (e.event === 'consumed') return `consumed ${e.partition}@${e.offset} at ${ms(e.t)}`;
  const partitions = e.partitions === undefined ? '' : ` [${e.partitions.join(',')}]`;
  return `${e.event}${partitions}${e.reason === undefined ? '' : ` (${e.reason})`} at ${ms(e.t)}`;
}

/** Produces to every partition on a timer; remembers the value acknowledged at each (partition, offset). */
class LoadProducer {
  /** Per partition, by offset. */
  readonly values: string[][] = Array.from({ length: PARTITIONS }, () => []);
  acked = 0;
  skippedTicks = 0;
  private readonly producer: Producer;
  private readonly sequence = new Array<number>(PARTITIONS).fill(0);
  private next = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    runnel: Runnel,
    private readonly hub: Hub,
    private readonly recordsPerTick: number,
  ) {
    this.producer = runnel.producer({ acks: 'leader', lingerMs: 2 });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), PRODUCE_TICK_MS);
  }

  /** Stops the timer and waits for every send in flight. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.hub.until(() => this.inFlight === 0, 'producer: sends in flight', () => `${this.inFlight} in flight`);
    await this.producer.close();
  }

  private tick(): void {
    if (this.inFlight >= SENDS_IN_FLIGHT_MAX) {
      this.skippedTicks++;
      return;
    }
    const messages = Array.from({ length: this.recordsPerTick }, () => {
      const partition = this.next++ % PARTITIONS;
      return { partition, value: `p${partition}-${this.sequence[partition]++}` };
    });
    this.inFlight++;
    this.producer
      .send({ topic: TOPIC, messages })
      .then((results) => {
        results.forEach((r, i) => {
          if (r.partition !== messages[i].partition) throw new Error(`record ${messages[i].value} went to partition ${r.partition}`);
          if (this.values[r.partition][r.offset] !== undefined) throw new Error(`offset ${r.partition}@${r.offset} acknowledged twice`);
          this.values[r.partition][r.offset] = messages[i].value;
        });
        this.acked += results.length;
      })
      .catch((err: unknown) => this.hub.fail(new Error(`producer: ${String(err)}`, { cause: err })))
      .finally(() => {
        this.inFlight--;
        this.hub.notify();
      });
  }
}

/** The group: its member processes, what they consumed, and the settle condition. */
class Group {
  readonly members: Member[] = [];
  /** Distinct (partition, offset) consumed, per partition. */
  readonly consumed = Array.from({ length: PARTITIONS }, () => new Set<number>());
  uniqueConsumed = 0;
  private started = 0;

  constructor(
    readonly groupId: string,
    private readonly address: string,
    private readonly admin: Admin,
    readonly hub: Hub,
  ) {}

  start(): Member {
    const member = new Member(`m${++this.started}`, this.address, this.groupId, this.hub, (e) => {
      const seen = this.consumed[e.partition!];
      if (seen === undefined) return this.hub.fail(new Error(`consumed from partition ${e.partition}, which does not exist`));
      if (!seen.has(e.offset!)) {
        seen.add(e.offset!);
        this.uniqueConsumed++;
      }
    });
    this.members.push(member);
    return member;
  }

  live(): Member[] {
    return this.members.filter((m) => m.alive);
  }

  /** The live member owning each partition, from events; undefined where none or several do. */
  owners(): (Member | undefined)[] {
    const owners: (Member | undefined)[] = new Array(PARTITIONS).fill(undefined);
    const counts = new Array<number>(PARTITIONS).fill(0);
    for (const m of this.live()) {
      for (const p of m.owned) {
        counts[p]++;
        owners[p] = m;
      }
    }
    return owners.map((m, p) => (counts[p] === 1 ? m : undefined));
  }

  /** Every partition has exactly one live owner, and each live member owns its fair share. */
  settledByEvents(): boolean {
    const live = this.live();
    if (live.length === 0 || live.some((m) => m.memberId === null)) return false;
    const counts = new Array<number>(PARTITIONS).fill(0);
    for (const m of live) for (const p of m.owned) counts[p]++;
    if (!counts.every((c) => c === 1)) return false;
    const low = Math.floor(PARTITIONS / live.length);
    const high = Math.ceil(PARTITIONS / live.length);
    return live.every((m) => m.owned.size >= low && m.owned.size <= high);
  }

  /** DescribeGroups agrees with the events: stable, the live members only, each partition's owner as the events say. */
  agrees(description: GroupDescription): boolean {
    if (description.state !== 'stable') return false;
    const live = this.live();
    if (description.members.length !== live.length) return false;
    const owners = this.owners();
    const offsets = description.offsets.filter((o) => o.topic === TOPIC);
    return offsets.length === PARTITIONS && offsets.every((o) => o.memberId !== null && o.memberId === owners[o.partition]?.memberId);
  }

  /** Waits until the events and the broker both say the group settled; resolves with the wait in ms. */
  async settle(what: string): Promise<number> {
    const begin = process.hrtime.bigint();
    await this.hub.until(() => this.settledByEvents(), `${what}: settle (events)`, () => this.describe());
    let last: GroupDescription | null = null;
    await poll(
      this.hub,
      async () => {
        last = await this.admin.describeGroup(this.groupId);
        return this.settledByEvents() && this.agrees(last);
      },
      `${what}: settle (DescribeGroups)`,
      () => `${this.describe()}\nDescribeGroups: ${JSON.stringify(last)}`,
    );
    return elapsedMs(begin, process.hrtime.bigint());
  }

  async waitExit(member: Member, what: string): Promise<void> {
    await this.hub.until(() => member.exit !== null, `${what}: ${member.name} exits`, () => this.describe());
  }

  describe(): string {
    const gone = this.members.filter((m) => !m.alive).slice(-3);
    return [...gone, ...this.live()].map((m) => `  ${m.describe()}`).join('\n');
  }
}

// ---- the checks, on the members' event streams ------------------------------------------------

type Ending = 'revoked' | 'lost' | 'closed' | 'killed' | 'alive';

interface Interval {
  member: Member;
  partition: number;
  start: bigint;
  end: bigint;
  endedBy: Ending;
}

interface Consumption {
  member: Member;
  partition: number;
  offset: number;
  value: string | null;
  t: bigint;
  interval: Interval;
}

interface Analysis {
  intervals: Interval[];
  consumptions: Consumption[];
  problems: string[];
}

/** One member's ownership intervals and consumptions, walking its events in the order printed. */
function analyseMember(member: Member, into: Analysis): void {
  const open = new Map<number, Interval>();
  const close = (interval: Interval, end: bigint, endedBy: Ending): void => {
    interval.end = end;
    interval.endedBy = endedBy;
    into.intervals.push(interval);
    open.delete(interval.partition);
  };
  for (const e of member.events) {
    if (e.event === 'assigned') {
      for (const partition of e.partitions!) open.set(partition, { member, partition, start: e.t, end: NEVER, endedBy: 'alive' });
    } else if (e.event === 'revoked' || e.event === 'lost') {
      for (const p of e.partitions!) {
        const interval = open.get(p);
        if (interval === undefined) into.problems.push(`${member.name}: ${formatEvent(e)} of partition ${p} it does not own`);
        else close(interval, e.t, e.event);
      }
    } else if (e.event === 'closed') {
      for (const interval of [...open.values()]) close(interval, e.t, 'closed');
    } else if (e.event === 'consumed') {
      const interval = open.get(e.partition!);
      if (interval === undefined) into.problems.push(`${member.name}: ${formatEvent(e)} outside any interval in which it owned the partition`);
      else into.consumptions.push({ member, partition: e.partition!, offset: e.offset!, value: e.value ?? null, t: e.t, interval });
    }
  }
  const last = member.events.at(-1)?.t ?? 0n;
  if (member.killedAt !== null) {
    if (elapsedMs(member.killedAt, last) > KILL_LANDING_MS_MAX) into.problems.push(`${member.name} printed ${elapsedMs(member.killedAt, last)} ms after its SIGKILL was sent`);
    const end = last >= member.killedAt ? last + 1n : member.killedAt;
    for (const interval of [...open.values()]) close(interval, end, 'killed');
  }
  for (const interval of open.values()) into.intervals.push(interval);
}

/** What every member did to one partition between two moments, for failure messages; runs of consumed messages folded. */
function timeline(members: Member[], partition: number, from: bigint, to: bigint): string {
  const lines: { t: bigint; text: string }[] = [];
  for (const m of members) {
    const run: MemberEvent[] = [];
    const flush = (): void => {
      if (run.length === 0) return;
      const first = run[0];
      const last = run[run.length - 1];
      lines.push({ t: first.t, text: `${m.name} consumed ${partition}@${first.offset}..${last.offset} (${run.length} messages) at ${ms(first.t)}..${ms(last.t)}` });
      run.length = 0;
    };
    for (const e of m.events) {
      if (e.t < from || e.t > to) continue;
      if (e.event === 'consumed') {
        if (e.partition === partition) run.push(e);
      } else if (e.event === 'closed' || e.partitions?.includes(partition) === true) {
        flush();
        lines.push({ t: e.t, text: `${m.name} ${formatEvent(e)}` });
      }
    }
    flush();
    if (m.killedAt !== null && m.killedAt >= from && m.killedAt <= to) lines.push({ t: m.killedAt, text: `${m.name} SIGKILL sent at ${ms(m.killedAt)}` });
  }
  lines.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  return lines.map((l) => `    ${l.text}`).join('\n');
}

/** No two intervals of one partition overlap ([a, b) and [c, d) overlap when c < b and a < d). */
function overlapProblems(members: Member[], intervals: Interval[]): string[] {
  const problems: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const mine = intervals.filter((i) => i.partition === p).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    let reach: Interval | null = null;
    for (const interval of mine) {
      if (reach !== null && interval.start < reach.end) {
        const describe = (i: Interval): string => `${i.member.name} [${ms(i.start)}, ${ms(i.end)}) ended by ${i.endedBy}`;
        const from = interval.start - 1_000_000_000n;
        const to = (reach.end === NEVER ? interval.start : reach.end) + 1_000_000_000n;
        problems.push(`partition ${p} had two owners: ${describe(reach)} and ${describe(interval)}\n${timeline(members, p, from, to)}`);
      }
      if (reach === null || interval.end > reach.end) reach = interval;
    }
  }
  return problems;
}

/** A record consumed again must have been consumed first in an interval that ended with a kill or a loss. */
function duplicateProblems(consumptions: Consumption[], members: Member[]): { duplicates: number; problems: string[] } {
  const byRecord = new Map<number, Consumption[]>();
  for (const c of consumptions) {
    const key = c.partition * 2 ** 32 + c.offset;
    const list = byRecord.get(key);
    if (list === undefined) byRecord.set(key, [c]);
    else list.push(c);
  }
  let duplicates = 0;
  /** Offending pairs (first consumption's interval, the next one's), with the offsets concerned. */
  const bad = new Map<Interval, Map<Interval, { first: Consumption; again: Consumption; offsets: number[] }>>();
  for (const list of byRecord.values()) {
    if (list.length === 1) continue;
    duplicates += list.length - 1;
    list.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    for (let i = 0; i < list.length - 1; i++) {
      const [first, again] = [list[i], list[i + 1]];
      if (first.interval !== again.interval && (first.interval.endedBy === 'killed' || first.interval.endedBy === 'lost')) continue;
      const pairs = bad.get(first.interval) ?? new Map<Interval, { first: Consumption; again: Consumption; offsets: number[] }>();
      bad.set(first.interval, pairs);
      const pair = pairs.get(again.interval) ?? { first, again, offsets: [] };
      pairs.set(again.interval, pair);
      pair.offsets.push(first.offset);
    }
  }
  const problems: string[] = [];
  for (const pairs of bad.values()) {
    for (const { first, again, offsets } of pairs.values()) {
      const what = first.interval === again.interval ? 'delivered twice within one ownership' : `consumed again after a hand-over that ended by ${first.interval.endedBy}`;
      const range = `${first.partition}@${Math.min(...offsets)}..${Math.max(...offsets)} (${offsets.length} records)`;
      problems.push(
        `${what}: ${range}, first by ${first.member.name} (interval [${ms(first.interval.start)}, ${ms(first.interval.end)})), again by ${again.member.name} from ${ms(again.t)}\n` +
          timeline(members, first.partition, first.t - 200_000_000n, again.t + 100_000_000n),
      );
    }
  }
  return { duplicates, problems };
}

function analyse(members: Member[]): Analysis {
  const analysis: Analysis = { intervals: [], consumptions: [], problems: [] };
  for (const m of members) analyseMember(m, analysis);
  analysis.problems.push(...overlapProblems(members, analysis.intervals));
  return analysis;
}

/**
 * Losses of a member that kept heartbeating: fenced for its epoch (FENCED_MEMBER_EPOCH "sent
 * epoch X, its epoch is Y"). Nothing in these tests stalls a member (no static members, a
 * rebalance timeout of minutes), so a member may lose partitions only by missing heartbeats for a
 * session (UNKNOWN_MEMBER_ID, or its own PARTITIONS_LOST watchdog): an epoch fence is spurious.
 */
function fencedLosses(members: Member[]): string[] {
  return members.flatMap((m) => m.events.filter((e) => e.event === 'lost' && e.reason === 'FENCED_MEMBER_EPOCH' && /sent epoch/.test(e.message ?? '')).map((e) => `${m.name} ${formatEvent(e)}: ${e.message}`));
}

/** At most a few problems in a message, so a systematic failure stays readable. */
function report(problems: string[]): string {
  return problems.length <= 5 ? problems.join('\n') : `${problems.slice(0, 5).join('\n')}\n... and ${problems.length - 5} more`;
}

// ---- the environment and the scenario ---------------------------------------------------------

interface Env {
  hub: Hub;
  broker: BrokerProcess;
  runnel: Runnel;
  admin: Admin;
  group: Group;
  producer: LoadProducer;
}

async function setup(groupId: string, recordsPerTick: number): Promise<Env> {
  const hub = new Hub(WAIT_MS);
  const broker = new BrokerProcess(tempDir('runnel-groups-chaos-'), hub);
  const address = await broker.address();
  const runnel = new Runnel({ brokers: [address] });
  const admin = runnel.admin();
  await admin.createTopic(TOPIC, { partitions: PARTITIONS });
  const group = new Group(groupId, address, admin, hub);
  const producer = new LoadProducer(runnel, hub, recordsPerTick);
  return { hub, broker, runnel, admin, group, producer };
}

async function teardown(env: Env): Promise<void> {
  for (const m of env.group.members) if (m.exit === null) m.kill();
  await env.runnel.close();
  await env.broker.stop();
}

type Action = 'start' | 'leave' | 'kill';

/** Grows from 1 member to MEMBERS_MAX (mostly starts), then shrinks (mostly leaves and kills) until the minimums are met. */
function plan(random: () => number): Action[] {
  const actions: Action[] = [];
  let members = 1;
  let peaked = false;
  let detours = 0;
  let kills = 0;
  let leaves = 0;
  const removal = (): Action => {
    const r = random();
    // Once shrinking, whatever is still short of its minimum goes first.
    if (peaked && kills < KILLS_MIN) return 'kill';
    if (peaked && leaves < LEAVES_MIN) return 'leave';
    return r < (kills <= leaves ? 0.65 : 0.35) ? 'kill' : 'leave';
  };
  while (actions.length < STEPS_MAX) {
    if (peaked && actions.length >= STEPS_MIN && kills >= KILLS_MIN && leaves >= LEAVES_MIN && members <= 2) break;
    let action: Action;
    if (members >= MEMBERS_MAX) action = removal();
    else if (members <= 1) action = 'start';
    else if (!peaked) action = random() < 0.8 || detours >= DETOURS_MAX ? 'start' : removal();
    else action = random() < 0.2 && detours < 2 * DETOURS_MAX ? 'start' : removal();
    // A step against the phase's direction; their number is bounded so the plan stays short.
    if (members > 1 && members < MEMBERS_MAX && (peaked ? action === 'start' : action !== 'start')) detours++;
    if (members >= MEMBERS_MAX) peaked = true;
    members += action === 'start' ? 1 : -1;
    if (action === 'kill') kills++;
    if (action === 'leave') leaves++;
    actions.push(action);
  }
  return actions;
}

/** Stops every live member cleanly (SIGTERM) and waits until each printed closed and exited. */
async function closeAll(env: Env, what: string): Promise<void> {
  const live = env.group.live();
  for (const m of live) m.terminate();
  for (const m of live) await env.group.waitExit(m, what);
  for (const m of live) expect(m.closed, `${what}: ${m.name} printed closed`).toBe(true);
}

/**
 * The end of a run: stops the producer, waits until the group committed everything (committed =
 * high watermark = records acknowledged, lag 0), checks one live owner per partition (events and
 * DescribeGroups agree), stops every member cleanly, then checks ownership, that every record was
 * consumed with its value, and that duplicates come only after kills and losses.
 */
async function drainAndVerify(env: Env): Promise<{ analysis: Analysis; duplicates: number; description: GroupDescription }> {
  const { group, hub } = env;
  await env.producer.stop();
  const produced = env.producer.values.map((v) => v.length);
  let last: GroupDescription | null = null;
  await poll(
    hub,
    async () => {
      last = await env.admin.describeGroup(group.groupId);
      const offsets = last.offsets.filter((o) => o.topic === TOPIC);
      return offsets.length === PARTITIONS && offsets.every((o) => o.committedOffset === produced[o.partition] && o.highWatermark === produced[o.partition] && o.lag === 0);
    },
    'drain: committed offsets reach the high watermarks',
    () => `produced ${JSON.stringify(produced)}; DescribeGroups: ${JSON.stringify(last)}\n${group.describe()}`,
  );
  await hub.until(() => group.uniqueConsumed >= env.producer.acked, 'drain: every record consumed (events)', () => `${group.uniqueConsumed} of ${env.producer.acked}`);

  // The end state: one live owner per partition, as the events and the broker say.
  const description = await env.admin.describeGroup(group.groupId);
  const owners = group.owners();
  expect(description.state, 'final state').toBe('stable');
  expect(description.members.map((m) => m.memberId).sort(), 'final members').toEqual(group.live().map((m) => m.memberId).sort());
  const offsets = description.offsets.filter((o) => o.topic === TOPIC);
  expect(new Set(offsets.map((o) => o.partition)).size, 'partitions described').toBe(PARTITIONS);
  for (const o of offsets) {
    expect(o.memberId, `partition ${o.partition}: owner (DescribeGroups)`).not.toBeNull();
    expect(owners[o.partition]?.memberId, `partition ${o.partition}: one live owner (events) = DescribeGroups' owner`).toBe(o.memberId);
  }

  await closeAll(env, 'final close');
  const analysis = analyse(group.members);
  expect(analysis.problems, report(analysis.problems)).toEqual([]);

  // Every acknowledged record consumed, with its value; duplicates only where a member died or lost partitions.
  const consumedValue = new Map<number, string | null>();
  for (const c of analysis.consumptions) consumedValue.set(c.partition * 2 ** 32 + c.offset, c.value);
  const missing: string[] = [];
  const wrong: string[] = [];
  env.producer.values.forEach((values, p) => {
    for (let o = 0; o < values.length; o++) {
      const key = p * 2 ** 32 + o;
      if (values[o] === undefined) wrong.push(`${p}@${o} was never acknowledged (a hole in the offsets)`);
      else if (!consumedValue.has(key)) missing.push(`${p}@${o}`);
      else if (consumedValue.get(key) !== values[o]) wrong.push(`${p}@${o}: consumed ${consumedValue.get(key)}, produced ${values[o]}`);
    }
  });
  expect(wrong, report(wrong)).toEqual([]);
  expect(missing.length, `records never consumed: ${missing.slice(0, 20).join(' ')}`).toBe(0);
  const { duplicates, problems } = duplicateProblems(analysis.consumptions, group.members);
  expect(problems, report(problems)).toEqual([]);
  return { analysis, duplicates, description };
}

describe('consumer groups under churn (real broker and member processes)', () => {
  it(`no partition has two owners, no record is lost, duplicates only after kills (seed ${SEED})`, async () => {
    const started = process.hrtime.bigint();
    const random = rng(SEED);
    const actions = plan(random);
    expect(actions.length, 'steps').toBeGreaterThanOrEqual(STEPS_MIN);
    expect(actions.filter((a) => a === 'kill').length, 'kills').toBeGreaterThanOrEqual(KILLS_MIN);
    expect(actions.filter((a) => a === 'leave').length, 'clean leaves').toBeGreaterThanOrEqual(LEAVES_MIN);
    const env = await setup('chaos-group', CHAOS_RECORDS_PER_TICK);
    const { group } = env;
    const settleMs: Record<Action, number[]> = { start: [], leave: [], kill: [] };
    try {
      env.producer.start();
      group.start();
      await group.settle('first member');
      let peak = 1;
      for (const [i, action] of actions.entries()) {
        const live = group.live();
        const where = `seed ${SEED}, step ${i + 1}/${actions.length} (${action}, ${live.length} members)`;
        if (action === 'start') group.start();
        else {
          const victim = live[Math.floor(random() * live.length)];
          if (action === 'kill') victim.kill();
          else victim.terminate();
          await group.waitExit(victim, where);
          if (action === 'leave') expect(victim.closed, `${where}: ${victim.name} closed`).toBe(true);
        }
        settleMs[action].push(await group.settle(where));
        peak = Math.max(peak, group.live().length);
      }
      expect(peak, 'the group grew to its largest size').toBe(MEMBERS_MAX);

      const { analysis, duplicates, description } = await drainAndVerify(env);
      const count = (event: MemberEvent['event']): number => group.members.reduce((n, m) => n + m.events.filter((e) => e.event === event).length, 0);
      const partitionsIn = (event: MemberEvent['event']): number => group.members.reduce((n, m) => n + m.events.filter((e) => e.event === event).reduce((k, e) => k + e.partitions!.length, 0), 0);
      const losses = group.members.flatMap((m) => m.events.filter((e) => e.event === 'lost').map((e) => `${m.name} ${formatEvent(e)} (broker: ${env.broker.about(m.memberId!)})`));
      const median = (xs: number[]): string => (xs.length === 0 ? '-' : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(0));
      console.info(
        `groups-chaos seed ${SEED}: ${actions.length} steps (${settleMs.start.length} starts, ${settleMs.leave.length} clean leaves, ${settleMs.kill.length} kills, peak ${peak} members); ` +
          `records produced ${env.producer.acked}, consumed ${analysis.consumptions.length} (${group.uniqueConsumed} distinct), duplicates ${duplicates}; ` +
          `rebalances: group epoch ${description.groupEpoch}, ${count('assigned')} assignments (${partitionsIn('assigned')} partitions), ${count('revoked')} revocations (${partitionsIn('revoked')}), ${count('lost')} losses (${partitionsIn('lost')}); ` +
          `settle ms median (max): start ${median(settleMs.start)} (${Math.max(...settleMs.start).toFixed(0)}), leave ${median(settleMs.leave)} (${Math.max(...settleMs.leave).toFixed(0)}), kill ${median(settleMs.kill)} (${Math.max(...settleMs.kill).toFixed(0)}); ` +
          `producer skipped ${env.producer.skippedTicks} ticks; ${elapsedMs(started, process.hrtime.bigint()).toFixed(0)} ms${losses.length === 0 ? '' : `; losses: ${losses.join(', ')}`}`,
      );
      const fenced = fencedLosses(group.members);
      expect(fenced, `members fenced while heartbeating (their epoch moved more than once between two of their heartbeats):\n${fenced.join('\n')}`).toEqual([]);
    } finally {
      await teardown(env);
    }
  }, 150_000);

  it(`partitions of a member that leaves are owned again within 1 s, of a killed one within its session timeout + 1.5 s (seed ${SEED})`, async () => {
    const random = rng(SEED ^ 0x5eed);
    const env = await setup('timing-group', TIMING_RECORDS_PER_TICK);
    const { group, hub } = env;
    try {
      env.producer.start();
      for (let i = 0; i < MEMBERS_MAX; i++) group.start();
      await group.settle(`${MEMBERS_MAX} members`);

      /** Waits until every partition is assigned to another live member after `since`; the latest of those moments. */
      const reassigned = async (from: Member, partitions: number[], since: bigint, what: string): Promise<bigint> => {
        const at = (p: number): bigint | undefined =>
          group
            .live()
            .filter((m) => m !== from && m.owned.has(p))
            .map((m) => m.assignedAfter(p, since)?.t)
            .find((t) => t !== undefined);
        await hub.until(() => partitions.every((p) => at(p) !== undefined), what, () => group.describe());
        return partitions.map((p) => at(p)!).reduce((a, b) => (a > b ? a : b));
      };

      const leaver = group.live()[Math.floor(random() * MEMBERS_MAX)];
      const leaving = [...leaver.owned];
      leaver.terminate();
      const leaveDone = await reassigned(leaver, leaving, leaver.terminatedAt!, `${leaver.name} leaves: partitions [${leaving.join(',')}] owned again`);
      const revoked = leaver.events.find((e) => e.event === 'revoked' && e.t > leaver.terminatedAt!);
      await group.waitExit(leaver, 'leave');
      const leaveMs = elapsedMs(leaver.terminatedAt!, leaveDone);
      const leaveFromRevokedMs = revoked === undefined ? NaN : elapsedMs(revoked.t, leaveDone);
      await group.settle(`${MEMBERS_MAX - 1} members`);

      const live = group.live();
      const victim = live[Math.floor(random() * live.length)];
      const lost = [...victim.owned];
      victim.kill();
      const killDone = await reassigned(victim, lost, victim.killedAt!, `${victim.name} killed: partitions [${lost.join(',')}] owned again`);
      const killMs = elapsedMs(victim.killedAt!, killDone);
      await group.waitExit(victim, 'kill');
      await group.settle(`${MEMBERS_MAX - 2} members`);

      console.info(
        `groups-chaos rebalance seed ${SEED}: clean leave of ${leaver.name} (partitions ${leaving.join(',')}): SIGTERM -> owned again ${leaveMs.toFixed(1)} ms ` +
          `(from its revoked event ${leaveFromRevokedMs.toFixed(1)} ms); SIGKILL of ${victim.name} (partitions ${lost.join(',')}): kill -> owned again ${killMs.toFixed(1)} ms ` +
          `(session timeout ${SESSION_TIMEOUT_MS} ms)`,
      );
      expect(revoked?.partitions?.slice().sort((a, b) => a - b), 'the leaver revoked what it owned').toEqual(leaving.sort((a, b) => a - b));
      expect(leaveMs, 'clean leave: SIGTERM -> partitions owned again (ms)').toBeLessThan(LEAVE_REBALANCE_MS_MAX);
      expect(killMs, 'kill: SIGKILL -> partitions owned again (ms)').toBeLessThan(KILL_REBALANCE_MS_MAX);

      const { duplicates } = await drainAndVerify(env);
      console.info(`groups-chaos rebalance seed ${SEED}: records produced ${env.producer.acked}, duplicates ${duplicates}`);
      const fenced = fencedLosses(group.members);
      expect(fenced, `members fenced while heartbeating (their epoch moved more than once between two of their heartbeats):\n${fenced.join('\n')}`).toEqual([]);
    } finally {
      await teardown(env);
    }
  }, 90_000);
});
