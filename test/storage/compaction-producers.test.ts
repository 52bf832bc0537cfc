/**
 * Compaction keeps what idempotent producers' state is rebuilt from (issue 11, finding 19): a
 * batch whose every record compaction removes must not take the producer's last sequence with
 * it. Kafka keeps such a batch as an empty batch (its header: offsets, producer id, epoch and
 * sequences; no records) while it is the producer's last; so does Runnel. Otherwise a producer
 * whose latest batch was compacted away is unknown after a restart, and its retry of that batch
 * is written a second time.
 */
import { describe, expect, it } from 'vitest';
import { PartitionProducerState } from '../../src/broker/producer-state.js';
import { decodeRecordBatches, encodeRecordBatch } from '../../src/format/record-batch.js';
import { compactLog } from '../../src/storage/compaction.js';
import { openLog, readRecords, tempDir } from './helpers.js';

const T0 = 1_700_000_000_000;

function idempotent(producerId: number, baseSequence: number, keys: string[]): Buffer {
  return encodeRecordBatch({
    producerId,
    producerEpoch: 0,
    baseSequence,
    records: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(`${k}@${producerId}/${baseSequence}`), timestampMs: T0 })),
  });
}

describe('compaction and idempotent producers', () => {
  it('keeps an emptied batch that holds a producer\'s last sequence, so a reload knows it', async () => {
    const dir = tempDir('runnel-compact-pid-');
    const { log } = openLog(dir, {}, { cleanupPolicy: 'compact', segmentBytes: 1024, deleteRetentionMs: 1000 });
    // Producer 7 writes keys a..d in two batches (sequences 0-1 and 2-3) ...
    log.appendSync(idempotent(7, 0, ['a', 'b']));
    log.appendSync(idempotent(7, 2, ['c', 'd']));
    // ... then producer 8 overwrites every one of them, and fills a few segments.
    for (let i = 0; i < 40; i++) log.appendSync(idempotent(8, i * 4, ['a', 'b', 'c', 'd']));
    expect(log.segmentCount).toBeGreaterThan(2);
    const before = await PartitionProducerState.load(log);
    expect(before.state.get(7)?.batches.at(-1)).toMatchObject({ firstSequence: 2, lastSequence: 3, baseOffset: 2, lastOffset: 3 });

    const result = await compactLog(log, { nowMs: T0 });
    expect(result.recordsRemoved).toBeGreaterThan(0);
    // Every record of producer 7 is gone ...
    expect((await readRecords(log)).some((r) => r.value!.toString().includes('@7/'))).toBe(false);
    // ... but its last batch is still there, as an empty batch, and the state rebuilt from the log knows it.
    const after = await PartitionProducerState.load(log);
    expect(after.state.get(7)?.batches.at(-1)).toMatchObject({ firstSequence: 2, lastSequence: 3, baseOffset: 2, lastOffset: 3 });
    // Readers skip it: the stored batches still decode, and offsets go on past it.
    const stored = await log.read(log.logStartOffset, 1024 * 1024);
    const empty = decodeRecordBatches(stored.bytes).filter((b) => b.records.length === 0);
    expect(empty.map((b) => [b.producerId, b.baseSequence, b.lastOffsetDelta])).toEqual([[7, 2, 1]]);
    await log.close();
  });
});
