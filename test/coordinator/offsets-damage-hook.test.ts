/**
 * A batch of __consumer_offsets skipped at load (damaged) may have held membership records
 * (finding 17), so OffsetStore.load tells the membership replay which partition it was
 * (`partitionDamaged`), and the groups stored there are then distrusted (finding 12), as is a
 * partition that could not be read to its end.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { OffsetStore, type OffsetLog, type OtherRecordReplay } from '../../src/coordinator/offset-store.js';
import { encodeRecordBatch } from '../../src/format/record-batch.js';
import { writeBaseOffset } from '../../src/format/batch-header.js';

function batchAt(offset: number, tag: string): Buffer {
  const batch = encodeRecordBatch({ records: [{ key: Buffer.from(`not-an-offset-key-${tag}`), value: Buffer.from(tag) }] });
  writeBaseOffset(batch, offset);
  return batch;
}

/** Two partitions: 0 holds a good batch then a damaged one; 1 cannot be read past its first batch. */
function damagedLog(): OffsetLog {
  const damaged = batchAt(1, 'b');
  damaged[damaged.length - 1] ^= 0xff; // CRC no longer matches
  return {
    partitionCount: () => 2,
    create: () => Promise.resolve(2),
    appendDurable: () => Promise.resolve(),
    fileOf: (partition, offset) => `memory:${partition}@${offset}`,
    read: async function* (partition: number) {
      await Promise.resolve();
      if (partition === 0) {
        yield Buffer.concat([batchAt(0, 'a'), damaged]);
        return;
      }
      yield batchAt(0, 'c');
      throw new Error('EIO: the rest of the partition cannot be read');
    },
  };
}

describe('offset store load: damaged partitions reach the membership replay', () => {
  it('calls partitionDamaged for a skipped batch and for a partition not read to its end', async () => {
    const damaged: number[] = [];
    const hook: OtherRecordReplay = { replay: () => false, partitionDamaged: (p) => damaged.push(p) };
    const store = new OffsetStore(damagedLog(), 2, silentLogger, hook);
    const report = await store.load();
    expect(report).toMatchObject({ skippedBatches: 1, unreadablePartitions: 1 });
    expect(damaged.sort()).toEqual([0, 1]);
  });
});
