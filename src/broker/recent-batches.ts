/**
 * A bounded in-memory cache of the batches most recently appended to one partition, so that
 * tailing fetches and subscribe streams are served without a file read. It holds whole stored
 * batches (offsets already stamped) in offset order, up to `maxBytes`, dropping the oldest.
 * The log stays the truth: the caller checks the log start and end before trusting a hit.
 */
interface CachedBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
}

export class RecentBatches {
  private batches: CachedBatch[] = [];
  private head = 0;
  private sizeBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * Adds a just-appended batch. A view into a much larger buffer (a whole gRPC request) is
   * copied, so the cache never pins memory it does not count.
   */
  add(baseOffset: number, lastOffset: number, bytes: Buffer): void {
    if (this.maxBytes <= 0 || bytes.length > this.maxBytes) return this.clear();
    const last = this.batches[this.batches.length - 1];
    if (last !== undefined && baseOffset !== last.lastOffset + 1) this.clear();
    const own = bytes.buffer.byteLength > 2 * bytes.length ? Buffer.from(bytes) : bytes;
    this.batches.push({ baseOffset, lastOffset, bytes: own });
    this.sizeBytes += own.length;
    while (this.sizeBytes > this.maxBytes) this.sizeBytes -= this.batches[this.head++]!.bytes.length;
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Whole batches from the one holding `offset`, up to `maxBytes` (at least one), or null when
   * the cache does not reach back to `offset` or holds nothing at or after it.
   */
  read(offset: number, maxBytes: number): { bytes: Buffer; firstOffset: number; nextOffset: number } | null {
    const first = this.indexOf(offset);
    if (first < 0) return null;
    const parts: Buffer[] = [];
    let total = 0;
    let i = first;
    for (; i < this.batches.length; i++) {
      const batch = this.batches[i]!;
      if (parts.length > 0 && total + batch.bytes.length > maxBytes) break;
      parts.push(batch.bytes);
      total += batch.bytes.length;
    }
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
    return { bytes, firstOffset: this.batches[first]!.baseOffset, nextOffset: this.batches[i - 1]!.lastOffset + 1 };
  }

  private indexOf(offset: number): number {
    let lo = this.head;
    let hi = this.batches.length - 1;
    if (hi < lo || offset < this.batches[lo]!.baseOffset || offset > this.batches[hi]!.lastOffset) return -1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid]!.lastOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Forgets everything (after a truncation, or when the log start passes the cache). */
  clear(): void {
    this.batches = [];
    this.head = 0;
    this.sizeBytes = 0;
  }

  get bytes(): number {
    return this.sizeBytes;
  }
}
