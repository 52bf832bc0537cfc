import { decompressFrameSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { Codec } from '../../src/format/batch-header.js';
import { compressRecords, decompressRecords, lz4FrameCompress, lz4FrameDecompress } from '../../src/format/compression.js';
import { expectCorrupt } from './helpers.js';

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
