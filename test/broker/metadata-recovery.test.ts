/**
 * Broker start-up against damaged or missing metadata and files (hardening #6, #10): a real
 * broker in this process, stopped, its data directory damaged, started again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { snapshotFiles } from '../../src/broker/producer-snapshots.js';
import { DirLock } from '../../src/storage/dir-lock.js';
import { LogManager } from '../../src/storage/log-manager.js';
import { makeBatch, tempDir } from '../storage/helpers.js';
import { startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const SMALL_SEGMENTS = ['log.segmentBytes=2048', 'log.maxBatchBytes=2048', 'log.indexIntervalBytes=256'];

async function createTopic(clients: Clients, name: string, partitions: number): Promise<void> {
  const res = await clients.call('admin', 'createTopics', { topics: [{ name, partitions, configs: [] }] });
  expect(res.topics[0].error).toBeNull();
}

async function produce(clients: Clients, topic: string, partition: number, records: Buffer): Promise<any> {
  const res = await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition, records }] }] });
  return res.topics[0].partitions[0];
}

async function fetchAt(clients: Clients, topic: string, partition: number, fetchOffset: number): Promise<any> {
  const res = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: 0 }] }] });
  return res.topics[0].partitions[0];
}

describe('broker start with a lost segment (hardening #10)', () => {
  it('starts, keeps serving other partitions, and answers STORAGE_ERROR for the partition with the hole', async () => {
    const first = await startTestBroker({ set: SMALL_SEGMENTS });
    await createTopic(first.clients, 'holes', 2);
    const logs = first.running.broker.logs;
    while (logs.requireLog('holes', 0).segmentCount < 4) expect((await produce(first.clients, 'holes', 0, makeBatch({ records: 3, valueBytes: 100 }))).error).toBeNull();
    const bases = logs.requireLog('holes', 0).segmentBaseOffsets();
    await stopTestBroker(first.running);
    const partitionDir = path.join(first.dataDir, 'holes-0');
    const lost = fs.readdirSync(partitionDir).filter((name) => name.startsWith(String(bases[1]).padStart(20, '0')));
    for (const name of lost) fs.rmSync(path.join(partitionDir, name));
    // As after a crash: no producer-state snapshot, so the broker would replay the whole log.
    for (const file of snapshotFiles(partitionDir)) fs.rmSync(file);

    const second = await startTestBroker({ dataDir: first.dataDir, set: SMALL_SEGMENTS });
    expect(second.running.broker.logs.report.repairs.join('\n')).toMatch(/are missing/);
    expect((await produce(second.clients, 'holes', 0, makeBatch())).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(second.clients, 'holes', 0, bases[1])).error?.code).toBe('STORAGE_ERROR');
    expect((await fetchAt(second.clients, 'holes', 0, 0)).error).toBeNull();
    expect((await produce(second.clients, 'holes', 1, makeBatch())).error).toBeNull();
    // Nothing after the hole was deleted.
    expect(fs.readdirSync(partitionDir).filter((name) => name.endsWith('.log'))).toHaveLength(bases.length - 1);

    // A clean stop writes no producer-state snapshot for the offline partition: an empty one
    // would stand for the whole log once the segment is restored, and duplicates would pass.
    await stopTestBroker(second.running);
    expect(snapshotFiles(partitionDir)).toEqual([]);
    expect(snapshotFiles(path.join(first.dataDir, 'holes-1')).length).toBeGreaterThan(0);
  });
});

/** A broker with topic `name` (one partition) holding `records` acknowledged records; stopped. */
async function stoppedBrokerWithTopic(name: string, records: number): Promise<{ dataDir: string; topicFile: string; partitionDir: string }> {
  const { running, clients, dataDir } = await startTestBroker();
  await createTopic(clients, name, 1);
  for (let i = 0; i < records; i++) expect((await produce(clients, name, 0, makeBatch({ tag: `r${i}` }))).error).toBeNull();
  await stopTestBroker(running);
  return { dataDir, topicFile: path.join(dataDir, 'meta', 'topics', `${name}.json`), partitionDir: path.join(dataDir, `${name}-0`) };
}

