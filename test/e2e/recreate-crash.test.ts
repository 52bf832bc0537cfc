/**
 * Hardening #7 with a real broker process: create a topic, produce, delete records (the log
 * start moves and is checkpointed at once), delete the topic, re-create it under the same name,
 * produce with ACKS_ALL, and SIGKILL the broker well inside the 60 s checkpoint interval. After
 * the restart the new incarnation must hold every acknowledged record from offset 0: the old
 * incarnation's checkpointed log start must not be applied to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { connect, type Clients } from '../broker/helpers.js';
import { makeBatch, tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const WAIT_MS = 20_000;
const TOPIC = 'reborn';

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** Starts `runnel broker` on `dataDir` and resolves with a client once it announces its port. */
async function startBroker(dataDir: string): Promise<{ child: ChildProcess; clients: Clients }> {
  const child = spawn(process.execPath, [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the broker did not listen within ${WAIT_MS} ms`)), WAIT_MS);
    child.once('exit', (code) => reject(new Error(`the broker exited with ${code}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /listening on \S+:(\d+)\s*$/.exec(line);
      if (match === null) return;
      clearTimeout(timer);
      resolve(match[1]);
    });
  });
  return { child, clients: connect(`127.0.0.1:${port}`) };
}

async function produceAll(clients: Clients, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: [{ partition: 0, records: makeBatch({ tag: `${tag}-${i}` }) }] }] });
    expect(res.topics[0].partitions[0].error).toBeNull();
  }
}

async function createTopic(clients: Clients): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name: TOPIC, partitions: 1, configs: [] }] });
  expect(res.topics[0].error).toBeNull();
}

describe('delete and re-create a topic, then a crash (hardening #7)', () => {
  it('the new incarnation keeps every ACKS_ALL record from offset 0 after a SIGKILL', async () => {
    const dataDir = tempDir();
    const first = await startBroker(dataDir);
    await createTopic(first.clients);
    await produceAll(first.clients, 10, 'old');
    const deleted = await first.clients.call('admin', 'deleteRecords', { partitions: [{ topic: TOPIC, partition: 0, beforeOffset: 6 }] });
    expect(deleted.partitions[0]).toMatchObject({ error: null, logStartOffset: 6 });
    expect((await first.clients.call('admin', 'deleteTopics', { names: [TOPIC] })).topics[0].error).toBeNull();
    await createTopic(first.clients);
    await produceAll(first.clients, 8, 'new');
    first.clients.close();
    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;

    const second = await startBroker(dataDir);
    const fetched = await second.clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] });
    const partition = fetched.topics[0].partitions[0];
    expect(partition.error).toBeNull();
    expect(partition.offsets).toMatchObject({ logStartOffset: 0, logEndOffset: 8 });
    const values = decodeRecordBatches(partition.records).flatMap((batch) => batch.records.map((r) => r.value!.toString().split('-').slice(0, 2).join('-')));
    expect(values).toEqual(Array.from({ length: 8 }, (_, i) => `new-${i}`));
    second.clients.close();
  });
});
