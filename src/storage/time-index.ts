/**
 * Time index of one segment: sparse map from a timestamp to the first batch that may hold a
 * record at or after it. File `<baseOffset>.timeindex`, 12-byte big-endian entries:
 *
 *   timestampMs     i64   greatest maxTimestamp of every batch before `relativeOffset`
 *   relativeOffset  u32   base offset (minus segment base) of a batch that has an offset-index entry
 *
 * Entry i is written together with offset-index entry i, for the same batch, so the two files
 * pair one to one. That is what lets a segment check its time index without trusting it: the
 * count and every offset must equal the offset index's, timestamps never decrease, and the
 * entry a lookup uses (and the last one, at open) is re-derived from the batch headers before
 * it (Segment.verifyTimeEntrySync). Kafka instead stores (max so far, offset of that max) and
 * skips entries that do not raise it; its file cannot be cross-checked this way.
 *
 * Because every batch before the entry's batch has maxTimestamp <= timestampMs, a search for
 * `t` may start at the last entry whose timestamp is < t, whatever order producers' clocks
 * gave the records.
 */
import { SparseIndex } from './sparse-index.js';

export const TIME_INDEX_ENTRY_BYTES = 12;

export interface TimeIndexEntry {
  timestampMs: number;
  offset: number;
}

export class TimeIndex extends SparseIndex {
  private timestamps = new Float64Array(0);
  private relativeOffsets = new Uint32Array(0);

  constructor(file: string, baseOffset: number) {
    super(file, baseOffset, TIME_INDEX_ENTRY_BYTES);
  }

  protected get capacity(): number {
    return this.timestamps.length;
  }

  protected grow(capacity: number): void {
    const timestamps = new Float64Array(capacity);
    const offsets = new Uint32Array(capacity);
    timestamps.set(this.timestamps.subarray(0, this.count));
    offsets.set(this.relativeOffsets.subarray(0, this.count));
    this.timestamps = timestamps;
    this.relativeOffsets = offsets;
  }

  protected encodeEntry(i: number, buf: Buffer, pos: number): void {
    buf.writeBigInt64BE(BigInt(this.timestamps[i]!), pos);
    buf.writeUInt32BE(this.relativeOffsets[i]!, pos + 8);
  }

  protected decodeEntry(buf: Buffer, pos: number, i: number): string | null {
    const timestampMs = Number(buf.readBigInt64BE(pos));
    const relativeOffset = buf.readUInt32BE(pos + 8);
    if (relativeOffset === 0) return 'the first batch of a segment is never indexed';
    if (i > 0 && (timestampMs < this.timestamps[i - 1]! || relativeOffset <= this.relativeOffsets[i - 1]!)) {
      return 'entries go backwards';
    }
    this.timestamps[i] = timestampMs;
    this.relativeOffsets[i] = relativeOffset;
    return null;
  }

  /** Adds the entry paired with the offset-index entry for the batch at `offset`. */
  append(timestampMs: number, offset: number): void {
    const last = this.last();
    if (last !== null && (timestampMs < last.timestampMs || offset <= last.offset)) {
      throw new Error(`time index entries must not go backwards: ${timestampMs}@${offset} after ${last.timestampMs}@${last.offset}`);
    }
    this.reserveOne();
    this.timestamps[this.count] = timestampMs;
    this.relativeOffsets[this.count] = offset - this.baseOffset;
    this.count++;
  }

  /**
   * The last entry whose timestamp is < `timestampMs`: no record before its batch can be at or
   * after `timestampMs`, so a search may start there. Null means: start at the segment start.
   */
  lookupBefore(timestampMs: number): number {
    return this.floorEntry(timestampMs - 1, (j) => this.timestamps[j]!);
  }

  entry(i: number): TimeIndexEntry {
    return { timestampMs: this.timestamps[i]!, offset: this.baseOffset + this.relativeOffsets[i]! };
  }

  last(): TimeIndexEntry | null {
    return this.count === 0 ? null : this.entry(this.count - 1);
  }

  /** Drops entries for batches at or after `offset`. */
  truncateToOffset(offset: number): void {
    const i = this.floorEntry(offset - this.baseOffset - 1, (j) => this.relativeOffsets[j]!);
    this.truncateEntries(i + 1);
  }
}