async function startFailure(dataDir: string): Promise<Error> {
  try {
    await startTestBroker({ dataDir });
  } catch (err) {
    return err as Error;
  }
  throw new Error('the broker started');
}

function strays(dataDir: string): string[] {
  return fs.readdirSync(dataDir).filter((name) => name.endsWith('-stray'));
}

describe('topic metadata and partition logs at start (hardening #6)', () => {
  const damages: [string, (file: string) => void][] = [
    ['a zero-length file (power loss)', (file) => fs.truncateSync(file, 0)],
    ['a newer format version', (file) => fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), version: 99 }))],
    ['a read error', (file) => (fs.rmSync(file), fs.mkdirSync(file))],
    ['a topic id that partition.metadata and the checkpoints cannot hold', (file) => fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), topicId: 'two words' }))],
  ];
  for (const [damage, apply] of damages) {
    it(`an unreadable topic file (${damage}) stops the start with one line naming the file and the fix, and deletes nothing`, async () => {
      const { dataDir, topicFile, partitionDir } = await stoppedBrokerWithTopic('kept', 3);
      const original = fs.readFileSync(topicFile);
      const segmentsBefore = fs.readdirSync(partitionDir).filter((name) => name.endsWith('.log'));
      apply(topicFile);

      const err = await startFailure(dataDir);
      expect(err.message).not.toContain('\n');
      expect(err.message).toContain(topicFile);
      expect(err.message).toMatch(/restore it/);
      expect(fs.readdirSync(partitionDir).filter((name) => name.endsWith('.log'))).toEqual(segmentsBefore);

      fs.rmSync(topicFile, { recursive: true });
      fs.writeFileSync(topicFile, original);
      const again = await startTestBroker({ dataDir });
      expect(again.running.broker.logs.requireLog('kept', 0).logEndOffset).toBe(3);
    });
  }

  it('a log whose topic file is gone is kept offline under a -stray name, never deleted', async () => {
    const { dataDir, topicFile, partitionDir } = await stoppedBrokerWithTopic('orphan', 2);
    const bytes = fs.readFileSync(path.join(partitionDir, '00000000000000000000.log'));
    fs.rmSync(topicFile);
    const { running } = await startTestBroker({ dataDir });
    expect(running.broker.topics.get('orphan')).toBeUndefined();
    expect(running.broker.logs.getLog('orphan', 0)).toBeUndefined();
    const [stray] = strays(dataDir);
    expect(stray).toMatch(/^orphan-0\..+-stray$/);
    expect(fs.readFileSync(path.join(dataDir, stray, '00000000000000000000.log'))).toEqual(bytes);
  });

  it('a log of an older incarnation of a topic (another topic id) is a stray, never adopted by the new topic of that name', async () => {
    const { dataDir, topicFile } = await stoppedBrokerWithTopic('reborn', 4);
    // The topic file now names a new incarnation (deleted and re-created while this log was offline).
    const metadata = JSON.parse(fs.readFileSync(topicFile, 'utf8'));
    fs.writeFileSync(topicFile, JSON.stringify({ ...metadata, topicId: '00000000-0000-4000-8000-000000000001' }));
    const { running, clients } = await startTestBroker({ dataDir });
    expect(running.broker.logs.requireLog('reborn', 0).logEndOffset).toBe(0);
    expect(strays(dataDir)).toHaveLength(1);
    expect((await produce(clients, 'reborn', 0, makeBatch())).baseOffset).toBe(0);
  });

  it('a deletion interrupted by a crash is finished at the next start (only the logs of that topic id); a re-created topic keeps its own', async () => {
    const { dataDir, topicFile, partitionDir } = await stoppedBrokerWithTopic('gone', 2);
    // A crash right after DeleteTopics made its intent durable: the file renamed, the logs still there.
    fs.renameSync(topicFile, `${topicFile}.deleting`);
    const { running, clients } = await startTestBroker({ dataDir });
    expect(running.broker.topics.get('gone')).toBeUndefined();
    expect(fs.existsSync(partitionDir)).toBe(false);
    expect(fs.existsSync(`${topicFile}.deleting`)).toBe(false);
    expect(strays(dataDir)).toEqual([]);

    // Delete and re-create through the API, restart: the new incarnation is found, nothing strays.
    await createTopic(clients, 'gone', 1);
    expect((await produce(clients, 'gone', 0, makeBatch())).error).toBeNull();
    expect((await clients.call('admin', 'deleteTopics', { names: ['gone'] })).topics[0].error).toBeNull();
    await createTopic(clients, 'gone', 1);
    expect((await produce(clients, 'gone', 0, makeBatch({ records: 2 }))).error).toBeNull();
    await stopTestBroker(running);
    const again = await startTestBroker({ dataDir });
    expect(again.running.broker.logs.requireLog('gone', 0).logEndOffset).toBe(2);
    expect(strays(dataDir)).toEqual([]);
  });
});

