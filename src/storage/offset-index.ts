/**
 * Offset index of one segment: sparse map from a batch's base offset to its byte position in
 * the segment's .log file. File `<baseOffset>.index`, 8-byte big-endian entries:
 *
 *   relativeOffset u32   batch baseOffset - segment baseOffset
 *   position       u32   byte position of the batch in the .log file
 *
 * One entry per `indexIntervalBytes` of log; the first batch of a segment has no entry (position
 * 0 is implied). Both columns strictly increase.
 */
import { SparseIndex } from './sparse-index.js';

export const OFFSET_INDEX_ENTRY_BYTES = 8;

export interface IndexPosition {
  offset: number;
  position: number;
}

export class OffsetIndex extends SparseIndex {
  private relativeOffsets = new Uint32Array(0);
  private positions = new Uint32Array(0);

  constructor(file: string, baseOffset: number) {
    super(file, baseOffset, OFFSET_INDEX_ENTRY_BYTES);
  }

  protected get capacity(): number {
    return this.positions.length;
  }

  protected grow(capacity: number): void {
    const offsets = new Uint32Array(capacity);
    const positions = new Uint32Array(capacity);
    offsets.set(this.relativeOffsets.subarray(0, this.count));
    positions.set(this.positions.subarray(0, this.count));
    this.relativeOffsets = offsets;
    this.positions = positions;
  }

  protected encodeEntry(i: number, buf: Buffer, pos: number): void {
    buf.writeUInt32BE(this.relativeOffsets[i]!, pos);
    buf.writeUInt32BE(this.positions[i]!, pos + 4);
  }

  protected decodeEntry(buf: Buffer, pos: number, i: number): string | null {
    const relativeOffset = buf.readUInt32BE(pos);
    const position = buf.readUInt32BE(pos + 4);
    if (relativeOffset === 0 || position === 0) return 'the first batch of a segment is never indexed';
    if (i > 0 && (relativeOffset <= this.relativeOffsets[i - 1]! || position <= this.positions[i - 1]!)) {
      return 'entries do not increase';
    }
    this.relativeOffsets[i] = relativeOffset;
    this.positions[i] = position;
    return null;
  }

  append(offset: number, position: number): void {
    const relativeOffset = offset - this.baseOffset;
    const last = this.last();
    if (last !== null && (offset <= last.offset || position <= last.position)) {
      throw new Error(`offset index entries must increase: ${offset}@${position} after ${last.offset}@${last.position}`);
    }
    this.reserveOne();
    this.relativeOffsets[this.count] = relativeOffset;
    this.positions[this.count] = position;
    this.count++;
  }

  /** The entry with the greatest offset <= `offset`, or the segment start. */
  lookup(offset: number): IndexPosition {
    const i = this.floorEntry(offset - this.baseOffset, (j) => this.relativeOffsets[j]!);
    return i < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(i);
  }

  entry(i: number): IndexPosition {
    return { offset: this.baseOffset + this.relativeOffsets[i]!, position: this.positions[i]! };
  }

  last(): IndexPosition | null {
    return this.count === 0 ? null : this.entry(this.count - 1);
  }

  /** Drops entries for batches at or after byte `position` (the log is being cut there). */
  truncateToPosition(position: number): void {
    const i = this.floorEntry(position - 1, (j) => this.positions[j]!);
    this.truncateEntries(i + 1);
  }
}
