/**
 * One segment of a partition log: the `<baseOffset>.log` file of whole record batches, appended
 * as received, plus its offset index and time index. File names are the base offset as 20
 * zero-padded digits, as in Kafka.
 *
 * The segment trusts nothing it did not write in this process: indexes are checked when loaded
 * and rebuilt from the log when they fail; `rebuildSync` re-validates every batch (length, magic,
 * CRC, the record walk, offset order) and records the first bad or partial one as `damage`. The
 * segment never decides to cut: its log does (only a torn tail may go, see PartitionLog).
 *
 * A failed write is sticky (as in NATS's filestore): after one, the segment refuses every append
 * until the log is reopened, because the file's tail is no longer known to be sound.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunnelError, storageError } from '../common/errors.js';
import { assert } from '../common/assert.js';
import {
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_PREFIX_BYTES,
  Pos,
  readBaseOffset,
  readBatchSize,
  readLastOffsetDelta,
  readMaxTimestamp,
} from '../format/batch-header.js';
import { checkBatchStructure } from '../format/record-walk.js';
import { readAt, readAtSync, writeFullySync } from './file-io.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';

/** Bytes of a header needed to know a batch's offsets: up to and including lastOffsetDelta. */
const OFFSETS_HEADER_BYTES = Pos.lastOffsetDelta + 4;
const SCAN_CHUNK_BYTES = 8 * 1024 * 1024;
/** Beyond maxBytes and one index interval, a locate read takes this much to see the next header. */
const LOCATE_SLACK_BYTES = BATCH_HEADER_BYTES;

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
export const CLEANED_SUFFIX = '.cleaned';
export const SWAP_SUFFIX = '.swap';
/**
 * `<base>.compacted`: an empty file that says the segment was rewritten by compaction, so its
 * batches may skip offsets and it may end before the next segment starts. Written (and its
 * directory fsync'd) before the rewritten file can replace the `.log`, so the rules a segment is
 * recovered with never depend on the log's current cleanupPolicy alone (compact, then delete).
 */
export const COMPACTED_SUFFIX = '.compacted';

export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

export interface SegmentOptions {
  indexIntervalBytes: number;
  /** False for a segment of a compacted log or one compaction rewrote: its batches may skip offsets. */
  denseOffsets: boolean;
}

/** The first batch of a segment that failed its structural check: where, and what. */
export interface SegmentDamage {
  /** Byte position of the bad or partial batch in the `.log`. */
  position: number;
  /** Offset the batch should have held (the segment's valid batches end below it). */
  offset: number;
  problem: string;
}

/**
 * Checks the stored batch at `at` (whole or partial, up to `end`): structure as on produce
 * (length, magic, CRC, codec, the record walk) and its base offset against `expectedOffset`
 * (equal in dense segments, at least in compacted ones). Shared by recovery, the scrub and the
 * ops tools (segment-scan.ts), so they can never disagree about a batch.
 */
export function checkStoredBatch(
  buf: Buffer,
  at: number,
  end: number,
  expectedOffset: number,
  denseOffsets: boolean,
): { sizeBytes: number; baseOffset: number; lastOffset: number } | { problem: string; sizeBytes?: number } {
  // A problem keeps the batch's length when it was plausible (a bad CRC or bad records, not a
  // partial batch or bad magic), so the ops tools can step over it (segment-scan.ts).
  const checked = checkBatchStructure(buf, at, end, { denseOffsets });
  if ('problem' in checked) return checked;
  const baseOffset = readBaseOffset(buf, at);
  const offsetsOk = denseOffsets ? baseOffset === expectedOffset : baseOffset >= expectedOffset;
  if (!offsetsOk) return { problem: `base offset ${baseOffset} where ${denseOffsets ? '' : 'at least '}${expectedOffset} was expected`, sizeBytes: checked.sizeBytes };
  return { sizeBytes: checked.sizeBytes, baseOffset, lastOffset: baseOffset + readLastOffsetDelta(buf, at) };
}

export interface BatchInfo {
  baseOffset: number;
  lastOffset: number;
  position: number;
  sizeBytes: number;
  maxTimestampMs: number;
}

export interface SegmentReadResult {
  /** Whole batches, contiguous, starting with the one holding the requested offset. */
  bytes: Buffer;
  firstOffset: number;
  /** Offset after the last returned batch. */
  nextOffset: number;
}

interface Located {
  chunk: Buffer;
  chunkStart: number;
  batch: BatchInfo;
}

