/**
 * The record walk (src/format/record-walk.ts) agrees with the full decoder: for seeded random
 * batches (keys, values and headers of random sizes, nulls, lz4 or not) and random damage to
 * their records (CRC fixed afterwards, so only the walk can see it), walkRecords refuses exactly
 * the batches decodeRecordBatch refuses, and for the ones it accepts reports the records'
 * smallest and largest timestamps. The walk is the produce path's hot loop and is hand-written
 * for speed; the decoder is the reference.
 */
import { describe, expect, it } from 'vitest';
import { Codec, Pos } from '../../src/format/batch-header.js';
import { decodeRecordBatch, encodeRecordBatch, type RecordInput } from '../../src/format/record-batch.js';
import { walkRecords } from '../../src/format/record-walk.js';
import { rng } from '../storage/helpers.js';
import { fixCrc } from './helpers.js';

const CASES = 600;
const SEED = Number(process.env.RUNNEL_WALK_SEED ?? 7_331);

function randomBatch(random: () => number): Buffer {
  const count = 1 + Math.floor(random() * 12);
  const bytes = (max: number): Buffer | null => (random() < 0.15 ? null : Buffer.alloc(Math.floor(random() * max), Math.floor(random() * 256)));
  const records: RecordInput[] = Array.from({ length: count }, () => ({
    key: bytes(40),
    value: bytes(random() < 0.1 ? 3000 : 200),
    timestampMs: 1_700_000_000_000 + Math.floor((random() - 0.3) * 100_000),
    headers: Array.from({ length: random() < 0.7 ? 0 : Math.floor(random() * 4) }, (_, i) => ({ key: `h${i}`, value: bytes(20) })),
  }));
  return encodeRecordBatch({ records, codec: random() < 0.25 ? Codec.Lz4 : Codec.None });
}

/** Flips, sets or shifts a few bytes of the records section (never the header), then fixes the CRC. */
function damage(batch: Buffer, random: () => number): Buffer {
  const damaged = Buffer.from(batch);
  const edits = 1 + Math.floor(random() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Pos.records + Math.floor(random() * (damaged.length - Pos.records));
    damaged[at] = random() < 0.5 ? damaged[at] ^ (1 << Math.floor(random() * 8)) : Math.floor(random() * 256);
  }
  return fixCrc(damaged);
}

function verdict(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'thrown';
  }
}

describe('record walk vs the decoder', () => {
  it(`accepts and refuses exactly what decodeRecordBatch does (${CASES} seeded cases, seed ${SEED})`, () => {
    const random = rng(SEED);
    let refused = 0;
    for (let i = 0; i < CASES; i++) {
      const intact = randomBatch(random);
      const batch = i % 3 === 0 ? intact : damage(intact, random);
      const decoded = verdict(() => decodeRecordBatch(batch));
      const walked = verdict(() => walkRecords(batch));
      expect(walked, `case ${i} (seed ${SEED})`).toBe(decoded);
      if (walked !== 'ok') {
        refused++;
        continue;
      }
      const timestamps = decodeRecordBatch(batch).records.map((r) => r.timestampMs);
      expect(walkRecords(batch), `case ${i}`).toEqual({ minTimestampMs: Math.min(...timestamps), maxTimestampMs: Math.max(...timestamps) });
    }
    // Damage in value bytes is invisible to both; enough of it must hit structure to mean something.
    expect(refused).toBeGreaterThan(CASES / 10);
  });
});
