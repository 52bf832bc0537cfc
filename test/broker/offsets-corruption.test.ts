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
import { OFFSETS_TOPIC } from '../../src/coordinator/offset-store.js';
import { BATCH_HEADER_BYTES } from '../../src/format/batch-header.js';
import { LOG_SUFFIX, segmentFileName } from '../../src/storage/segment.js';
import { makeBatch } from '../storage/helpers.js';
import { connect, startTestBroker, stopTestBroker, testConfig, type Clients } from './helpers.js';

/** One offsets partition, so every group shares it; no scrub: this is the load's own check. */
const SETTINGS = ['groups.offsetsTopicPartitions=1', 'groups.initialAssignmentDelayMs=0', 'scrubBytesPerSecond=0'];

async function commit(clients: Clients, groupId: string, offset: number): Promise<void> {
  const res = await clients.call('groups', 'commitOffsets', { groupId, memberId: '', memberEpoch: -1, offsets: [{ topic: 't', partition: 0, offset, metadata: '' }] });
  expect(res.error ?? null).toBeNull();
  expect(res.results?.[0]?.error ?? null).toBeNull();
}

async function committed(clients: Clients, groupId: string): Promise<number | undefined> {
  const res = await clients.call('groups', 'fetchOffsets', { groupId, partitions: [{ topic: 't', partitions: [0] }] });
  const entry = (res.offsets as any[]).find((o) => o.topic === 't' && o.partition === 0);
  return entry === undefined || entry.offset === undefined || Number(entry.offset) < 0 ? undefined : Number(entry.offset);
}

describe('a corrupt sealed batch in __consumer_offsets (hardening #12)', () => {
  it('the broker starts, reports the batch with its file and offset, serves, and groups keep what other records say', async () => {
    const first = await startTestBroker({ set: SETTINGS });
    const created = await first.clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    for (let i = 0; i < 4; i++) await first.clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 't', partitions: [{ partition: 0, records: makeBatch({ records: 5 }) }] }] });
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

    // One byte of the first batch's records: its CRC no longer matches.
    const fd = fs.openSync(segmentFile, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, BATCH_HEADER_BYTES + 8);
    fs.writeSync(fd, Buffer.from([byte[0] ^ 0xff]), 0, 1, BATCH_HEADER_BYTES + 8);
    fs.closeSync(fd);

    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0)), done()) });
    const running = await startBroker(testConfig(first.dataDir, SETTINGS), pino({ level: 'info' }, sink));
    const clients = connect(`127.0.0.1:${running.port}`);
    try {
      const reports = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).includes('skipped'));
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
});
