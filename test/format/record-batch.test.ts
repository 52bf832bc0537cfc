import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BATCH_HEADER_BYTES, CURRENT_MAGIC, Codec, Pos, checkBatch, computeBatchCrc } from '../../src/format/batch-header.js';
import {
  decodeRecordBatch,
  decodeRecordBatches,
  encodeRecordBatch,
  type DecodedBatch,
  type RecordBatchInput,
  type RecordHeader,
  type RecordInput,
} from '../../src/format/record-batch.js';
import { expectCorrupt, expectRunnelError } from './helpers.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const nullableBytes = fc.option(bytes(48), { nil: null, freq: 4 });
const header = fc.record({
  // 'binary' units are whole code points, astral planes included (valid UTF-16, no lone surrogates).
  key: fc.oneof(fc.string({ maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 6 })),
  value: fc.option(bytes(24), { nil: null }),
});
const timestamp = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  fc.constant(-1),
);
const record: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: nullableBytes,
    value: nullableBytes,
    headers: fc.oneof(fc.array(header, { maxLength: 3 }), fc.array(header, { minLength: 20, maxLength: 40 })),
    timestampMs: timestamp,
  },
  { requiredKeys: ['key', 'value', 'timestampMs'] },
);

/** Records, optionally with explicit, gapped offset deltas as compaction writes them. */
const records = fc
  .tuple(fc.array(record, { minLength: 1, maxLength: 25 }), fc.option(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 25, maxLength: 25 })))
  .map(([rs, gaps]) => {
    if (gaps === null) return rs;
    let delta = -1;
    return rs.map((r, i) => ({ ...r, offsetDelta: (delta += gaps[i]) }));
  });

const batchInput: fc.Arbitrary<RecordBatchInput> = fc
  .record({
    records,
    baseOffset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 52 })),
    codec: fc.constantFrom(Codec.None, Codec.Lz4),
    partitionLeaderEpoch: fc.integer(),
    producerId: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 52 })),
    producerEpoch: fc.integer({ min: -0x8000, max: 0x7fff }),
    baseSequence: fc.integer(),
    transactional: fc.boolean(),
    control: fc.boolean(),
    logAppendTime: fc.boolean(),
    extraOffsetDelta: fc.option(fc.integer({ min: 0, max: 100 })),
  })
  .map(({ extraOffsetDelta, ...input }) => {
    if (extraOffsetDelta === null) return input;
    const last = input.records.length - 1;
    return { ...input, lastOffsetDelta: (input.records[last].offsetDelta ?? last) + extraOffsetDelta };
  });