export class Segment {
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  sizeBytes = 0;
  /** Offset the next batch appended to this segment would get (its log end offset). */
  nextOffset: number;
  /** Greatest batch maxTimestamp in the segment, -1 when empty. */
  maxTimestampMs = -1;
  /**
   * Broker-clock time of the first append to this segment (or of the log's open, for a segment
   * that already held batches): the basis of rolling by `segmentMs`. Set by the log, which owns
   * the clock; never a client timestamp, so no producer can roll a segment per batch or never.
   */
  rollTimerStartMs = -1;
  /**
   * The first bad batch found by the last full validation (open) or by the scrub; null when
   * none. Reads never go past it (`readableBytes`), and nothing cuts it but the log's torn-tail rule.
   */
  damage: SegmentDamage | null = null;
  private bytesSinceIndexEntry = 0;
  private failure: RunnelError | null = null;
  private readers = 0;
  private retired: (() => void) | null = null;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    private fd: number,
    private readonly options: SegmentOptions,
  ) {
    this.offsetIndex = new OffsetIndex(path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX)), baseOffset);
    this.timeIndex = new TimeIndex(path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX)), baseOffset);
    this.nextOffset = baseOffset;
  }

  get logFile(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, LOG_SUFFIX));
  }

  get fileDescriptor(): number {
    return this.fd;
  }

  get isEmpty(): boolean {
    return this.sizeBytes === 0;
  }

  get failed(): RunnelError | null {
    return this.failure;
  }

  /** Bytes readers may be served: up to the damage, when there is some. */
  get readableBytes(): number {
    return this.damage === null ? this.sizeBytes : Math.min(this.damage.position, this.sizeBytes);
  }

  /** False when the segment's batches may skip offsets (see COMPACTED_SUFFIX). */
  get denseOffsets(): boolean {
    return this.options.denseOffsets;
  }

  get compactedMarkerFile(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, COMPACTED_SUFFIX));
  }

  /**
   * Records that the segment may skip offsets (COMPACTED_SUFFIX). Returns true when it created
   * the marker: the caller then fsyncs the directory before relying on it.
   */
  markCompactedSync(): boolean {
    if (fs.existsSync(this.compactedMarkerFile)) return false;
    fs.writeFileSync(this.compactedMarkerFile, '');
    return true;
  }

  /** Creates a new, empty segment (an existing file of that name is emptied). */
  static createSync(dir: string, baseOffset: number, options: SegmentOptions): Segment {
    const fd = fs.openSync(path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX)), 'w+');
    const segment = new Segment(dir, baseOffset, fd, options);
    // A marker left by a former segment of this base (before a truncation) does not describe this one.
    fs.rmSync(segment.compactedMarkerFile, { force: true });
    segment.offsetIndex.reset();
    segment.timeIndex.reset();
    return segment;
  }

  /**
   * Opens an existing segment. With `recover`, every batch is re-validated; otherwise the
   * indexes are checked and only the tail after the last index entry is scanned (a problem
   * there means a full validation). A bad batch found is left in the file and recorded as
   * `damage`: whether it may be cut is the log's decision. Returns what was repaired.
   */
  static openSync(dir: string, baseOffset: number, options: SegmentOptions, recover: boolean): { segment: Segment; repairs: string[] } {
    const fd = fs.openSync(path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX)), 'r+');
    const segment = new Segment(dir, baseOffset, fd, options);
    segment.sizeBytes = fs.fstatSync(fd).size;
    const repairs: string[] = [];
    if (!recover) {
      const problem = segment.loadIndexesSync() ?? segment.scanTailSync();
      if (problem === null) return { segment, repairs };
      repairs.push(`${segment.logFile}: ${problem}; rebuilding from the log`);
    }
    segment.damage = segment.rebuildSync();
    return { segment, repairs };
  }

  /** Loads both indexes and checks them against the log; null when they can be used. */
  private loadIndexesSync(): string | null {
    const offsetProblem = this.offsetIndex.loadSync();
    if (offsetProblem !== null) return `offset index ${offsetProblem}`;
    const timeProblem = this.timeIndex.loadSync();
    if (timeProblem !== null) return `time index ${timeProblem}`;
    const entries = this.offsetIndex.entryCount;
    if (this.timeIndex.entryCount !== entries) return 'time index and offset index differ in length';
    for (let i = 0; i < entries; i++) {
      if (this.timeIndex.entry(i).offset !== this.offsetIndex.entry(i).offset) return `time index entry ${i} does not pair with the offset index`;
    }
    if (entries === 0) return null;
    const last = this.offsetIndex.entry(entries - 1);
    if (last.position + BATCH_HEADER_BYTES > this.sizeBytes) return 'offset index points past the end of the log';
    const header = readAtSync(this.fd, last.position, BATCH_LENGTH_PREFIX_BYTES);
    if (readBaseOffset(header) !== last.offset) return 'offset index does not match the log';
    if (!this.verifyTimeEntrySync(entries - 1)) return 'time index does not match the log';
    // The tail scan raises this with the batches after the last entry.
    this.maxTimestampMs = this.timeIndex.entry(entries - 1).timestampMs;
    return null;
  }

  /**
   * Re-derives time-index entry i from the log: the max of entry i-1 and of the batch headers
   * between the two entries' positions must equal its timestamp. Reads only those headers.
   */
  private verifyTimeEntrySync(i: number): boolean {
    let maxTimestampMs = i > 0 ? this.timeIndex.entry(i - 1).timestampMs : -1;
    let position = i > 0 ? this.offsetIndex.entry(i - 1).position : 0;
    const end = this.offsetIndex.entry(i).position;
    while (position < end) {
      const header = readAtSync(this.fd, position, BATCH_HEADER_BYTES);
      if (header.length < BATCH_HEADER_BYTES) return false;
      const sizeBytes = readBatchSize(header);
      if (sizeBytes < BATCH_HEADER_BYTES) return false;
      maxTimestampMs = Math.max(maxTimestampMs, readMaxTimestamp(header));
      position += sizeBytes;
    }
    return position === end && maxTimestampMs === this.timeIndex.entry(i).timestampMs;
  }

  /**
   * Walks batch headers from the last index entry to the end of the file, to learn the next
   * offset, the max timestamp and the index bookkeeping. A tail that is not whole batches
   * means the file needs recovery.
   */
  private scanTailSync(): string | null {
    const start = this.offsetIndex.last()?.position ?? 0;
    if (this.sizeBytes > 0) {
      const first = readAtSync(this.fd, 0, BATCH_HEADER_BYTES);
      if (first.length < BATCH_HEADER_BYTES) return 'log shorter than one batch header';
    }
    let position = start;
    this.bytesSinceIndexEntry = 0;
    while (position < this.sizeBytes) {
      const header = readAtSync(this.fd, position, BATCH_HEADER_BYTES);
      if (header.length < BATCH_HEADER_BYTES) return `partial batch header at position ${position}`;
      const sizeBytes = readBatchSize(header);
      if (sizeBytes < BATCH_HEADER_BYTES || position + sizeBytes > this.sizeBytes) return `bad batch length at position ${position}`;
      const baseOffset = readBaseOffset(header);
      if (baseOffset < this.nextOffset) return `offsets go backwards at position ${position}`;
      const lastOffset = baseOffset + readLastOffsetDelta(header);
      this.noteBatch(baseOffset, lastOffset, readMaxTimestamp(header), sizeBytes, position, false);
      position += sizeBytes;
    }
    return null;
  }

  /**
   * Re-validates every batch (structure and offset order, checkStoredBatch) and rebuilds both
   * indexes from them, stopping at the first bad or partial batch, which it returns (null when
   * the file is valid). It never changes the file: an index rebuild on a live segment, and
   * recovery, must never drop data by themselves.
   */
  rebuildSync(): SegmentDamage | null {
    this.offsetIndex.reset();
    this.timeIndex.reset();
    this.nextOffset = this.baseOffset;
    this.maxTimestampMs = -1;
    this.bytesSinceIndexEntry = 0;
    let position = 0;
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = 0;
    while (position < this.sizeBytes) {
      let at = position - chunkStart;
      const left = this.sizeBytes - position;
      const declared = chunk.length - at >= BATCH_LENGTH_PREFIX_BYTES ? readBatchSize(chunk, at) : BATCH_HEADER_BYTES;
      if (declared > left) {
        // Not read: a damaged length would otherwise pull in the rest of the segment.
        return { position, offset: this.nextOffset, problem: `short-buffer (batch length ${declared}, ${left} bytes left in the segment)` };
      }
      const wanted = Math.min(left, Math.max(declared, BATCH_HEADER_BYTES));
      if (chunk.length - at < wanted) {
        chunkStart = position;
        chunk = readAtSync(this.fd, position, Math.min(left, Math.max(wanted, SCAN_CHUNK_BYTES)));
        at = 0;
      }
      const checked = checkStoredBatch(chunk, at, chunk.length, this.nextOffset, this.options.denseOffsets);
      if ('problem' in checked) return { position, offset: this.nextOffset, problem: checked.problem };
      this.noteBatch(checked.baseOffset, checked.lastOffset, readMaxTimestamp(chunk, at), checked.sizeBytes, position, true);
      position += checked.sizeBytes;
    }
    return null;
  }

  /**
   * Cuts the file at its damage (the log decided it is a torn tail) and returns the repair.
   * The indexes already end there (rebuildSync).
   */
  cutDamagedTailSync(): string {
    const damage = this.damage;
    assert(damage !== null, 'only a damaged segment is cut');
    const droppedBytes = this.sizeBytes - damage.position;
    fs.ftruncateSync(this.fd, damage.position);
    this.sizeBytes = damage.position;
    this.damage = null;
    return `${this.logFile}: ${damage.problem} at position ${damage.position}; truncated ${droppedBytes} bytes, log end offset now ${this.nextOffset}`;
  }

  /** Index bookkeeping shared by append, tail scan and recovery. */
  private noteBatch(baseOffset: number, lastOffset: number, maxTimestampMs: number, sizeBytes: number, position: number, indexIt: boolean): void {
    if (indexIt && this.bytesSinceIndexEntry > this.options.indexIntervalBytes) {
      this.offsetIndex.append(baseOffset, position);
      this.timeIndex.append(this.maxTimestampMs, baseOffset);
      this.bytesSinceIndexEntry = 0;
    }
    if (maxTimestampMs > this.maxTimestampMs) this.maxTimestampMs = maxTimestampMs;
    this.bytesSinceIndexEntry += sizeBytes;
    this.nextOffset = lastOffset + 1;
  }

  /**
   * Appends one validated batch whose offsets are already stamped. The caller holds the log's
   * append path (it is synchronous, so no other append interleaves).
   */
  appendLocked(batch: Buffer, baseOffset: number, lastOffset: number, maxTimestampMs: number): void {
    if (this.failure !== null) throw this.failure;
    assert(baseOffset >= this.nextOffset, `append at ${baseOffset} below segment end ${this.nextOffset}`);
    const position = this.sizeBytes;
    try {
      writeFullySync(this.fd, batch, position);
    } catch (err) {
      this.failure = storageError(err, `append to ${this.logFile}`);
      this.cutAfterFailedWrite(position);
      throw this.failure;
    }
    this.sizeBytes = position + batch.length;
    this.noteBatch(baseOffset, lastOffset, maxTimestampMs, batch.length, position, true);
  }

  /** After a failed write the file may hold part of the batch: cut it back, best effort. */
  private cutAfterFailedWrite(position: number): void {
    try {
      fs.ftruncateSync(this.fd, position);
    } catch {
      // The failure is already sticky; recovery at the next open cuts any partial batch.
    }
  }

  /** Marks the segment failed after an fsync error (its durable state is unknown). */
  fail(err: RunnelError): void {
    this.failure ??= err;
  }

  /**
   * Reads whole batches starting with the one that holds `offset`, up to `maxBytes` (always at
   * least one batch, so a consumer can make progress past a large batch), from bytes below
   * `maxPosition`. Returns null when no batch at or after `offset` is below `maxPosition`.
   */
  async read(offset: number, maxBytes: number, maxPosition = this.sizeBytes): Promise<SegmentReadResult | null> {
    if (offset >= this.nextOffset) return null;
    const found = await this.locate(offset, maxPosition, maxBytes);
    if (found === null) return null;
    const { chunk, chunkStart, batch } = found;
    let at = batch.position - chunkStart;
    if (at + batch.sizeBytes > chunk.length) {
      // locate checked that the batch ends within maxPosition, so this allocates at most the
      // segment's size, never what a damaged length field claims.
      const whole = await readAt(this.fd, batch.position, batch.sizeBytes);
      if (whole.length < batch.sizeBytes) throw this.damaged(batch.position, `batch of ${batch.sizeBytes} bytes, file ends after ${whole.length}`);
      return { bytes: whole, firstOffset: batch.baseOffset, nextOffset: batch.lastOffset + 1 };
    }
    const start = at;
    let nextOffset = batch.lastOffset + 1;
    at += batch.sizeBytes;
    while (at + BATCH_HEADER_BYTES <= chunk.length) {
      const size = readBatchSize(chunk, at);
      // A damaged header ends this read; the next one, which starts at it, reports it.
      if (this.headerProblem(chunk, at, chunkStart + at, nextOffset, maxPosition) !== null) break;
      if (at + size > chunk.length || at + size - start > maxBytes) break;
      nextOffset = readBaseOffset(chunk, at) + readLastOffsetDelta(chunk, at) + 1;
      at += size;
    }
    return { bytes: chunk.subarray(start, at), firstOffset: batch.baseOffset, nextOffset };
  }

  /**
   * What is wrong with the batch header at `chunk[at]` (file position `position`), or null.
   * Every walk over batch lengths checks this, so it always moves forward and stays inside
   * the segment: the length covers at least a header and ends by `maxPosition`, and the
   * offsets follow `minOffset` and stay below the segment's end offset.
   */
  private headerProblem(chunk: Buffer, at: number, position: number, minOffset: number, maxPosition: number): string | null {
    const sizeBytes = readBatchSize(chunk, at);
    if (sizeBytes < BATCH_HEADER_BYTES || position + sizeBytes > maxPosition) return `batch length ${sizeBytes} (${maxPosition - position} bytes left in the segment)`;
    const baseOffset = readBaseOffset(chunk, at);
    const lastOffset = baseOffset + readLastOffsetDelta(chunk, at);
    if (baseOffset < minOffset || lastOffset < baseOffset || lastOffset >= this.nextOffset) return `batch offsets ${baseOffset}..${lastOffset} out of order`;
    return null;
  }

  private damaged(position: number, problem: string): RunnelError {
    return new RunnelError('STORAGE_ERROR', `damaged segment: ${problem} at ${this.logFile}:${position}`);
  }

  /**
   * Finds the batch holding `offset` (or the first batch after it). Reads once from the index
   * floor position a chunk large enough for the scan and the caller's data, so a sequential
   * reader costs one read per call.
   */
  private async locate(offset: number, maxPosition: number, maxBytes: number, mayRebuild = true): Promise<Located | null> {
    let { offset: expected, position } = this.offsetIndex.lookup(offset);
    let fromIndex = position > 0 && mayRebuild;
    let minOffset = position > 0 ? expected : this.baseOffset;
    const want = Math.max(maxBytes, BATCH_HEADER_BYTES) + this.options.indexIntervalBytes + LOCATE_SLACK_BYTES;
    while (position < maxPosition) {
      const chunk = await readAt(this.fd, position, Math.min(want, maxPosition - position));
      let at = 0;
      while (at + OFFSETS_HEADER_BYTES <= chunk.length) {
        const baseOffset = readBaseOffset(chunk, at);
        if (fromIndex && at === 0 && baseOffset !== expected) return this.locateAfterIndexRebuild(offset, maxPosition, maxBytes);
        const problem = this.headerProblem(chunk, at, position + at, minOffset, maxPosition);
        if (problem !== null) throw this.damaged(position + at, problem);
        const sizeBytes = readBatchSize(chunk, at);
        const lastOffset = baseOffset + readLastOffsetDelta(chunk, at);
        if (lastOffset >= offset) {
          const maxTimestampMs = at + BATCH_HEADER_BYTES <= chunk.length ? readMaxTimestamp(chunk, at) : -1;
          return { chunk, chunkStart: position, batch: { baseOffset, lastOffset, position: position + at, sizeBytes, maxTimestampMs } };
        }
        minOffset = lastOffset + 1;
        at += sizeBytes;
      }
      if (at === 0) break; // a partial header at the end of the readable range
      position += at;
      fromIndex = false;
      expected = -1;
    }
    return null;
  }

  /**
   * Rebuilds both indexes from the log for a read that found them wrong. A rebuild that stops
   * at a damaged batch keeps the segment's extent (end offset, max timestamp): the batches
   * after the damage still exist, so reads of them must meet the damage (STORAGE_ERROR), not
   * fall through to the next segment as if this one ended there.
   */
  private rebuildIndexesSync(): void {
    const { nextOffset, maxTimestampMs } = this;
    if (this.rebuildSync() === null) return;
    this.nextOffset = Math.max(this.nextOffset, nextOffset);
    this.maxTimestampMs = Math.max(this.maxTimestampMs, maxTimestampMs);
  }

  /** A read found an index entry that does not match the log: rebuild the indexes, then retry. */
  private async locateAfterIndexRebuild(offset: number, maxPosition: number, maxBytes: number): Promise<Located | null> {
    this.rebuildIndexesSync();
    return this.locate(offset, maxPosition, maxBytes, false);
  }

  /**
   * First batch whose maxTimestamp >= `timestampMs`, using the time index to skip ahead;
   * null when every batch in the segment is older.
   */
  async findByTimestamp(timestampMs: number, fromOffset = this.baseOffset): Promise<{ batch: Buffer; baseOffset: number } | null> {
    if (this.maxTimestampMs < timestampMs) return null;
    let entry = this.timeIndex.lookupBefore(timestampMs);
    if (entry >= 0 && !this.verifyTimeEntrySync(entry)) {
      // A damaged entry could skip records: rebuild both indexes from the log, then look again.
      this.rebuildIndexesSync();
      entry = this.timeIndex.lookupBefore(timestampMs);
    }
    let offset = Math.max(entry >= 0 ? this.timeIndex.entry(entry).offset : this.baseOffset, fromOffset);
    while (offset < this.nextOffset) {
      const found = await this.read(offset, 0);
      if (found === null) return null;
      if (readMaxTimestamp(found.bytes) >= timestampMs) return { batch: found.bytes, baseOffset: found.firstOffset };
      offset = found.nextOffset;
    }
    return null;
  }

  /** Iterates every batch of the segment (compaction, tests): whole buffers in offset order. */
  async *batches(chunkBytes = SCAN_CHUNK_BYTES): AsyncGenerator<Buffer> {
    let offset = this.baseOffset;
    const end = this.sizeBytes;
    while (offset < this.nextOffset) {
      const found = await this.read(offset, chunkBytes, end);
      if (found === null) return;
      for (let at = 0; at < found.bytes.length; at += readBatchSize(found.bytes, at)) {
        yield found.bytes.subarray(at, at + readBatchSize(found.bytes, at));
      }
      offset = found.nextOffset;
    }
  }

  /** Byte position of the batch holding `offset` (or the first after it); the size when none. */
  async positionOf(offset: number): Promise<number> {
    if (offset >= this.nextOffset) return this.sizeBytes;
    const found = await this.locate(offset, this.sizeBytes, 0);
    return found === null ? this.sizeBytes : found.batch.position;
  }

  /**
   * Cuts the segment at `position`, a batch boundary from `positionOf` (whole batches only, as
   * Kafka truncates). Rebuilds the bookkeeping from what is left.
   */
  cutAtSync(position: number): void {
    if (position >= this.sizeBytes) return;
    fs.ftruncateSync(this.fd, position);
    this.sizeBytes = position;
    this.rebuildSync();
  }

  /** Writes index entries not yet on disk; with fsync, makes them durable. */
  persistIndexesSync(fsync: boolean): void {
    this.offsetIndex.persistSync({ fsync });
    this.timeIndex.persistSync({ fsync });
  }

  /** Readers in flight keep the file open after the segment leaves its log (retention, compaction). */
  acquire(): void {
    this.readers++;
  }

  release(): void {
    this.readers--;
    if (this.readers === 0 && this.retired !== null) this.retired();
  }

  /**
   * Closes the file once no reader uses it; with deleteFiles, removes the segment's files. The
   * files are renamed to `*.deleted` at once and only those renamed paths are removed later:
   * by then a new segment may have this base offset (after `truncateTo`), and its files must
   * survive the deferred delete.
   */
  retire(deleteFiles: boolean): void {
    const doomed = deleteFiles ? this.renameForDeletionSync() : [];
    const finish = (): void => {
      this.closeSync();
      for (const file of doomed) fs.rmSync(file, { force: true });
    };
    if (this.readers === 0) finish();
    else this.retired = finish;
  }

  /** Renames the segment's files to `*.deleted`; returns the new paths (an index may not exist yet). */
  private renameForDeletionSync(): string[] {
    // Renamed first, so a crash before the unlink cannot leave a stale segment in the log.
    const renamed: string[] = [];
    for (const file of [this.logFile, this.offsetIndex.file, this.timeIndex.file, this.compactedMarkerFile]) {
      try {
        fs.renameSync(file, `${file}.deleted`);
        renamed.push(`${file}.deleted`);
      } catch {
        // an index file (or the compacted marker) may not exist
      }
    }
    return renamed;
  }

  closeSync(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}
