/**
 * A corrupt batch length in a sealed segment (issue 11, finding 19), at the storage layer: a
 * length that runs past the end of the segment must stop `Segment.batches()` (which compaction
 * rewrites segments from) and `read()` with STORAGE_ERROR, not end the iteration early as if the
 * segment ended there (compaction would then drop every batch after it), and must never make a
 * read allocate by the damaged length. Lengths that would make a loop spin (0, negative) are
 * covered against a broker process in test/e2e/corrupt-batch-length.test.ts.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Pos, readBatchSize } from '../../src/format/batch-header.js';
import { makeBatch, openLog, overwriteInt32, tempDir } from './helpers.js';

function writeLengthField(file: string, position: number, value: number): void {
  overwriteInt32(file, position + Pos.batchLength, value);
}

describe('storage: a corrupt batch length in a sealed segment', () => {
  it('batches() and read() fail with STORAGE_ERROR instead of stopping short or skipping ahead', async () => {
    const { log } = openLog(tempDir(), {}, { segmentBytes: 16 * 1024, maxBatchBytes: 8 * 1024, indexIntervalBytes: 4096 });
    for (let i = 0; i < 40; i++) log.appendSync(makeBatch({ records: 2, valueBytes: 500, tag: `b${i}` }));
    const sealed = log.closedSegments()[0];
    const bytes = fs.readFileSync(sealed.logFile);
    const positions: number[] = [];
    for (let at = 0; at < bytes.length; at += readBatchSize(bytes, at)) positions.push(at);
    expect(positions.length).toBeGreaterThan(6);

    // Past the end of the segment, and 2 GiB.
    for (const lengthField of [bytes.length, 0x7fffffff]) {
      writeLengthField(sealed.logFile, positions[3], lengthField);
      const iterated: Buffer[] = [];
      const iterate = async (): Promise<void> => {
        for await (const batch of sealed.batches()) iterated.push(batch);
      };
      await expect(iterate(), `length field ${lengthField}`).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect(iterated.length).toBeLessThanOrEqual(3);
      // From the damaged batch on, the log answers STORAGE_ERROR rather than the next segment's data.
      await expect(log.read(6, 1024 * 1024), `length field ${lengthField}`).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
    }
    await log.close();
  });
});
