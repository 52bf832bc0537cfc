/**
 * A broker SIGKILLed and started again while group members consume (issue 11, finding 17): no
 * partition may have two owners. Real processes: the broker (the CLI on dist/, restarted on the
 * same port and data directory, default group settings but a short heartbeat interval) and
 * member processes (fixtures/group-member.mjs, the compiled SDK) that print what they are
 * assigned, revoke, lose and consume, stamped with CLOCK_MONOTONIC (process.hrtime.bigint(), one
 * clock for every process of the machine).
 *
 * Three members own the 6 partitions, with a heartbeat retry backoff of 8 to 10 s, as a member
 * backing off after a few failures has (the SDK's backoff reaches 5 s by default): after the
 * crash they hear of the restarted broker seconds after it listens. A fourth member joins the
 * moment it listens. Before membership was stored, the restarted coordinator knew only the
 * newcomer and gave it every partition once its 3 s initial hold ended, while the three others,
 * not yet told, still consumed them. Now the three are recognised when they come back (same
 * member id and epoch: none of them loses its partitions), revoke what the newcomer is to
 * have, and only then does it get them.
 *
 * Checked, exact: per partition, the members' ownership intervals [assigned, revoked or lost or
 * closed) never overlap; the old members lose nothing; every partition ends with one owner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Runnel } from '../../src/client/index.js';
import { tempDir } from '../storage/helpers.js';
import { EventWaits } from './event-waits.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/group-member.mjs', import.meta.url));
const TOPIC = 'restart';
const PARTITIONS = 6;
const SESSION_TIMEOUT_MS = 30_000;
/** The old members' heartbeat retry backoff after the crash: their first retry comes 4 to 8 s later. */
const SLOW_BACKOFF_MS = ['8000', '10000'];
const WAIT_MS = 45_000;
const NEVER = 2n ** 63n;

const children = new Set<ChildProcess>();
const waits = new EventWaits();

afterEach(async () => {
  const closed = [...children].map((child) => new Promise((resolve) => child.once('close', resolve)));
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(closed);
});

function spawnNode(args: string[], onLine: (line: string) => void): ChildProcess {
  // stdin is a pipe kept open: the member's watchdog exits when it closes.
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    onLine(line);
    waits.notify();
  });
  child.on('close', () => {
    children.delete(child);
    waits.notify();
  });
  return child;
}

const until = (done: () => boolean, what: string, context: () => string): Promise<void> =>
  waits.until(done, () => null, () => new Error(`${what}: not within ${WAIT_MS} ms\n${context()}`), WAIT_MS);

/** `runnel broker` on `listen`; resolves with the child and its address once it listens. */
async function startBroker(dataDir: string, listen: string): Promise<{ child: ChildProcess; address: string }> {
  let address: string | null = null;
  const args = [CLI, 'broker', '--data', dataDir, '--listen', listen, '--metrics-listen', 'off', '--log-level', 'warn', '--set', 'groups.heartbeatIntervalMs=500'];
  const child = spawnNode(args, (line) => (address ??= /listening on (\S+:\d+)\s*$/.exec(line)?.[1] ?? null));
  await until(() => address !== null || child.exitCode !== null, 'broker start', () => '');
  if (address === null) throw new Error(`the broker exited with ${child.exitCode}`);
  return { child, address };
}

interface MemberEvent {
  event: 'started' | 'assigned' | 'revoked' | 'lost' | 'consumed' | 'closed';
  t: bigint;
  partitions?: number[];
  reason?: string;
}

class Member {
  readonly events: MemberEvent[] = [];
  readonly owned = new Set<number>();
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    address: string,
    backoff: string[] = [],
  ) {
    this.child = spawnNode([FIXTURE, address, 'g', TOPIC, name, String(SESSION_TIMEOUT_MS), ...backoff], (line) => {
      const raw = JSON.parse(line) as Omit<MemberEvent, 't'> & { t: string };
      const event = { ...raw, t: BigInt(raw.t) };
      this.events.push(event);
      if (event.event === 'assigned') for (const p of event.partitions!) this.owned.add(p);
      if (event.event === 'revoked' || event.event === 'lost') for (const p of event.partitions!) this.owned.delete(p);
      if (event.event === 'closed') this.owned.clear();
    });
  }

  describe(): string {
    const events = this.events.filter((e) => e.event !== 'consumed').map((e) => `${e.event}${e.partitions === undefined ? '' : ` [${e.partitions.join(',')}]`}${e.reason === undefined ? '' : ` (${e.reason})`}`);
    return `${this.name} owns [${[...this.owned].join(',')}]: ${events.join('; ')}`;
  }
}

