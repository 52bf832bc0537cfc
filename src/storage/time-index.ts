/**
 * Time index of one segment: sparse map from a timestamp to the first batch that may hold a
 * record at or after it. File `<baseOffset>.timeindex`, 12-byte big-endian entries:
 *
 *   timestampMs     i64   the segment's greatest batch maxTimestamp so far
 *   relativeOffset  u32   base offset (minus segment base) of the batch that set that maximum
 *
 * An entry is added alongside an offset-index entry when the maximum grew since the last one,
 * so both columns strictly increase. Every batch before the entry's batch has maxTimestamp
 * <= timestampMs, which is what makes `lookup` safe with out-of-order producer timestamps.
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
    if (i > 0 && (timestampMs <= this.timestamps[i - 1]! || relativeOffset <= this.relativeOffsets[i - 1]!)) {
      return 'entries do not increase';
    }
    this.timestamps[i] = timestampMs;
    this.relativeOffsets[i] = relativeOffset;
    return null;
  }

  /** Adds an entry unless it would not raise the maximum (then it carries no information). */
  maybeAppend(timestampMs: number, offset: number): void {
    const last = this.last();
    if (last !== null && (timestampMs <= last.timestampMs || offset <= last.offset)) return;
    this.reserveOne();
    this.timestamps[this.count] = timestampMs;
    this.relativeOffsets[this.count] = offset - this.baseOffset;
    this.count++;
  }

  /**
   * The last entry whose timestamp is < `timestampMs`: no record before its batch can be at or
   * after `timestampMs`, so a search may start there. Null means: start at the segment start.
   */
  lookupBefore(timestampMs: number): TimeIndexEntry | null {
    const i = this.floorEntry(timestampMs - 1, (j) => this.timestamps[j]!);
    return i < 0 ? null : this.entry(i);
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
