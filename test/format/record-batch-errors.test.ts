import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RunnelError } from '../../src/common/errors.js';
import { BATCH_HEADER_BYTES, Codec, Pos, type BatchProblem } from '../../src/format/batch-header.js';
import { lz4FrameCompress } from '../../src/format/compression.js';
import { decodeRecordBatch, encodeRecordBatch, type RecordBatchInput } from '../../src/format/record-batch.js';
import { expectCorrupt, fixCrc } from './helpers.js';

const PROBLEMS: readonly BatchProblem[] = [
  'short-buffer',
  'bad-magic',
  'length-mismatch',
  'crc-mismatch',
  'record-count-mismatch',
  'unknown-codec',
  'bad-records',
];

const twoRecords: RecordBatchInput = {
  baseOffset: 10,
  records: [
    { key: Buffer.from('key-a'), value: Buffer.from('value-a'), headers: [{ key: 'h', value: Buffer.from('x') }], timestampMs: 1000 },
    { key: Buffer.from('key-b'), value: null, timestampMs: 1001 },
  ],
};
const valid = () => encodeRecordBatch(twoRecords);

/** `base`'s header with `section` as its records, batchLength and CRC made consistent. */
function withRecords(base: Buffer, section: Buffer): Buffer {
  const batch = Buffer.concat([base.subarray(0, BATCH_HEADER_BYTES), section]);
  batch.writeInt32BE(batch.length - 12, Pos.batchLength);
  return fixCrc(batch);
}

