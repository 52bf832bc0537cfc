/**
 * A fault in a background task must not kill the broker (issue 11, finding 13): retention and
 * the checkpoints run on timers, and a synchronous throw there (ENOSPC, EMFILE, EIO) was an
 * uncaught exception. The fault is real: the recovery-point checkpoint's path is made a
 * directory, so each checkpoint write (which retention does after deleting a segment) fails
 * with EISDIR at its rename. The broker must log the failure and go on serving, and retention
 * must keep running (so the error is logged again at its next round).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBatch, tempDir } from '../storage/helpers.js';
import { startBrokerProcess } from './broker-process.js';

const WAIT_MS = 15_000;

describe('background task faults', () => {
  it('a retention round whose checkpoint write fails is logged; the broker keeps serving and retention keeps running', async () => {
    const dataDir = tempDir('runnel-background-faults-');
    const broker = await startBrokerProcess(dataDir, ['retentionCheckIntervalMs=50'], WAIT_MS);
    const { clients } = broker;
    const configs = [
      { name: 'segmentBytes', value: String(16 * 1024) },
      { name: 'maxMessageBytes', value: String(8 * 1024) },
      { name: 'retentionBytes', value: String(16 * 1024) },
    ];
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 'r', partitions: 1, configs }] }, WAIT_MS);
    expect(created.topics[0].error).toBeNull();
    const checkpoint = path.join(dataDir, 'recovery-point-offset-checkpoint');
    fs.rmSync(checkpoint, { recursive: true, force: true });
    fs.mkdirSync(checkpoint);
    fs.writeFileSync(path.join(checkpoint, 'keep'), 'a directory where a file is written: rename fails with EISDIR');

    const produce = async (tag: string): Promise<void> => {
      const answer = await clients.call('broker', 'produce', { acks: 'ACKS_LEADER', topics: [{ topic: 'r', partitions: [{ partition: 0, records: makeBatch({ records: 2, valueBytes: 500, tag }) }] }] }, WAIT_MS);
      expect(answer.topics[0].partitions[0].error).toBeNull();
    };
    for (let i = 0; i < 40; i++) await produce(`a${i}`);
    const failed = JSON.parse(await broker.line(/retention failed/, WAIT_MS)) as { err?: { code?: string } };
    expect(failed.err?.code).toBe('EISDIR');

    // Alive and serving (retention moved the log start past 0); retention still runs: more
    // segments to delete, and it fails (logged) again.
    const logged = broker.lines.filter((l) => /retention failed/.test(l)).length;
    for (let i = 0; i < 40; i++) await produce(`b${i}`);
    const fetched = await clients.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: 'r', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] }, WAIT_MS);
    expect(fetched.topics[0].partitions[0].error?.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(Number(fetched.topics[0].partitions[0].offsets.logStartOffset)).toBeGreaterThan(0);
    const deadline = Date.now() + WAIT_MS;
    while (broker.lines.filter((l) => /retention failed/.test(l)).length <= logged) {
      if (Date.now() > deadline) throw new Error('retention did not run again');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(broker.exit()).toBeNull();
  });
});
