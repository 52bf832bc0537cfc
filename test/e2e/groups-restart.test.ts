/**
 * Committed offsets are durable: a broker child process SIGKILLed right after commits were
 * acknowledged comes back with exactly those offsets, three times over, and a group member
 * started after each restart goes on exactly after them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Runnel, type ConsumerMessage } from '../../src/client/index.js';
import { tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const children = new Set<ChildProcess>();
const clients: Runnel[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** Starts `runnel broker` on port 0; resolves with its address once it prints `listening on`. */
async function startBroker(dataDir: string): Promise<{ child: ChildProcess; address: string }> {
  const args = [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn', '--set', 'groups.initialAssignmentDelayMs=0', '--set', 'groups.heartbeatIntervalMs=500'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const match = /listening on (\S+)/.exec(line);
    if (match !== null) {
      clearTimeout(timer);
      return { child, address: match[1] };
    }
  }
  throw new Error('the broker exited before listening');
}

async function sigkill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  children.delete(child);
}

/** Takes `count` messages from a group member, marking each processed, then commits them. */
async function takeAndCommit(runnel: Runnel, count: number): Promise<ConsumerMessage[]> {
  const consumer = runnel.consumer({ groupId: 'g', topics: ['t'], autoOffsetReset: 'earliest', autoCommit: false, sessionTimeoutMs: 3000 });
  const taken: ConsumerMessage[] = [];
  const deadline = Date.now() + 20_000;
  const it = consumer[Symbol.asyncIterator]();
  while (taken.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${taken.length} of ${count} messages within 20 s`);
    const next = await it.next();
    if (next.done === true) throw new Error('the consumer ended');
    taken.push(next.value);
    consumer.markProcessed(next.value);
  }
  await consumer.commit();
  return taken;
}

describe('committed offsets across broker crashes', () => {
  it('come back exactly as acknowledged after each of 3 SIGKILLs, and members go on right after them', async () => {
    const dataDir = tempDir('runnel-groups-restart-');
    let broker = await startBroker(dataDir);
    let runnel = new Runnel({ brokers: [broker.address] });
    clients.push(runnel);
    await runnel.admin().createTopic('t', { partitions: 3 });
    const producer = runnel.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', messages: Array.from({ length: 300 }, (_, i) => ({ value: `v${i}`, partition: i % 3 })) });
    await producer.close();
    const seen = new Set<string>();
    let committedTotal = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      const taken = await takeAndCommit(runnel, 70);
      for (const m of taken) {
        expect(seen.has(m.value!.toString()), `cycle ${cycle}: ${m.value!.toString()} came again`).toBe(false);
        seen.add(m.value!.toString());
      }
      committedTotal += 70;
      // Acknowledged commits, then a crash with the member still in the group.
      await sigkill(broker.child);
      runnel.connection.close();
      broker = await startBroker(dataDir);
      runnel = new Runnel({ brokers: [broker.address] });
      clients.push(runnel);
      const offsets = await runnel.admin().fetchGroupOffsets('g');
      expect(offsets.reduce((sum, o) => sum + o.offset, 0)).toBe(committedTotal);
    }
    const rest = await takeAndCommit(runnel, 300 - committedTotal);
    for (const m of rest) seen.add(m.value!.toString());
    expect(seen.size).toBe(300);
  });
});
