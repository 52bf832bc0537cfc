/**
 * Header-consistent poison batches against a real broker (issue 11, findings 2 and 4). Each batch
 * here has a valid length, magic and CRC-32C, and a record count that agrees with its
 * lastOffsetDelta, so header checks alone accept it; its records tell another story. The broker
 * must walk the records on produce and refuse every one with a stable code, store nothing, and
 * keep serving: after each refusal the log end offset is where it was and a good batch is
 * produced and read back whole.
 */
import { describe, expect, it } from 'vitest';
import { Codec, Pos } from '../../src/format/batch-header.js';
import { decodeRecordBatches, encodeRecordBatch } from '../../src/format/record-batch.js';
import { writeVarint } from '../../src/format/varint.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

const TOPIC = 'poison';

async function broker(): Promise<Clients> {
  const { clients } = await startTestBroker();
  const created = await clients.call('admin', 'createTopics', { topics: [{ name: TOPIC, partitions: 1, configs: [] }] });
  expect(created.topics[0].error).toBeNull();
  return clients;
}

async function produce(c: Clients, records: Buffer): Promise<any> {
  const response = await c.call('broker', 'produce', { correlationId: 0, acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: [{ partition: 0, records }] }] });
  return response.topics[0].partitions[0];
}

async function logEnd(c: Clients): Promise<number> {
  const response = await c.call('broker', 'listOffsets', { partitions: [{ topic: TOPIC, partition: 0, spec: 'OFFSET_SPEC_LATEST' }] });
  return Number(response.partitions[0].offset);
}

/** Refused with `code`, nothing stored, and the partition still takes and serves a good batch. */
async function expectRefused(c: Clients, records: Buffer, code: string): Promise<void> {
  const before = await logEnd(c);
  const result = await produce(c, records);
  expect(result.error, JSON.stringify(result).slice(0, 300)).not.toBeNull();
  expect(result.error.code).toBe(code);
  expect(await logEnd(c)).toBe(before);
  const good = await produce(c, makeBatch({ records: 2, tag: `after-${before}` }));
  expect(good.error).toBeNull();
  expect(Number(good.baseOffset)).toBe(before);
  const fetched = await c.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] });
  const partition = fetched.topics[0].partitions[0];
  expect(partition.error).toBeNull();
  // Everything stored decodes: a consumer of this partition is never stopped by CORRUPT_BATCH.
  const offsets = decodeRecordBatches(partition.records).flatMap((b) => b.records.map((r) => r.offset));
  expect(offsets).toEqual(Array.from({ length: before + 2 }, (_, i) => i));
}

/** Sets recordCount and lastOffsetDelta together (header-consistent) and fixes the CRC. */
function claimRecords(batch: Buffer, count: number): Buffer {
  batch.writeInt32BE(count, Pos.recordCount);
  batch.writeInt32BE(count - 1, Pos.lastOffsetDelta);
  return fixCrc(batch);
}

describe('broker: header-consistent poison batches', () => {
  it('a batch claiming 2^31-1 records while holding one: CORRUPT_BATCH, the log end does not jump', async () => {
    const c = await broker();
    await expectRefused(c, claimRecords(makeBatch({ records: 1 }), 2 ** 31 - 1), 'CORRUPT_BATCH');
    // Several in one request, as the attack that opened one segment per two batches sent them.
    const many = Buffer.concat(Array.from({ length: 8 }, () => claimRecords(makeBatch({ records: 1 }), 2 ** 31 - 1)));
    await expectRefused(c, many, 'CORRUPT_BATCH');
  });

  it('a batch claiming fewer records than it holds: CORRUPT_BATCH', async () => {
    const c = await broker();
    await expectRefused(c, claimRecords(makeBatch({ records: 3 }), 1), 'CORRUPT_BATCH');
    await expectRefused(c, claimRecords(makeBatch({ records: 3 }), 2), 'CORRUPT_BATCH');
  });

  it('records whose varint lengths, offset deltas or header counts lie: CORRUPT_BATCH', async () => {
    const c = await broker();
    // First record's length one byte longer than its fields: it swallows the next record's start.
    const longer = makeBatch({ records: 2 });
    longer[Pos.records] += 2; // zigzag: +1
    await expectRefused(c, fixCrc(longer), 'CORRUPT_BATCH');
    // Second record's offsetDelta equal to the first's (the count still agrees with the header).
    const repeated = makeBatch({ records: 2 });
    const firstLength = repeated[Pos.records] >> 1; // a 1-byte varint for these small records
    const second = Pos.records + 1 + firstLength;
    // length, attributes, timestampDelta (0, one byte), offsetDelta
    writeVarint(repeated, second + 3, 0);
    await expectRefused(c, fixCrc(repeated), 'CORRUPT_BATCH');
    // A negative header count in the last record.
    const headers = encodeRecordBatch({ records: [{ key: null, value: Buffer.from('v') }] });
    headers[headers.length - 1] = 0x01; // zigzag -1
    await expectRefused(c, fixCrc(headers), 'CORRUPT_BATCH');
    // Garbage after the last record, inside the batch.
    const tail = makeBatch({ records: 1 });
    const padded = Buffer.concat([tail, Buffer.from([0x00, 0x00])]);
    padded.writeInt32BE(padded.length - 12, Pos.batchLength);
    await expectRefused(c, fixCrc(padded), 'CORRUPT_BATCH');
  });

  it('lz4 records that do not decompress, or decompress to lying records: CORRUPT_BATCH', async () => {
    const c = await broker();
    const garbled = makeBatch({ records: 4, codec: Codec.Lz4 });
    for (let i = Pos.records + 12; i < garbled.length; i++) garbled[i] = 0xff;
    await expectRefused(c, fixCrc(garbled), 'CORRUPT_BATCH');
    await expectRefused(c, claimRecords(makeBatch({ records: 2, codec: Codec.Lz4 }), 1000), 'CORRUPT_BATCH');
  });

  it('an lz4 bomb (a small batch whose records decompress past the fixed cap): BATCH_TOO_LARGE, never inflated', async () => {
    const c = await broker();
    // One well-formed record with a 100 MiB value of zeros: about 400 KiB compressed, well under
    // maxMessageBytes, and a valid batch in every other respect.
    const bomb = encodeRecordBatch({ records: [{ key: null, value: Buffer.alloc(100 * 1024 * 1024) }], codec: Codec.Lz4 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await expectRefused(c, bomb, 'BATCH_TOO_LARGE');
  });
});
