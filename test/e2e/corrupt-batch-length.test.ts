/**
 * A corrupt batch length in a sealed segment (issue 11, finding 19): every read loop over batch
 * lengths must either make progress or stop with STORAGE_ERROR, and must never allocate by the
 * damaged length or skip the batches after it silently. The broker runs as a real process (the
 * CLI in dist/), so a loop that spins cannot hang the test runner: the calls' deadlines expire.
 *
 * The test writes the damage into the live segment file between rounds (bit rot under a running
 * broker), with the recent-batch cache off so every read goes to the file, and after each round
 * checks that Fetch, Subscribe and ListOffsets by time all answer, and a second topic still
 * serves.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Pos, readBaseOffset, readBatchSize, readLastOffsetDelta } from '../../src/format/batch-header.js';
import type { Clients } from '../broker/helpers.js';
import { makeBatch, overwriteInt32, tempDir } from '../storage/helpers.js';
import { startBrokerProcess } from './broker-process.js';

/** Bound of every wait: the broker's start and each call's deadline. */
const WAIT_MS = 15_000;
const TOPIC = 'damaged';
const BASE_TIMESTAMP_MS = 1_700_000_000_000;
/** The batch (by position in the first segment) whose length field is damaged. */
const DAMAGED = 3;

interface StoredBatch {
  position: number;
  baseOffset: number;
  lastOffset: number;
}

/** Walks the (still undamaged) segment file's batch headers. */
function batchesOf(file: string): StoredBatch[] {
  const bytes = fs.readFileSync(file);
  const found: StoredBatch[] = [];
  for (let at = 0; at < bytes.length; at += readBatchSize(bytes, at)) {
    found.push({ position: at, baseOffset: readBaseOffset(bytes, at), lastOffset: readBaseOffset(bytes, at) + readLastOffsetDelta(bytes, at) });
  }
  return found;
}

function writeLengthField(file: string, position: number, value: number): void {
  overwriteInt32(file, position + Pos.batchLength, value);
}

/** Subscribes from the log start until the partition reports an error or reaches `end`. */
function subscribeUntilStuck(clients: Clients, end: number): Promise<{ nextOffset: number; error: string | null }> {
  const call = (clients.broker as any).subscribe({ partitions: [{ topic: TOPIC, partition: 0, startOffset: -2 }] }, { deadline: Date.now() + WAIT_MS }) as grpc.ClientReadableStream<any>;
  return new Promise((resolve, reject) => {
    let nextOffset = 0;
    call.on('data', (m: any) => {
      if (m.error !== null) {
        call.cancel();
        resolve({ nextOffset, error: m.error.code });
        return;
      }
      nextOffset = Number(m.nextOffset);
      if (nextOffset >= end) {
        call.cancel();
        resolve({ nextOffset, error: null });
      }
    });
    call.on('error', (err: grpc.ServiceError) => reject(new Error(`subscribe failed: ${err.details}`)));
  });
}

describe('a corrupt batch length in a sealed segment', () => {
  it('Fetch, Subscribe and ListOffsets answer (STORAGE_ERROR or the batches before it), never spin or skip ahead', async () => {
    const dataDir = tempDir('runnel-corrupt-length-');
    const { clients } = await startBrokerProcess(dataDir, ['limits.recentBatchCacheBytes=0'], WAIT_MS);
    for (const [name, configs] of [[TOPIC, [{ name: 'segmentBytes', value: String(16 * 1024) }, { name: 'maxMessageBytes', value: String(8 * 1024) }]], ['healthy', []]] as const) {
      const created = await clients.call('admin', 'createTopics', { topics: [{ name, partitions: 1, configs }] }, WAIT_MS);
      expect(created.topics[0].error).toBeNull();
    }
    const batchCount = 40;
    for (let i = 0; i < batchCount; i++) {
      const records = makeBatch({ records: 2, valueBytes: 500, timestampMs: BASE_TIMESTAMP_MS + i * 1000, tag: `b${i}` });
      const answer = await clients.call('broker', 'produce', { acks: 'ACKS_LEADER', topics: [{ topic: TOPIC, partitions: [{ partition: 0, records }] }] }, WAIT_MS);
      expect(answer.topics[0].partitions[0].error).toBeNull();
    }
    const file = path.join(dataDir, `${TOPIC}-0`, '00000000000000000000.log');
    const stored = batchesOf(file);
    expect(stored.length).toBeGreaterThan(DAMAGED + 3);
    expect(fs.readdirSync(path.join(dataDir, `${TOPIC}-0`)).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(1);
    const damaged = stored[DAMAGED];
    const after = stored[DAMAGED + 1];

    // Length fields: total size 0, negative, 12 (shorter than a header), a header only (the next
    // "batch" starts inside this one's records), and 2^31 - 1 (2 GiB).
    for (const lengthField of [-12, -1000, 0, 49, 0x7fffffff]) {
      writeLengthField(file, damaged.position, lengthField);
      const round = `length field ${lengthField}`;

      const fromStart = await clients.call('broker', 'fetch', fetchRequest(0), WAIT_MS);
      const first = fromStart.topics[0].partitions[0];
      if (first.error === null) expect(Number(first.nextOffset), round).toBeLessThanOrEqual(after.baseOffset);
      else expect(first.error.code, round).toBe('STORAGE_ERROR');

      // Past the damage: either STORAGE_ERROR or the batch asked for, never a later one.
      const past = (await clients.call('broker', 'fetch', fetchRequest(after.baseOffset), WAIT_MS)).topics[0].partitions[0];
      if (past.error === null) expect(readBaseOffset(past.records), round).toBeLessThanOrEqual(after.baseOffset);
      else expect(past.error.code, round).toBe('STORAGE_ERROR');

      const byTime = await clients.call('broker', 'listOffsets', { partitions: [{ topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_TIMESTAMP', timestampMs: BASE_TIMESTAMP_MS + (DAMAGED + 2) * 1000 }] }, WAIT_MS);
      const located = byTime.partitions[0];
      if (located.error === null) expect(Number(located.offset), round).toBeLessThanOrEqual(stored[DAMAGED + 2].baseOffset);
      else expect(located.error.code, round).toBe('STORAGE_ERROR');

      const subscribed = await subscribeUntilStuck(clients, batchCount * 2);
      expect(subscribed.error, round).toBe('STORAGE_ERROR');
      expect(subscribed.nextOffset, round).toBeLessThanOrEqual(after.baseOffset);

      // The broker still serves everything else.
      const ok = await clients.call('broker', 'produce', { acks: 'ACKS_LEADER', topics: [{ topic: 'healthy', partitions: [{ partition: 0, records: makeBatch({ tag: round }) }] }] }, WAIT_MS);
      expect(ok.topics[0].partitions[0].error, round).toBeNull();
    }
  });
});

function fetchRequest(fetchOffset: number): object {
  return { maxWaitMs: 0, minBytes: 0, maxBytes: 1024 * 1024, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset, maxBytes: 1024 * 1024 }] }] };
}