/** Per partition, overlapping ownership intervals of two members. */
function overlaps(members: Member[]): string[] {
  const intervals: { member: string; partition: number; start: bigint; end: bigint }[] = [];
  for (const m of members) {
    const open = new Map<number, bigint>();
    for (const e of m.events) {
      if (e.event === 'assigned') for (const p of e.partitions!) open.set(p, e.t);
      const ended = e.event === 'revoked' || e.event === 'lost' ? e.partitions! : e.event === 'closed' ? [...open.keys()] : [];
      for (const p of ended) {
        intervals.push({ member: m.name, partition: p, start: open.get(p)!, end: e.t });
        open.delete(p);
      }
    }
    for (const [p, start] of open) intervals.push({ member: m.name, partition: p, start, end: NEVER });
  }
  const problems: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const mine = intervals.filter((i) => i.partition === p).sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < mine.length; i++) {
      if (mine[i].start < mine[i - 1].end) problems.push(`partition ${p}: ${mine[i].member} assigned ${Number(mine[i - 1].end - mine[i].start) / 1e6} ms before ${mine[i - 1].member} gave it up`);
    }
  }
  return problems;
}

describe('group members across a broker SIGKILL and restart', () => {
  it('never has two owners of a partition: members that come back late are recognised and revoke before the newcomer gets anything', async () => {
    const dataDir = tempDir('runnel-groups-broker-restart-');
    const broker = await startBroker(dataDir, '127.0.0.1:0');
    const address = broker.address;
    const runnel = new Runnel({ brokers: [address] });
    await runnel.admin().createTopic(TOPIC, { partitions: PARTITIONS });
    // A record per partition every 50 ms (one send at a time; failures while the broker is down are ignored).
    const producer = runnel.producer({ lingerMs: 0 });
    let sending = false;
    let sent = 0;
    const ticker = setInterval(() => {
      if (sending) return;
      sending = true;
      const messages = Array.from({ length: PARTITIONS }, (_, partition) => ({ value: `v${sent++}`, partition }));
      producer
        .send({ topic: TOPIC, messages })
        .catch(() => undefined)
        .finally(() => (sending = false));
    }, 50);
    try {
      await scenario(address, dataDir, broker);
    } finally {
      clearInterval(ticker);
      await runnel.close();
    }
  }, 90_000);
});

/** Three members consume, the broker is SIGKILLed and started again, a fourth joins at once; ownership checked. */
async function scenario(address: string, dataDir: string, crashed: { child: ChildProcess }): Promise<void> {
  const old = ['m1', 'm2', 'm3'].map((name) => new Member(name, address, SLOW_BACKOFF_MS));
  const all = [...old];
  const context = (): string => all.map((m) => `  ${m.describe()}`).join('\n');
  const settled = (members: Member[]): boolean => {
    const counts = new Array<number>(PARTITIONS).fill(0);
    for (const m of members) for (const p of m.owned) counts[p]++;
    return counts.every((c) => c === 1) && members.every((m) => m.owned.size >= Math.floor(PARTITIONS / members.length));
  };
  // Each has consumed since its last assignment: they are consuming when the broker dies.
  const consuming = (m: Member): boolean => m.events.findLastIndex((e) => e.event === 'consumed') > m.events.findLastIndex((e) => e.event === 'assigned');
  await until(() => settled(old) && old.every(consuming), 'three members own and consume', context);

  const exited = new Promise((resolve) => crashed.child.once('exit', resolve));
  crashed.child.kill('SIGKILL');
  await exited;
  await startBroker(dataDir, address);
  const newcomer = new Member('m4', address);
  all.push(newcomer);
  await until(() => settled(all), 'four members own the partitions after the restart', context);

  for (const m of all) m.child.kill('SIGTERM');
  await until(() => all.every((m) => m.events.some((e) => e.event === 'closed')), 'members close', context);
  expect(overlaps(all), context()).toEqual([]);
  const losses = old.flatMap((m) => m.events.filter((e) => e.event === 'lost').map((e) => `${m.name} lost [${e.partitions!.join(',')}] (${e.reason})`));
  expect(losses, `the members that consumed before the crash were recognised after it\n${context()}`).toEqual([]);
}
