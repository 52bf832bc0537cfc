import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { Codec } from '../../src/format/batch-header.js';
import { DECOMPRESSED_RECORDS_BYTES_MAX, compressRecords, decompressRecords, lz4FrameCompress, lz4FrameDecompress } from '../../src/format/compression.js';
import { lz4FrameDecompressedBytesMax } from '../../src/format/lz4-frame.js';
import { expectCorrupt, expectRunnelError } from './helpers.js';

const text = Buffer.from('the same few words, the same few words, the same few words again'.repeat(50));

describe('lz4 frame codec', () => {
  it('writes an lz4 frame (magic 0x184D2204, little-endian) that round-trips', () => {
    const frame = lz4FrameCompress(text);
    expect(frame.subarray(0, 4).toString('hex')).toBe('04224d18');
    expect(frame.length).toBeLessThan(text.length / 5);
    expect(lz4FrameDecompress(frame).equals(text)).toBe(true);
    expect(decompressFrameSync(frame).equals(text)).toBe(true);
  });

  it('round-trips empty and incompressible input', () => {
    expect(lz4FrameDecompress(lz4FrameCompress(Buffer.alloc(0))).length).toBe(0);
    const noise = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + (i >> 3) * 104729) & 0xff));
    expect(lz4FrameDecompress(lz4FrameCompress(noise)).equals(noise)).toBe(true);
  });

  it('decompresses a frame that is a view into a larger buffer', () => {
    const frame = lz4FrameCompress(text);
    const big = Buffer.concat([Buffer.from('prefix'), frame, Buffer.from('suffix')]);
    expect(lz4FrameDecompress(big.subarray(6, 6 + frame.length)).equals(text)).toBe(true);
  });

  it('reports garbage as CORRUPT_BATCH bad-records', () => {
    expectCorrupt(() => lz4FrameDecompress(Buffer.from('definitely not an lz4 frame')), 'bad-records');
    const frame = lz4FrameCompress(text);
    const damaged = Buffer.from(frame);
    damaged.fill(0xff, 7, 20);
    expectCorrupt(() => lz4FrameDecompress(damaged), 'bad-records');
  });
});

describe('choosing by codec', () => {
  it('passes Codec.None through untouched', () => {
    expect(compressRecords(Codec.None, text)).toBe(text);
    expect(decompressRecords(Codec.None, text)).toBe(text);
  });

  it('uses the lz4 frame for Codec.Lz4', () => {
    expect(decompressRecords(Codec.Lz4, compressRecords(Codec.Lz4, text)).equals(text)).toBe(true);
  });

  it.each([1, 2, 4, 5, 6, 7])('reports codec %d as unknown-codec', (codec) => {
    expectCorrupt(() => decompressRecords(codec, text), 'unknown-codec');
    expectCorrupt(() => compressRecords(codec, text), 'unknown-codec');
  });
});

describe('lz4 frame bound (read from the frame structure, before decompressing)', () => {
  const inputs = [Buffer.alloc(0), text, Buffer.alloc(300_000), Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) & 0xff))];

  it.each([{}, { blockChecksums: true }, { contentChecksum: true }, { blockChecksums: true, contentChecksum: true }])('bounds the output of real frames (%o)', (options) => {
    for (const input of inputs) {
      const frame = compressFrameSync(input, options);
      const bound = lz4FrameDecompressedBytesMax(frame);
      expect(bound).toBeGreaterThanOrEqual(input.length);
      // Tight for ordinary frames: full blocks count as one block maximum each.
      expect(bound).toBeLessThanOrEqual(input.length + 64 * 1024);
      expect(lz4FrameDecompress(frame).equals(input)).toBe(true);
    }
  });

  it('refuses bytes after the frame, a truncated frame, a block over the maximum and bad magic', () => {
    const frame = lz4FrameCompress(text);
    expectCorrupt(() => lz4FrameDecompressedBytesMax(Buffer.concat([frame, Buffer.from([0])])), 'bad-records');
    expectCorrupt(() => lz4FrameDecompressedBytesMax(frame.subarray(0, frame.length - 1)), 'bad-records');
    const oversized = Buffer.from(frame);
    oversized.writeUInt32LE(64 * 1024 + 1, 7); // first block size, just past the 64 KiB maximum
    expectCorrupt(() => lz4FrameDecompressedBytesMax(oversized), 'bad-records');
    expectCorrupt(() => lz4FrameDecompressedBytesMax(Buffer.from('not a frame at all')), 'bad-records');
  });

  it('refuses a frame that could inflate past the cap with BATCH_TOO_LARGE, without inflating it', () => {
    const frame = lz4FrameCompress(Buffer.alloc(2 * 1024 * 1024));
    expectRunnelError(() => lz4FrameDecompress(frame, 1024 * 1024), 'BATCH_TOO_LARGE', 'decompressed-size');
    expect(lz4FrameDecompress(frame, 2 * 1024 * 1024 + 64 * 1024).length).toBe(2 * 1024 * 1024);
    expect(DECOMPRESSED_RECORDS_BYTES_MAX).toBe(64 * 1024 * 1024);
  });
});