describe('partition.metadata (hardening #6)', () => {
  it('an unreadable partition.metadata stops the open with one line naming the file, and releases the directory', () => {
    const dataDir = tempDir();
    const manager = LogManager.open({ dataDir, background: false });
    const dir = manager.createLog('t', 0, undefined, 'id-1').dir;
    expect(fs.readFileSync(path.join(dir, 'partition.metadata'), 'utf8')).toBe('version: 0\ntopic_id: id-1\n');
    manager.closeAbruptly();
    fs.writeFileSync(path.join(dir, 'partition.metadata'), '');
    let message = '';
    try {
      LogManager.open({ dataDir, background: false });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(path.join(dir, 'partition.metadata'));
    expect(message).not.toContain('\n');
    // The directory was released: the flock on .lock is free (the file itself stays; dir-lock.ts).
    DirLock.acquireSync(dataDir).releaseSync();
    fs.rmSync(path.join(dir, 'partition.metadata'));
    const reopened = LogManager.open({ dataDir, background: false });
    expect(reopened.requireLog('t', 0).topicId).toBeNull(); // adopted by the registry's reconcile
    reopened.closeAbruptly();
  });

  it('a log from before partition.metadata existed is adopted once by the topic of its name and gets the file', async () => {
    const { dataDir, topicFile, partitionDir } = await stoppedBrokerWithTopic('legacy', 2);
    fs.rmSync(path.join(partitionDir, 'partition.metadata'), { force: true });
    const { topicId } = JSON.parse(fs.readFileSync(topicFile, 'utf8'));
    const { running } = await startTestBroker({ dataDir });
    expect(running.broker.logs.requireLog('legacy', 0).logEndOffset).toBe(2);
    expect(fs.readFileSync(path.join(partitionDir, 'partition.metadata'), 'utf8')).toBe(`version: 0\ntopic_id: ${topicId}\n`);
    expect(strays(dataDir)).toEqual([]);
  });

  it('upgrading a data directory from before topic ids: version 0 checkpoints apply to the adopted logs and are rewritten with the ids at once', async () => {
    const { dataDir, topicFile, partitionDir } = await stoppedBrokerWithTopic('upgraded', 3);
    fs.rmSync(path.join(partitionDir, 'partition.metadata'));
    fs.writeFileSync(path.join(dataDir, 'log-start-offset-checkpoint'), '0\n1\nupgraded 0 1\n');
    const { topicId } = JSON.parse(fs.readFileSync(topicFile, 'utf8'));
    const { running } = await startTestBroker({ dataDir });
    expect(running.broker.logs.requireLog('upgraded', 0).logStartOffset).toBe(1);
    // Rewritten before the first periodic checkpoint: a crash now must not lose the log start.
    expect(fs.readFileSync(path.join(dataDir, 'log-start-offset-checkpoint'), 'utf8')).toMatch(new RegExp(`^upgraded 0 1 ${topicId}$`, 'm'));
  });
});
