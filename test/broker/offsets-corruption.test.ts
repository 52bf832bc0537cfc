/**
 * Hardening #12: a corrupt batch in a sealed segment of `__consumer_offsets` must not stop the
 * broker. The coordinator CRC-checks the whole topic at load, skips the bad batch with one log
 * line naming the segment file and the offset, and every group keeps what the other records say:
 * the offsets committed elsewhere, and later commits of the groups in the bad batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../src/broker/server.js';
import { OFFSETS_TOPIC, partitionFor } from '../../src/coordinator/offset-store.js';
import { BATCH_HEADER_BYTES } from '../../src/format/batch-header.js';
import { LOG_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { makeBatch } from '../storage/helpers.js';
import { connect, startTestBroker, stopTestBroker, testConfig, type Clients } from './helpers.js';

/** One offsets partition, so every group shares it; no scrub: this is the load's own check. */
const SETTINGS = ['groups.offsetsTopicPartitions=1', 'groups.initialAssignmentDelayMs=0', 'scrubBytesPerSecond=0'];

async function commitAnswer(clients: Clients, groupId: string, offset: number): Promise<string | null> {
  const res = await clients.call('groups', 'commitOffsets', { groupId, memberId: '', memberEpoch: -1, offsets: [{ topic: 't', partition: 0, offset, metadata: '' }] });
  return res.error?.code ?? res.results?.[0]?.error?.code ?? null;
}

async function commit(clients: Clients, groupId: string, offset: number): Promise<void> {
  expect(await commitAnswer(clients, groupId, offset)).toBeNull();
}

/** Flips one byte of the records of a segment's first batch: its CRC no longer matches. */
function flipFirstBatch(segmentFile: string): void {
  const fd = fs.openSync(segmentFile, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, BATCH_HEADER_BYTES + 8);
  fs.writeSync(fd, Buffer.from([byte[0] ^ 0xff]), 0, 1, BATCH_HEADER_BYTES + 8);
  fs.closeSync(fd);
}

/** Starts a broker in this process whose log lines (pino JSON) are collected in `lines`. */
async function startLogged(dataDir: string, settings: string[], lines: Record<string, unknown>[]): Promise<{ running: Awaited<ReturnType<typeof startBroker>>; clients: Clients }> {
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().split('\n')) if (line.length > 0) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const running = await startBroker(testConfig(dataDir, settings), pino({ level: 'info' }, sink));
  return { running, clients: connect(`127.0.0.1:${running.port}`) };
}

async function createTopicWithRecords(clients: Clients): Promise<void> {
  const created = await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] });
  expect(created.topics[0].error).toBeNull();
  for (let i = 0; i < 4; i++) await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 't', partitions: [{ partition: 0, records: makeBatch({ records: 5 }) }] }] });
}

async function committed(clients: Clients, groupId: string): Promise<number | undefined> {
  const res = await clients.call('groups', 'fetchOffsets', { groupId, partitions: [{ topic: 't', partitions: [0] }] });
  const entry = (res.offsets as any[]).find((o) => o.topic === 't' && o.partition === 0);
  return entry === undefined || entry.offset === undefined || Number(entry.offset) < 0 ? undefined : Number(entry.offset);
}

describe('a corrupt sealed batch in __consumer_offsets (hardening #12)', () => {
  it('the broker starts, reports the batch with its file and offset, serves, and groups keep what other records say', async () => {
    const first = await startTestBroker({ set: SETTINGS });
    await createTopicWithRecords(first.clients);
    // Segment 0: the batch that will be damaged (group "damaged", then "rewritten"); segment 1:
    // later commits; the active segment: the newest.
    await commit(first.clients, 'damaged', 3);
    await commit(first.clients, 'rewritten', 4);
    const offsetsLog = first.running.broker.logs.requireLog(OFFSETS_TOPIC, 0);
    offsetsLog.rollLocked();
    await commit(first.clients, 'rewritten', 9);
    await commit(first.clients, 'kept', 6);
    offsetsLog.rollLocked();
    await commit(first.clients, 'late', 8);
    const segmentFile = path.join(offsetsLog.dir, segmentFileName(0, LOG_SUFFIX));
    await stopTestBroker(first.running);
    flipFirstBatch(segmentFile);

    const lines: Record<string, unknown>[] = [];
    const { running, clients } = await startLogged(first.dataDir, SETTINGS, lines);
    try {
      const reports = lines.filter((l) => String(l.msg).includes('skipped'));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ file: segmentFile, offset: 0 });
      expect(await committed(clients, 'damaged')).toBeUndefined();
      expect(await committed(clients, 'rewritten')).toBe(9);
      expect(await committed(clients, 'kept')).toBe(6);
      expect(await committed(clients, 'late')).toBe(8);
      // It serves: commits (to the same offsets partition too), produce and fetch.
      await commit(clients, 'damaged', 2);
      expect(await committed(clients, 'damaged')).toBe(2);
      const fetched = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] });
      expect(fetched.topics[0].partitions[0].error).toBeNull();
    } finally {
      clients.close();
      await running.close();
    }
  });

  it('a partition of it that storage took offline (the scrub found the damage) is loaded up to the damage; the broker starts and the other partitions keep their groups', async () => {
    const scrubbing = ['groups.offsetsTopicPartitions=2', 'groups.initialAssignmentDelayMs=0', 'scrubBytesPerSecond=67108864', 'scrubIntervalMs=10'];
    const groupsOf = (partition: number): string[] => Array.from({ length: 200 }, (_, i) => `g${i}`).filter((g) => partitionFor(g, 2) === partition);
    const [damaged, after] = groupsOf(0);
    const [elsewhere] = groupsOf(1);
    const first = await startTestBroker({ set: scrubbing });
    await createTopicWithRecords(first.clients);
    await commit(first.clients, damaged, 3);
    await commit(first.clients, elsewhere, 7);
    const offsetsLog = first.running.broker.logs.requireLog(OFFSETS_TOPIC, 0);
    offsetsLog.rollLocked();
    await commit(first.clients, after, 4);
    flipFirstBatch(path.join(offsetsLog.dir, segmentFileName(0, LOG_SUFFIX)));
    const deadline = Date.now() + 10_000;
    while (offsetsLog.offline === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(offsetsLog.offline?.code).toBe('STORAGE_ERROR');
    expect(await commitAnswer(first.clients, after, 5)).toBe('STORAGE_ERROR');
    await commit(first.clients, elsewhere, 8);
    await stopTestBroker(first.running);

    const lines: Record<string, unknown>[] = [];
    const { running, clients } = await startLogged(first.dataDir, scrubbing, lines);
    try {
      expect(lines.filter((l) => String(l.msg).includes('could not be read to its end'))).toHaveLength(1);
      expect(await committed(clients, elsewhere)).toBe(8);
      await commit(clients, elsewhere, 9);
      expect(await committed(clients, elsewhere)).toBe(9);
    } finally {
      clients.close();
      await running.close();
    }
  });
});
