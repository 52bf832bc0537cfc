/**
 * The data-directory lock across PID namespaces (hardening #15): two brokers started with
 * `unshare --pid --fork --mount-proc`, each PID 1 of its own namespace and unable to see the
 * other's processes, as two containers sharing a volume are. A PID file cannot tell them apart
 * (both write "1", and each finds "1" alive: itself); the lock must. The second broker must
 * refuse to start, with one clear STORAGE_ERROR line, while the first runs, and must start once
 * the first has been SIGKILLed (the kernel drops the dead broker's lock).
 *
 * Needs root and util-linux's unshare (the test machines have both); skipped, saying so, without.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../storage/helpers.js';
import { Hub } from './event-waits.js';
import { watchChild, type WatchedChild } from './watched-child.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const WAIT_MS = 20_000;
const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--version']).status === 0;

const live = new Set<NamespacedBroker>();

afterEach(async () => {
  for (const broker of [...live]) {
    broker.killBroker('SIGKILL');
    await broker.exited;
  }
});

/** `unshare --pid --fork --mount-proc node CLI broker ...`: the broker is PID 1 of a new namespace. */
class NamespacedBroker {
  private readonly watched: WatchedChild;

  constructor(
    dataDir: string,
    private readonly hub: Hub,
  ) {
    const broker = [process.execPath, CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn'];
    // --kill-child: if unshare itself dies, its child (the broker) gets SIGKILL, so none outlives the test.
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...broker], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.watched = watchChild(child, hub);
    live.add(this);
    void this.watched.exited.then(() => live.delete(this));
  }

  get exited(): Promise<void> {
    return this.watched.exited;
  }

  get exit(): { code: number | null; signal: NodeJS.Signals | null } | null {
    return this.watched.exit();
  }

  get stderr(): string {
    return this.watched.stderr();
  }

  describe(): string {
    return `unshare: ${this.watched.describe()}`;
  }

  /** Resolves true once the broker listens, false once it ended without listening. */
  async started(what: string): Promise<boolean> {
    const listening = (): boolean => this.watched.lines.some((line) => / listening on \S+:\d+\s*$/.test(line));
    await this.hub.until(() => listening() || this.exit !== null, `${what}: start or exit`, () => this.describe());
    if (!listening()) await this.exited;
    return listening();
  }

  /** PID (in the test's namespace) of the broker: the one child of unshare. */
  brokerHostPid(): number {
    const unsharePid = this.watched.child.pid!;
    const children = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children).toHaveLength(1);
    return children[0];
  }

  /** The broker's PID in each namespace it is in, outermost first (/proc status NSpid). */
  namespacePids(): number[] {
    const status = fs.readFileSync(`/proc/${this.brokerHostPid()}/status`, 'utf8');
    const line = status.split('\n').find((l) => l.startsWith('NSpid:'));
    return line!.split(/\s+/).slice(1).map(Number);
  }

  /** Signals the broker itself (by PID, never by name); a no-op once unshare has ended. */
  killBroker(signal: NodeJS.Signals): void {
    if (this.exit !== null) return;
    try {
      process.kill(this.brokerHostPid(), signal);
    } catch (err) {
      // The broker may have exited between the check and the signal.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async ended(what: string): Promise<void> {
    await this.hub.until(() => this.exit !== null, `${what}: exit`, () => this.describe());
    await this.exited;
  }
}

describe.skipIf(!canUnshare)('data-directory lock across PID namespaces (needs root and unshare)', () => {
  it('refuses a second broker, PID 1 in another namespace, while the first runs; starts it once the first is SIGKILLed', async () => {
    const hub = new Hub(WAIT_MS);
    const dataDir = tempDir();

    const first = new NamespacedBroker(dataDir, hub);
    expect(await first.started('first broker')).toBe(true);
    const firstPids = first.namespacePids();
    expect(firstPids.at(-1)).toBe(1); // PID 1 in its own namespace, as in a container
    expect(firstPids.length).toBeGreaterThan(1);

    const second = new NamespacedBroker(dataDir, hub);
    const secondStarted = await second.started('second broker, first running');
    expect(secondStarted, second.describe()).toBe(false);
    expect(second.exit?.code).not.toBe(0);
    const stderrLines = second.stderr.trim().split('\n');
    expect(stderrLines).toHaveLength(1);
    expect(stderrLines[0]).toMatch(/^runnel: STORAGE_ERROR: .*data directory .* is locked by another process/);
    expect(stderrLines[0]).toContain('pid 1'); // it names the recorded owner
    expect(first.exit).toBeNull();

    first.killBroker('SIGKILL');
    await first.ended('first broker after SIGKILL');

    const third = new NamespacedBroker(dataDir, hub);
    expect(await third.started('third broker, first killed'), third.describe()).toBe(true);
    expect(third.namespacePids().at(-1)).toBe(1);
    third.killBroker('SIGTERM');
    await third.ended('third broker after SIGTERM');
    expect(third.exit?.code).toBe(0);
  });
});
