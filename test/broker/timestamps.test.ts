/**
 * Timestamps a client controls (issue 11, finding 1): the window Kafka enforces (KIP-937,
 * `messageTimestampAfterMaxMs` default one hour, `messageTimestampBeforeMaxMs` default
 * unlimited), LogAppendTime stamping, a header maxTimestamp that disagrees with its records, and
 * a maxTimestamp of 2^63-1, which once broke every later roll and the clean shutdown.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_FILE } from '../../src/storage/log-manager.js';
import { Attr, Pos, readBatchHeader } from '../../src/format/batch-header.js';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { fixCrc, referenceCrc32c } from '../format/helpers.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, stopTestBroker, type Clients } from './helpers.js';

const HOUR_MS = 3_600_000;
const INT64_MAX = 2n ** 63n - 1n;

async function createTopic(c: Clients, name: string, configs: Record<string, string> = {}): Promise<void> {
  const res = await c.call('admin', 'createTopics', { topics: [{ name, partitions: 1, configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }] });
  expect(res.topics[0].error).toBeNull();
}

async function produce(c: Clients, topic: string, records: Buffer): Promise<any> {
  const res = await c.call('broker', 'produce', { correlationId: 0, acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition: 0, records }] }] });
  return res.topics[0].partitions[0];
}

async function stored(c: Clients, topic: string): Promise<Buffer> {
  const res = await c.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] });
  expect(res.topics[0].partitions[0].error).toBeNull();
  return res.topics[0].partitions[0].records;
}

function expectCode(result: any, code: string | null): void {
  if (code === null) expect(result.error, JSON.stringify(result.error)).toBeNull();
  else expect(result.error?.code, JSON.stringify(result)).toBe(code);
}

/** A one-record batch whose header and record both say `timestamp` (an int64, maybe past 2^53). */
function batchAt(timestamp: bigint): Buffer {
  const batch = makeBatch({ records: 1, timestampMs: 0 });
  batch.writeBigInt64BE(timestamp, Pos.baseTimestamp);
  batch.writeBigInt64BE(timestamp, Pos.maxTimestamp);
  return fixCrc(batch);
}

describe('broker: record timestamps', () => {
  it('refuses maxTimestamp 2^63-1 and anything past messageTimestampAfterMaxMs with INVALID_TIMESTAMP; still shuts down cleanly', async () => {
    const { running, clients: c, dataDir } = await startTestBroker();
    await createTopic(c, 't');
    const now = Date.now();
    expectCode(await produce(c, 't', batchAt(INT64_MAX)), 'INVALID_TIMESTAMP');
    expectCode(await produce(c, 't', makeBatch({ timestampMs: now + 2 * HOUR_MS })), 'INVALID_TIMESTAMP');
    // One record of three in the future is enough.
    expectCode(await produce(c, 't', makeBatch({ timestamps: [now, now + 2 * HOUR_MS, now] })), 'INVALID_TIMESTAMP');
    expectCode(await produce(c, 't', makeBatch({ timestampMs: now + HOUR_MS / 2 })), null);
    // No limit into the past by default: old CreateTimes are stored (and meet time retention early).
    expectCode(await produce(c, 't', makeBatch({ timestampMs: 86_400_000 })), null);
    expect(decodeRecordBatches(await stored(c, 't')).map((b) => b.baseOffset)).toEqual([0, 1]);
    await stopTestBroker(running);
    expect(fs.existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(true);
  });

  it('messageTimestampAfterMaxMs and messageTimestampBeforeMaxMs are topic configs, described with their defaults', async () => {
    const { clients: c } = await startTestBroker();
    await createTopic(c, 'plain');
    await createTopic(c, 'narrow', { messageTimestampAfterMaxMs: '60000', messageTimestampBeforeMaxMs: String(24 * HOUR_MS) });
    const described = await c.call('admin', 'describeTopics', { names: ['plain', 'narrow'] });
    const configs = (i: number): Record<string, string> => Object.fromEntries(described.topics[i].configs.map((e: any) => [e.name, e.value]));
    expect(configs(0)).toMatchObject({ messageTimestampType: 'CreateTime', messageTimestampAfterMaxMs: String(HOUR_MS), messageTimestampBeforeMaxMs: String(Number.MAX_SAFE_INTEGER) });
    expect(configs(1)).toMatchObject({ messageTimestampAfterMaxMs: '60000', messageTimestampBeforeMaxMs: String(24 * HOUR_MS) });
    const now = Date.now();
    expectCode(await produce(c, 'narrow', makeBatch({ timestampMs: now + 120_000 })), 'INVALID_TIMESTAMP');
    expectCode(await produce(c, 'narrow', makeBatch({ timestampMs: now - 2 * 24 * HOUR_MS })), 'INVALID_TIMESTAMP');
    expectCode(await produce(c, 'narrow', makeBatch({ timestampMs: now - HOUR_MS })), null);
    const bad = await c.call('admin', 'createTopics', { topics: [{ name: 'x', partitions: 1, configs: [{ name: 'messageTimestampType', value: 'WallClock' }] }] });
    expect(bad.topics[0].error.code).toBe('INVALID_CONFIG');
  });

  it('messageTimestampType LogAppendTime: the broker stamps its time on the batch (attribute, maxTimestamp, CRC)', async () => {
    const { clients: c } = await startTestBroker();
    await createTopic(c, 'lat', { messageTimestampType: 'LogAppendTime' });
    const before = Date.now();
    // Client timestamps far outside any window do not matter: the broker's time replaces them.
    const result = await produce(c, 'lat', makeBatch({ records: 3, timestampMs: 5 }));
    const after = Date.now();
    expectCode(result, null);
    const bytes = await stored(c, 'lat');
    const header = readBatchHeader(bytes);
    expect(header.attributes & Attr.timestampTypeLogAppend).not.toBe(0);
    expect(header.maxTimestampMs).toBeGreaterThanOrEqual(before);
    expect(header.maxTimestampMs).toBeLessThanOrEqual(after);
    expect(Number(result.logAppendTimeMs)).toBe(header.maxTimestampMs);
    expect(header.crc).toBe(referenceCrc32c(bytes.subarray(Pos.attributes)));
    const [batch] = decodeRecordBatches(bytes);
    expect(batch.records.map((r) => r.timestampMs)).toEqual([header.maxTimestampMs, header.maxTimestampMs, header.maxTimestampMs]);
  });

  it('a client batch marked LogAppendTime is refused: the broker, not the producer, sets that', async () => {
    const { clients: c } = await startTestBroker();
    await createTopic(c, 't');
    const marked = makeBatch({ timestampMs: Date.now() });
    marked.writeInt16BE(marked.readInt16BE(Pos.attributes) | Attr.timestampTypeLogAppend, Pos.attributes);
    expectCode(await produce(c, 't', fixCrc(marked)), 'INVALID_TIMESTAMP');
  });

  it('a header maxTimestamp that disagrees with the records is set to the records\' (as Kafka does), CRC rewritten', async () => {
    const { clients: c } = await startTestBroker();
    await createTopic(c, 't');
    const now = Date.now();
    const lying = makeBatch({ timestamps: [now - 10, now, now - 5] });
    lying.writeBigInt64BE(BigInt(now - 1000), Pos.maxTimestamp);
    expectCode(await produce(c, 't', fixCrc(lying)), null);
    const bytes = await stored(c, 't');
    expect(readBatchHeader(bytes).maxTimestampMs).toBe(now);
    expect(readBatchHeader(bytes).crc).toBe(referenceCrc32c(bytes.subarray(Pos.attributes)));
  });
});
