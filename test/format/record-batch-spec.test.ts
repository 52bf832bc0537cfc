/**
 * A RecordBatch v2 written byte by byte from Kafka's specification
 * (https://kafka.apache.org/documentation/#recordbatch), checked against the encoder and decoder.
 * Its CRC comes from the table-driven CRC-32C in helpers.ts, not from the project's crc32c.
 */
import { decompressFrameSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { Codec, checkBatch } from '../../src/format/batch-header.js';
import { decodeRecordBatch, encodeRecordBatch, type RecordBatchInput } from '../../src/format/record-batch.js';
import { referenceCrc32c } from './helpers.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const seventyAs = Buffer.alloc(70, 'a');

function specBatch(): Buffer {
  const batch = Buffer.concat([
    // ---- header, 61 bytes, big-endian
    hex('00000000 0000002a'), //  baseOffset 42
    hex('00000097'), //           batchLength 151 = 163 total - 12
    hex('00000007'), //           partitionLeaderEpoch 7
    hex('02'), //                 magic 2
    hex('00000000'), //           crc, filled in below
    hex('0000'), //               attributes: codec none, CreateTime, not transactional, not control
    hex('00000001'), //           lastOffsetDelta 1
    hex('0000018b cfe56800'), //  baseTimestamp 1700000000000
    hex('0000018b cfe5692c'), //  maxTimestamp  1700000000300
    hex('00000000 000004d2'), //  producerId 1234
    hex('0003'), //               producerEpoch 3
    hex('0000000a'), //           baseSequence 10
    hex('00000002'), //           recordCount 2
    // ---- record 0, 18 bytes (zigzag varints)
    hex('22'), //                 length 17
    hex('00'), //                 attributes
    hex('00'), //                 timestampDelta 0
    hex('00'), //                 offsetDelta 0
    hex('04 6b31'), //            key length 2, "k1"
    hex('0a 68656c6c6f'), //      value length 5, "hello"
    hex('02'), //                 1 header
    hex('02 68'), //              header key length 1, "h"
    hex('02 76'), //              header value length 1, "v"
    // ---- record 1, 84 bytes
    hex('a401'), //               length 82
    hex('00'), //                 attributes
    hex('d804'), //               timestampDelta 300
    hex('02'), //                 offsetDelta 1
    hex('01'), //                 key length -1: null
    hex('8c01'), //               value length 70 ...
    seventyAs, //                 ... seventy 'a'
    hex('02'), //                 1 header
    hex('04 c3a9'), //            header key length 2, "é" in UTF-8
    hex('01'), //                 header value length -1: null
  ]);
  // CRC-32C of everything from attributes (byte 21) to the end, at byte 17.
  batch.writeUInt32BE(referenceCrc32c(batch.subarray(21)), 17);
  return batch;
}

const specInput: RecordBatchInput = {
  baseOffset: 42,
  partitionLeaderEpoch: 7,
  producerId: 1234,
  producerEpoch: 3,
  baseSequence: 10,
  records: [
    { key: Buffer.from('k1'), value: Buffer.from('hello'), headers: [{ key: 'h', value: Buffer.from('v') }], timestampMs: 1_700_000_000_000 },
    { key: null, value: seventyAs, headers: [{ key: 'é', value: null }], timestampMs: 1_700_000_000_300 },
  ],
};

describe('a RecordBatch v2 written from the Kafka specification', () => {
  it('is self-consistent (reference CRC-32C check value, sizes)', () => {
    expect(referenceCrc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const batch = specBatch();
    expect(batch.length).toBe(163);
    expect(batch.readInt32BE(8) + 12).toBe(batch.length);
    expect(checkBatch(batch, 0, batch.length)).toEqual({ sizeBytes: 163 });
  });

  it('is exactly what encodeRecordBatch produces for the same input', () => {
    const encoded = encodeRecordBatch(specInput);
    expect(encoded.toString('hex')).toBe(specBatch().toString('hex'));
  });

  it('decodes to the spec values', () => {
    const batch = specBatch();
    const decoded = decodeRecordBatch(batch);
    expect(decoded).toMatchObject({
      baseOffset: 42,
      sizeBytes: 163,
      partitionLeaderEpoch: 7,
      magic: 2,
      crc: batch.readUInt32BE(17),
      attributes: 0,
      lastOffsetDelta: 1,
      baseTimestampMs: 1_700_000_000_000,
      maxTimestampMs: 1_700_000_000_300,
      producerId: 1234,
      producerEpoch: 3,
      baseSequence: 10,
      recordCount: 2,
      codec: Codec.None,
      transactional: false,
      control: false,
      logAppendTime: false,
    });
    expect(decoded.records).toEqual([
      { offset: 42, timestampMs: 1_700_000_000_000, key: Buffer.from('k1'), value: Buffer.from('hello'), headers: [{ key: 'h', value: Buffer.from('v') }] },
      { offset: 43, timestampMs: 1_700_000_000_300, key: null, value: seventyAs, headers: [{ key: 'é', value: null }] },
    ]);
  });

  it('with lz4, holds the same records section as one lz4 frame, and flags attributes', () => {
    const plain = specBatch();
    const lz4 = encodeRecordBatch({ ...specInput, codec: Codec.Lz4, transactional: true });
    expect(lz4.readInt16BE(21)).toBe(0x13); // codec 3 | transactional (bit 4)
    expect(lz4.subarray(12, 17).equals(plain.subarray(12, 17))).toBe(true); // epoch, magic
    expect(lz4.subarray(23, 61).equals(plain.subarray(23, 61))).toBe(true);
    expect(lz4.readInt32BE(8) + 12).toBe(lz4.length);
    expect(lz4.readUInt32BE(17)).toBe(referenceCrc32c(lz4.subarray(21)));
    expect(decompressFrameSync(lz4.subarray(61)).equals(plain.subarray(61))).toBe(true);
    expect(decodeRecordBatch(lz4).records).toEqual(decodeRecordBatch(plain).records);
  });
});