/** What decoding `buf`, the encoding of `input`, must give back. */
function expectDecodesTo(decoded: DecodedBatch, input: RecordBatchInput, buf: Buffer): void {
  const rs = input.records;
  const deltas = rs.map((r, i) => r.offsetDelta ?? i);
  const timestamps = rs.map((r) => r.timestampMs!);
  const maxTimestampMs = Math.max(...timestamps);
  const baseOffset = input.baseOffset ?? 0;
  expect(decoded).toMatchObject({
    baseOffset,
    sizeBytes: buf.length,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? 0,
    magic: CURRENT_MAGIC,
    crc: computeBatchCrc(buf),
    lastOffsetDelta: input.lastOffsetDelta ?? deltas[deltas.length - 1],
    baseTimestampMs: timestamps[0],
    maxTimestampMs,
    producerId: input.producerId ?? -1,
    producerEpoch: input.producerEpoch ?? -1,
    baseSequence: input.baseSequence ?? -1,
    recordCount: rs.length,
    codec: input.codec ?? Codec.None,
    transactional: input.transactional ?? false,
    control: input.control ?? false,
    logAppendTime: input.logAppendTime ?? false,
  });
  expect(decoded.records.length).toBe(rs.length);
  // A hand-written comparison: vitest's deep equality takes seconds on 10,000 records of Buffers.
  const mismatch = rs.findIndex((r, i) => {
    const d = decoded.records[i];
    const timestampMs = input.logAppendTime ? maxTimestampMs : timestamps[i];
    return d.offset !== baseOffset + deltas[i] || d.timestampMs !== timestampMs || !sameBytes(d.key, r.key) || !sameBytes(d.value, r.value) || !sameHeaders(d.headers, r.headers ?? []);
  });
  if (mismatch >= 0) {
    // Show the first difference with vitest's diff.
    const r = rs[mismatch];
    expect(decoded.records[mismatch]).toEqual({
      offset: baseOffset + deltas[mismatch],
      // LogAppendTime: every record carries the batch's (broker-set) maxTimestamp, as in Kafka.
      timestampMs: input.logAppendTime ? maxTimestampMs : timestamps[mismatch],
      key: r.key,
      value: r.value,
      headers: r.headers ?? [],
    });
  }
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function sameHeaders(a: readonly RecordHeader[], b: readonly RecordHeader[]): boolean {
  return a.length === b.length && a.every((h, i) => h.key === b[i].key && sameBytes(h.value, b[i].value));
}

describe('encodeRecordBatch / decodeRecordBatch round trip', () => {
  it('decodes what it encodes, for random records, codecs and header fields', () => {
    fc.assert(
      fc.property(batchInput, (input) => {
        const buf = encodeRecordBatch(input);
        expect(checkBatch(buf, 0, buf.length, { denseOffsets: false })).toEqual({ sizeBytes: buf.length });
        expectDecodesTo(decodeRecordBatch(buf), input, buf);
      }),
      { numRuns: 300 },
    );
  });

  it('handles empty and null keys and values, and binary data', () => {
    const input: RecordBatchInput = {
      records: [
        { key: Buffer.alloc(0), value: Buffer.alloc(0), timestampMs: 1 },
        { key: null, value: null, timestampMs: 2 },
        { key: Buffer.from([0, 255, 128, 1]), value: null, timestampMs: 3 },
        { key: null, value: Buffer.from([0xff, 0x00, 0xfe]), headers: [{ key: '', value: Buffer.alloc(0) }], timestampMs: 0 },
      ],
    };
    for (const codec of [Codec.None, Codec.Lz4]) {
      const buf = encodeRecordBatch({ ...input, codec });
      expectDecodesTo(decodeRecordBatch(buf), { ...input, codec }, buf);
    }
  });

  it('defaults the timestamp of records without one to the time of encoding', () => {
    const before = Date.now();
    const buf = encodeRecordBatch({ records: [{ key: null, value: null }, { key: null, value: null, timestampMs: before - 5000 }] });
    const after = Date.now();
    const batch = decodeRecordBatch(buf);
    expect(batch.baseTimestampMs).toBeGreaterThanOrEqual(before);
    expect(batch.baseTimestampMs).toBeLessThanOrEqual(after);
    expect(batch.maxTimestampMs).toBe(batch.baseTimestampMs);
    expect(batch.records.map((r) => r.timestampMs)).toEqual([batch.baseTimestampMs, before - 5000]);
  });

  it('encodes dense batches that pass the broker-side dense check', () => {
    const buf = encodeRecordBatch({ records: [{ key: null, value: Buffer.from('a') }, { key: null, value: Buffer.from('b') }] });
    expect(checkBatch(buf, 0, buf.length)).toEqual({ sizeBytes: buf.length });
  });

  it('keeps the offsets of a compacted batch (gapped deltas, original lastOffsetDelta)', () => {
    const kept = [3, 7, 8].map((offsetDelta) => ({ key: Buffer.from(`k${offsetDelta}`), value: null, timestampMs: 1000 + offsetDelta, offsetDelta }));
    const buf = encodeRecordBatch({ baseOffset: 100, lastOffsetDelta: 9, records: kept });
    expect(checkBatch(buf, 0, buf.length)).toMatchObject({ problem: 'record-count-mismatch' });
    const batch = decodeRecordBatch(buf);
    expect(batch.lastOffsetDelta).toBe(9);
    expect(batch.baseTimestampMs).toBe(1003);
    expect(batch.records.map((r) => [r.offset, r.timestampMs])).toEqual([[103, 1003], [107, 1007], [108, 1008]]);
  });

  it('compresses the records section as one lz4 frame', () => {
    const input: RecordBatchInput = {
      records: Array.from({ length: 50 }, (_, i) => ({ key: Buffer.from(`key-${i % 5}`), value: Buffer.from('the same value, again and again'), timestampMs: 1_700_000_000_000 + i })),
    };
    const plain = encodeRecordBatch(input);
    const lz4 = encodeRecordBatch({ ...input, codec: Codec.Lz4 });
    expect(lz4.length).toBeLessThan(plain.length / 3);
    expect(lz4.readInt16BE(Pos.attributes) & 0x07).toBe(3);
    expect(lz4.subarray(Pos.records, Pos.records + 4).toString('hex')).toBe('04224d18');
    expect(decodeRecordBatch(lz4).records).toEqual(decodeRecordBatch(plain).records);
  });

  it('decodes a batch at a position, with views into the input', () => {
    const batch = encodeRecordBatch({ baseOffset: 5, records: [{ key: Buffer.from('k'), value: Buffer.from('v'), timestampMs: 9 }] });
    const buf = Buffer.concat([Buffer.from('junk'), batch]);
    const decoded = decodeRecordBatch(buf, 4);
    expect(decoded.records[0]).toMatchObject({ offset: 5, timestampMs: 9 });
    expect(decoded.records[0].key?.buffer).toBe(buf.buffer);
  });
});

describe('big batches', () => {
  it('round-trips 10,000 records with both codecs', () => {
    const input: RecordBatchInput = {
      baseOffset: 1_000_000,
      producerId: 77,
      producerEpoch: 2,
      baseSequence: 4000,
      records: Array.from({ length: 10_000 }, (_, i) => ({
        key: i % 10 === 0 ? null : Buffer.from(`key-${i}`),
        value: Buffer.alloc(i % 300, i & 0xff),
        headers: i % 3 === 0 ? [{ key: 'trace-id', value: Buffer.from(String(i)) }, { key: 'ünïcödé-🚀', value: null }] : undefined,
        timestampMs: 1_700_000_000_000 + ((i * 37) % 10_000) - 5000,
      })),
    };
    for (const codec of [Codec.None, Codec.Lz4]) {
      const buf = encodeRecordBatch({ ...input, codec });
      expectDecodesTo(decodeRecordBatch(buf), { ...input, codec }, buf);
    }
  });
});

describe('decodeRecordBatches', () => {
  const one = encodeRecordBatch({ baseOffset: 0, records: [{ key: null, value: Buffer.from('a'), timestampMs: 1 }] });
  const two = encodeRecordBatch({ baseOffset: 1, codec: Codec.Lz4, records: [{ key: null, value: Buffer.from('b'), timestampMs: 2 }, { key: null, value: Buffer.from('c'), timestampMs: 3 }] });

  it('decodes consecutive batches', () => {
    const batches = decodeRecordBatches(Buffer.concat([one, two, one]));
    expect(batches.map((b) => b.records.map((r) => [r.offset, r.value?.toString()]))).toEqual([
      [[0, 'a']],
      [[1, 'b'], [2, 'c']],
      [[0, 'a']],
    ]);
    expect(decodeRecordBatches(Buffer.alloc(0))).toEqual([]);
  });

  it('builds records with a caller factory from the same fields as the plain decode', () => {
    fc.assert(
      fc.property(batchInput, (input) => {
        const buf = encodeRecordBatch(input);
        const made = decodeRecordBatches(buf, (offset, timestampMs, key, value, headers) => ({ tag: 'made' as const, offset, timestampMs, key, value, headers }));
        const plain = decodeRecordBatches(buf);
        expect(made.map((b) => b.records.map(({ tag, ...fields }) => (expect(tag).toBe('made'), fields)))).toEqual(plain.map((b) => b.records));
        expect(made.map(({ records: _, ...h }) => h)).toEqual(plain.map(({ records: _, ...h }) => h));
      }),
      { numRuns: 100 },
    );
  });

  it('reports a partial trailing batch', () => {
    expectCorrupt(() => decodeRecordBatches(Buffer.concat([one, two.subarray(0, two.length - 1)])), 'short-buffer');
    expectCorrupt(() => decodeRecordBatches(Buffer.concat([one, two.subarray(0, 5)])), 'short-buffer');
  });
});

describe('encoder input validation', () => {
  const r = (extra: Partial<RecordInput> = {}): RecordInput => ({ key: null, value: null, timestampMs: 0, ...extra });

  it.each<[string, RecordBatchInput]>([
    ['no records', { records: [] }],
    ['an unsupported codec', { records: [r()], codec: 1 as Codec }],
    ['a negative baseOffset', { records: [r()], baseOffset: -1 }],
    ['a baseOffset beyond 2^53', { records: [r()], baseOffset: 2 ** 60 }],
    ['decreasing offset deltas', { records: [r({ offsetDelta: 2 }), r({ offsetDelta: 1 })] }],
    ['repeated offset deltas', { records: [r({ offsetDelta: 2 }), r({ offsetDelta: 2 })] }],
    ['a negative offset delta', { records: [r({ offsetDelta: -1 })] }],
    ['an offset delta beyond int32', { records: [r({ offsetDelta: 2 ** 31 })] }],
    ['lastOffsetDelta below the last record', { records: [r(), r()], lastOffsetDelta: 0 }],
    ['a fractional timestamp', { records: [r({ timestampMs: 1.5 })] }],
    ['timestamps more than 2^53 apart', { records: [r({ timestampMs: -(2 ** 53) + 1 }), r({ timestampMs: 2 ** 53 - 1 })] }],
    ['a producerEpoch beyond int16', { records: [r()], producerEpoch: 40_000 }],
    ['a baseSequence beyond int32', { records: [r()], baseSequence: 2 ** 31 }],
  ])('rejects %s with INVALID_ARGUMENT', (_what, input) => {
    expectRunnelError(() => encodeRecordBatch(input), 'INVALID_ARGUMENT');
  });

  it('writes exactly the computed size for odd sizes around varint boundaries', () => {
    for (const size of [0, 1, 63, 64, 8191, 8192, 1_048_575, 1_048_576]) {
      const value = Buffer.alloc(size, 1);
      const buf = encodeRecordBatch({ records: [{ key: null, value, timestampMs: 0 }] });
      expect(decodeRecordBatch(buf).records[0].value?.length).toBe(size);
      expect(buf.length).toBeGreaterThan(BATCH_HEADER_BYTES + size);
    }
  });
});
