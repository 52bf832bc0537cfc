/**
 * Base of the two per-segment sparse indexes (offset index, time index): fixed-size big-endian
 * entries kept in memory in growable typed-array columns, binary-searched, and persisted by
 * appending new entries to the file. Index files are a cache of facts that the log itself holds:
 * they are validated when loaded and rebuilt from the log when anything looks wrong.
 *
 * Not thread-safe in any sense that matters to Node: the owning segment mutates it only from
 * synchronous code on the event loop.
 */
import fs from 'node:fs';
import { writeFullySync } from './file-io.js';

export abstract class SparseIndex {
  protected count = 0;
  /** Entries [0, persistedCount) are in the file as they are in memory. */
  private persistedCount = 0;
  /** Set when entries were dropped, so the file must be cut before new entries are appended. */
  private fileNeedsTruncate = false;
  /** False while the file has writes not yet fsync'd (or the file may not exist yet). */
  private fileDurable = false;

  constructor(
    readonly file: string,
    readonly baseOffset: number,
    private readonly entryBytes: number,
  ) {}

  get entryCount(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.count * this.entryBytes;
  }

  protected abstract encodeEntry(i: number, buf: Buffer, pos: number): void;
  /** Decodes entry `i` of a loaded file; returns a problem when it breaks the index's rules. */
  protected abstract decodeEntry(buf: Buffer, pos: number, i: number): string | null;
  protected abstract grow(capacity: number): void;
  protected abstract get capacity(): number;

  protected reserveOne(): void {
    if (this.count < this.capacity) return;
    this.grow(Math.max(64, this.capacity * 2));
  }

  /**
   * Loads the file into memory. Returns null when it is sound, or why it was not; the caller
   * then rebuilds the index from the log. A missing file is a problem too (never trusted).
   */
  loadSync(): string | null {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.file);
    } catch (err) {
      this.count = 0;
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable: ${String(err)}`;
    }
    if (bytes.length % this.entryBytes !== 0) return `size ${bytes.length} is not a multiple of ${this.entryBytes}`;
    const entries = bytes.length / this.entryBytes;
    this.count = 0;
    this.grow(Math.max(64, entries));
    for (let i = 0; i < entries; i++) {
      const problem = this.decodeEntry(bytes, i * this.entryBytes, i);
      if (problem !== null) {
        this.count = 0;
        return `entry ${i}: ${problem}`;
      }
      this.count = i + 1;
    }
    this.persistedCount = this.count;
    this.fileDurable = true;
    return null;
  }

  /** Forgets every entry (before a rebuild). */
  reset(): void {
    this.count = 0;
    this.persistedCount = 0;
    this.fileNeedsTruncate = true;
    this.fileDurable = false;
  }

  /** Keeps the first `entries` entries. */
  protected truncateEntries(entries: number): void {
    if (entries >= this.count) return;
    this.count = entries;
    this.fileDurable = false;
    if (this.persistedCount > entries) {
      this.persistedCount = entries;
      this.fileNeedsTruncate = true;
    }
  }

  /** Writes entries not yet in the file; cuts the file first if entries were dropped. */
  persistSync(options: { fsync: boolean }): void {
    const inFile = !this.fileNeedsTruncate && this.persistedCount === this.count;
    if (inFile && (!options.fsync || this.fileDurable)) return;
    const fd = fs.openSync(this.file, fs.existsSync(this.file) ? 'r+' : 'w');
    try {
      if (this.fileNeedsTruncate) fs.ftruncateSync(fd, this.persistedCount * this.entryBytes);
      const pending = this.count - this.persistedCount;
      if (pending > 0) {
        const buf = Buffer.allocUnsafe(pending * this.entryBytes);
        for (let i = 0; i < pending; i++) this.encodeEntry(this.persistedCount + i, buf, i * this.entryBytes);
        writeFullySync(fd, buf, this.persistedCount * this.entryBytes);
      }
      if (options.fsync) fs.fdatasyncSync(fd);
      this.fileDurable = options.fsync;
      this.persistedCount = this.count;
      this.fileNeedsTruncate = false;
    } finally {
      fs.closeSync(fd);
    }
  }

  deleteFileSync(): void {
    fs.rmSync(this.file, { force: true });
  }

  /** Index of the last entry whose key is <= `key`, or -1; `keyAt` must be non-decreasing. */
  protected floorEntry(key: number, keyAt: (i: number) => number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (keyAt(mid) <= key) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
