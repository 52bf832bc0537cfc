/**
 * Idempotent-producer state after a crash (issue 11, finding 16). The state is snapshotted at
 * every segment roll (as Kafka does), so a restart replays only the headers after the newest
 * snapshot, not the whole retained log; and replayed producers are never expired by their
 * records' CreateTimes, so a producer whose clock (or data) is old still gets its retried batch
 * answered as a duplicate instead of written twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Pos } from '../../src/format/batch-header.js';
import { PartitionProducerState } from '../../src/broker/producer-state.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const DAY_MS = 86_400_000;

function idempotentBatch(producerId: number, baseSequence: number, timestampMs: number, tag: string): Buffer {
  const batch = makeBatch({ records: 2, valueBytes: 200, timestampMs, tag });
  batch.writeBigInt64BE(BigInt(producerId), Pos.producerId);
  batch.writeInt16BE(0, Pos.producerEpoch);
  batch.writeInt32BE(baseSequence, Pos.baseSequence);
  return fixCrc(batch);
}

async function produce(c: Clients, records: Buffer): Promise<any> {
  const res = await c.call('broker', 'produce', { correlationId: 0, acks: 'ACKS_ALL', topics: [{ topic: 't', partitions: [{ partition: 0, records }] }] });
  return res.topics[0].partitions[0];
}

async function setUp(c: Clients): Promise<number> {
  const created = await c.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [{ name: 'segmentBytes', value: '2048' }, { name: 'maxMessageBytes', value: '2048' }] }] });
  expect(created.topics[0].error).toBeNull();
  const init = await c.call('broker', 'initProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 });
  return Number(init.producerId);
}

function snapshotsIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.snapshot')).sort();
}

describe('broker: producer state across crashes', () => {
  it('snapshots the producer state at every segment roll; a reload starts from the newest one', async () => {
    const { running, clients: c } = await startTestBroker();
    const producerId = await setUp(c);
    for (let i = 0; i < 30; i++) expect((await produce(c, idempotentBatch(producerId, 2 * i, Date.now(), `b${i}`))).error).toBeNull();
    const { log } = running.broker.partition('t', 0);
    const bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(3);
    const newestRoll = bases.at(-1)!;
    expect(snapshotsIn(log.dir)).toContain(`${String(newestRoll).padStart(20, '0')}.snapshot`);
    const { state, rebuiltFromOffset, problem } = await PartitionProducerState.load(log);
    expect(problem).toBeNull();
    expect(rebuiltFromOffset).toBe(newestRoll);
    expect(state.get(producerId)?.batches.at(-1)).toMatchObject({ firstSequence: 58, lastSequence: 59, lastOffset: 59 });
  });

  it('a producer whose records carry old CreateTimes is not expired by the replay: its retry is a duplicate', async () => {
    const first = await startTestBroker();
    const producerId = await setUp(first.clients);
    const old = Date.now() - 3 * DAY_MS;
    const batch = idempotentBatch(producerId, 0, old, 'old');
    expect(await produce(first.clients, Buffer.from(batch))).toMatchObject({ error: null, baseOffset: 0, duplicate: false });
    await stopTestBroker(first.running);
    // As after a crash that left no snapshot: the state comes from replaying the log.
    const dir = path.join(first.dataDir, 't-0');
    for (const name of snapshotsIn(dir)) fs.rmSync(path.join(dir, name));
    const second = await startTestBroker({ dataDir: first.dataDir });
    expect(await produce(second.clients, Buffer.from(batch))).toMatchObject({ error: null, baseOffset: 0, duplicate: true });
    const latest = await second.clients.call('broker', 'listOffsets', { partitions: [{ topic: 't', partition: 0, spec: 'OFFSET_SPEC_LATEST' }] });
    expect(Number(latest.partitions[0].offset)).toBe(2);
  });
});
