import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OffsetIndex } from '../../src/storage/offset-index.js';
import { TimeIndex } from '../../src/storage/time-index.js';
import { rng, tempDir } from './helpers.js';

/** Reference model: the entry with the greatest offset <= target, found by a linear scan. */
function floorModel(entries: { offset: number; position: number }[], base: number, target: number): { offset: number; position: number } {
  let best = { offset: base, position: 0 };
  for (const entry of entries) if (entry.offset <= target) best = entry;
  return best;
}

describe('OffsetIndex', () => {
  it('answers floor lookups like a sorted-array reference model, in memory and after a reload', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = rng(seed);
      const base = Math.floor(random() * 1_000_000);
      const file = path.join(tempDir(), 'x.index');
      const index = new OffsetIndex(file, base);
      const model: { offset: number; position: number }[] = [];
      let offset = base;
      let position = 0;
      for (let i = 0; i < 2000; i++) {
        offset += 1 + Math.floor(random() * 10);
        position += 1 + Math.floor(random() * 5000);
        index.append(offset, position);
        model.push({ offset, position });
      }
      index.persistSync({ fsync: true });
      const reloaded = new OffsetIndex(file, base);
      expect(reloaded.loadSync()).toBeNull();
      for (let probe = 0; probe < 3000; probe++) {
        const target = base + Math.floor(random() * (offset - base + 20)) - 5;
        const expected = floorModel(model, base, target);
        expect(index.lookup(target)).toEqual(expected);
        expect(reloaded.lookup(target)).toEqual(expected);
      }
    }
  });

  it('truncates entries at a byte position and persists the cut', () => {
    const file = path.join(tempDir(), 'y.index');
    const index = new OffsetIndex(file, 100);
    for (let i = 1; i <= 10; i++) index.append(100 + i * 10, i * 1000);
    index.persistSync({ fsync: false });
    index.truncateToPosition(5000);
    expect(index.entryCount).toBe(4);
    expect(index.last()).toEqual({ offset: 140, position: 4000 });
    index.append(145, 4500);
    index.persistSync({ fsync: false });
    const reloaded = new OffsetIndex(file, 100);
    expect(reloaded.loadSync()).toBeNull();
    expect(reloaded.entryCount).toBe(5);
    expect(reloaded.last()).toEqual({ offset: 145, position: 4500 });
  });

  it('refuses a missing, ragged or non-increasing file instead of trusting it', () => {
    const dir = tempDir();
    expect(new OffsetIndex(path.join(dir, 'missing.index'), 0).loadSync()).toBe('missing');
    fs.writeFileSync(path.join(dir, 'ragged.index'), Buffer.alloc(13));
    expect(new OffsetIndex(path.join(dir, 'ragged.index'), 0).loadSync()).toMatch(/multiple of 8/);
    const backwards = Buffer.alloc(16);
    backwards.writeUInt32BE(5, 0);
    backwards.writeUInt32BE(100, 4);
    backwards.writeUInt32BE(3, 8);
    backwards.writeUInt32BE(200, 12);
    fs.writeFileSync(path.join(dir, 'back.index'), backwards);
    const index = new OffsetIndex(path.join(dir, 'back.index'), 0);
    expect(index.loadSync()).toMatch(/do not increase/);
    expect(index.entryCount).toBe(0);
  });

  it('rejects an append that does not increase (a programming error)', () => {
    const index = new OffsetIndex(path.join(tempDir(), 'z.index'), 0);
    index.append(10, 100);
    expect(() => index.append(10, 200)).toThrow(/must increase/);
    expect(() => index.append(11, 100)).toThrow(/must increase/);
  });
});

describe('TimeIndex', () => {
  it('pairs with offset-index entries, allows equal timestamps and finds the last entry strictly before a time', () => {
    const file = path.join(tempDir(), 'x.timeindex');
    const index = new TimeIndex(file, 1000);
    index.append(50, 1005);
    index.append(50, 1010); // the max did not grow: still an entry, to stay paired
    index.append(70, 1020);
    index.append(90, 1030);
    expect(index.entryCount).toBe(4);
    expect(index.lookupBefore(50)).toBe(-1);
    expect(index.entry(index.lookupBefore(51))).toEqual({ timestampMs: 50, offset: 1010 });
    expect(index.entry(index.lookupBefore(90))).toEqual({ timestampMs: 70, offset: 1020 });
    expect(index.entry(index.lookupBefore(10_000))).toEqual({ timestampMs: 90, offset: 1030 });
    expect(() => index.append(80, 1040)).toThrow(/backwards/);
    index.persistSync({ fsync: true });
    const reloaded = new TimeIndex(file, 1000);
    expect(reloaded.loadSync()).toBeNull();
    expect(reloaded.entry(reloaded.lookupBefore(90))).toEqual({ timestampMs: 70, offset: 1020 });
    reloaded.truncateToOffset(1020);
    expect(reloaded.last()).toEqual({ timestampMs: 50, offset: 1010 });
  });
});