/** A minimal record (attributes, timestampDelta 0, null key and value, no headers) at `offsetDelta`. */
function minimalRecord(offsetDelta: number): string {
  return `0c 00 00 ${(offsetDelta * 2).toString(16).padStart(2, '0')} 01 01 00`;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('typed decode errors', () => {
  it('sanity: the hand-made records section decodes', () => {
    const batch = decodeRecordBatch(withRecords(valid(), hex(minimalRecord(0) + minimalRecord(1))));
    expect(batch.records.map((r) => [r.offset, r.key, r.value, r.headers])).toEqual([[10, null, null, []], [11, null, null, []]]);
  });

  it('short buffer: every truncation of a valid batch', () => {
    const batch = valid();
    for (let length = 0; length < batch.length; length++) {
      expectCorrupt(() => decodeRecordBatch(batch.subarray(0, length)), 'short-buffer');
    }
    expectCorrupt(() => decodeRecordBatch(batch, batch.length), 'short-buffer');
  });

  it('bad magic', () => {
    for (const magic of [0, 1, 3, 0xff]) {
      const batch = valid();
      batch[Pos.magic] = magic;
      expectCorrupt(() => decodeRecordBatch(batch), 'bad-magic');
    }
  });

  it('length mismatch: batchLength too small to hold a header', () => {
    for (const batchLength of [0, 48, -1, -0x80000000]) {
      const batch = valid();
      batch.writeInt32BE(batchLength, Pos.batchLength);
      expectCorrupt(() => decodeRecordBatch(batch), 'length-mismatch');
    }
  });

  it('CRC mismatch: any flipped byte in the CRC range, or in the CRC itself', () => {
    const original = valid();
    for (let pos = Pos.crc; pos < original.length; pos++) {
      const batch = Buffer.from(original);
      batch[pos] ^= 0x01;
      expectCorrupt(() => decodeRecordBatch(batch), 'crc-mismatch');
    }
  });

  it('record-count mismatch: the header says fewer records than the batch holds', () => {
    const batch = valid();
    batch.writeInt32BE(1, Pos.recordCount);
    const err = expectCorrupt(() => decodeRecordBatch(fixCrc(batch)), 'record-count-mismatch');
    expect(err.message).toMatch(/says 1 records, the batch holds 2/);
  });

  it('record-count mismatch: the header says more records than the batch holds', () => {
    // lastOffsetDelta 5 leaves room (non-dense, as after compaction) for a count of 3.
    const batch = encodeRecordBatch({ ...twoRecords, lastOffsetDelta: 5 });
    batch.writeInt32BE(3, Pos.recordCount);
    expectCorrupt(() => decodeRecordBatch(fixCrc(batch)), 'record-count-mismatch');
  });

  it('record-count mismatch: counts that contradict lastOffsetDelta (found by checkBatch)', () => {
    for (const count of [0, -1, 3]) {
      const batch = valid();
      batch.writeInt32BE(count, Pos.recordCount);
      expectCorrupt(() => decodeRecordBatch(fixCrc(batch)), 'record-count-mismatch');
    }
  });

  it('unknown codec: gzip, snappy, zstd and unassigned values with a valid CRC', () => {
    for (const codec of [1, 2, 4, 5, 6, 7]) {
      const batch = valid();
      batch.writeInt16BE(codec, Pos.attributes);
      const err = expectCorrupt(() => decodeRecordBatch(fixCrc(batch)), 'unknown-codec');
      expect(err.context.codec).toBe(codec);
    }
  });

  it.each([
    ['bytes that never end a varint', 'ff'.repeat(40)],
    ['a negative record length', '01'],
    ['a record length past the end', '7e 00 00 00 01 01 00'],
    ['a record shorter than its fields', `0a 00 00 00 01 01 00 ${minimalRecord(1)}`],
    ['a record longer than its fields', `0e 00 00 00 01 01 00 00 ${minimalRecord(1)}`],
    ['an offsetDelta beyond lastOffsetDelta', minimalRecord(0) + minimalRecord(2)],
    ['offsetDeltas that do not increase', minimalRecord(1) + minimalRecord(1)],
    ['a key length below -1', `0c 00 00 00 03 01 00 ${minimalRecord(1)}`],
    ['a value running past the record', `0c 00 00 00 01 08 00 ${minimalRecord(1)}`],
    ['a negative header count', `0c 00 00 00 01 01 01 ${minimalRecord(1)}`],
    ['a header count larger than the record', `0c 00 00 00 01 01 0a ${minimalRecord(1)}`],
    ['a negative header key length', `10 00 00 00 01 01 02 01 01 ${minimalRecord(1)}`],
    ['a timestampDelta beyond 2^53', `1e 00 ${'ff'.repeat(9)}01 00 01 01 00 ${minimalRecord(1)}`],
  ])('bad records with a valid CRC: %s', (_what, section) => {
    expectCorrupt(() => decodeRecordBatch(withRecords(valid(), hex(section))), 'bad-records');
  });

  it('bad records: an lz4 batch whose section is not an lz4 frame, or a frame of garbage', () => {
    const lz4 = encodeRecordBatch({ ...twoRecords, codec: Codec.Lz4 });
    expectCorrupt(() => decodeRecordBatch(withRecords(lz4, Buffer.from('not an lz4 frame at all'))), 'bad-records');
    expectCorrupt(() => decodeRecordBatch(withRecords(lz4, lz4FrameCompress(Buffer.alloc(64, 0xff)))), 'bad-records');
  });

  it('wraps unexpected exceptions (a negative position) as CORRUPT_BATCH', () => {
    const err = expectCorrupt(() => decodeRecordBatch(valid(), -10), 'bad-records');
    expect(err.cause).toBeInstanceOf(RangeError);
  });

  it('records the problem and the batch position in the context', () => {
    const batch = valid();
    batch[Pos.magic] = 9;
    const err = expectCorrupt(() => decodeRecordBatch(Buffer.concat([Buffer.alloc(7), batch]), 7), 'bad-magic');
    expect(err.context).toEqual({ reason: 'bad-magic', position: 7 });
    expect(err.message).toMatch(/^corrupt record batch: /);
  });
});

describe('fuzzing the decoder', () => {
  function expectOnlyCorruptBatch(buf: Buffer, pos = 0): void {
    try {
      decodeRecordBatch(buf, pos);
    } catch (err) {
      if (!(err instanceof RunnelError)) throw err;
      expect(err.code).toBe('CORRUPT_BATCH');
      expect(PROBLEMS).toContain(err.context.reason);
    }
  }

  const bases = [
    valid(),
    encodeRecordBatch({ ...twoRecords, codec: Codec.Lz4 }),
    encodeRecordBatch({
      codec: Codec.Lz4,
      records: Array.from({ length: 40 }, (_, i) => ({
        key: Buffer.from(`k${i}`),
        value: Buffer.alloc(i * 3, i),
        headers: [{ key: `hdr-${i}`, value: i % 2 ? null : Buffer.from('v') }],
        timestampMs: 5000 - i,
      })),
    }),
  ];
  const damage = fc.record({
    base: fc.nat({ max: bases.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
    truncateTo: fc.option(fc.nat()),
    // Without a fixed CRC nearly every flip is a plain crc-mismatch; with it, the record parser
    // and the lz4 decoder see the damage.
    fixCrc: fc.boolean(),
  });

  it('random byte flips and truncations of valid batches throw only CORRUPT_BATCH', () => {
    fc.assert(
      fc.property(damage, ({ base, flips, truncateTo, fixCrc: recomputeCrc }) => {
        const original = bases[base];
        let buf = Buffer.from(original);
        for (const [at, xor] of flips) buf[at % buf.length] ^= xor;
        if (truncateTo !== null) buf = buf.subarray(0, truncateTo % (buf.length + 1));
        if (recomputeCrc && buf.length > BATCH_HEADER_BYTES) fixCrc(buf);
        expectOnlyCorruptBatch(buf);
      }),
      { numRuns: 1500 },
    );
  });

  it('random records sections behind a valid header and CRC throw only CORRUPT_BATCH', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (section, lz4) => {
        const base = lz4 ? bases[1] : bases[0];
        expectOnlyCorruptBatch(withRecords(base, Buffer.from(section)));
        expectOnlyCorruptBatch(withRecords(base, lz4FrameCompress(Buffer.from(section))));
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary bytes at arbitrary positions throw only CORRUPT_BATCH', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -5, max: 130 }), (bytes, pos) => {
        expectOnlyCorruptBatch(Buffer.from(bytes), pos);
      }),
      { numRuns: 500 },
    );
  });
});
