/**
 * A read-only walk over the batches of one segment file, for the ops tools (`runnel debug
 * dump-log`, `runnel debug verify`). It opens nothing for writing and repairs nothing: where
 * recovery (Segment.recoverSync) cuts, this reports.
 *
 * Each batch is checked by the very function recovery and the scrub use (checkStoredBatch:
 * length, magic, CRC, codec, the record walk, and its base offset after the previous batch), so
 * the tools and the broker can never disagree about a batch. A batch whose CRC, records or
 * offsets are bad still has a length field that was plausible, so the walk goes on after it, as
 * Kafka's kafka-dump-log does; a bad magic byte, a length shorter than a header or one that runs
 * past the end of the file means the position is no longer known to be a batch boundary, so the
 * walk ends there with that problem.
 *
 * Reads go through one window of SCAN_WINDOW_BYTES, so a segment of small batches costs a few
 * reads per window, not two per batch; a single batch is never read beyond
 * SCAN_BATCH_BYTES_MAX, so a corrupt length cannot make a tool allocate gigabytes.
 */
import fs from 'node:fs';
import { BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES, CURRENT_MAGIC, Pos, readBatchHeader, readBatchSize, type BatchHeader } from '../format/batch-header.js';
import { readAtSync } from './file-io.js';
import { checkStoredBatch } from './segment.js';

const SCAN_WINDOW_BYTES = 8 * 1024 * 1024;
/** Above the largest batch a segment can hold by default config (maxBatchBytes is 1 MiB + 12). */
export const SCAN_BATCH_BYTES_MAX = 256 * 1024 * 1024;

export interface ScannedBatch {
  position: number;
  header: BatchHeader;
  /** Exactly the batch's bytes (a view into the read window: copy to keep it). */
  bytes: Buffer;
  /** What checkStoredBatch found wrong (e.g. `crc-mismatch`, `records: ...`, `base offset ...`), null when sound. */
  problem: string | null;
}

/** How the walk ended: at the end of the file, or at a position it could not read a batch from. */
export interface ScanEnd {
  position: number;
  problem: string | null;
  /** The offset after the last batch walked (the segment's end offset as far as it could be read). */
  nextOffset: number;
}

/**
 * Walks the batches of the segment file `file` (opened read-only). `baseOffset` is the segment's
 * (its first batch must start there when `denseOffsets`); `denseOffsets` as in checkBatch: false
 * for compacted segments, whose batches may hold fewer records than offsets and skip offsets.
 */
export function* scanSegmentFileSync(file: string, options: { denseOffsets: boolean; baseOffset: number }): Generator<ScannedBatch, ScanEnd> {
  const fd = fs.openSync(file, 'r');
  try {
    const sizeBytes = fs.fstatSync(fd).size;
    const window = new ReadWindow(fd, sizeBytes);
    let position = 0;
    let nextOffset = options.baseOffset;
    while (position < sizeBytes) {
      const left = sizeBytes - position;
      const declared = left >= BATCH_LENGTH_PREFIX_BYTES ? readBatchSize(window.at(position, BATCH_LENGTH_PREFIX_BYTES), 0) : 0;
      if (declared <= left && declared > SCAN_BATCH_BYTES_MAX) return { position, nextOffset, problem: `batch length ${declared} is above this tool's limit of ${SCAN_BATCH_BYTES_MAX} bytes` };
      // A length past the end of the file is not read (it could claim gigabytes): a header is enough to say what is wrong.
      const bytes = window.at(position, Math.min(left, declared > left ? BATCH_HEADER_BYTES : Math.max(declared, BATCH_HEADER_BYTES)));
      const checked = checkStoredBatch(bytes, 0, bytes.length, nextOffset, options.denseOffsets);
      const problem = 'problem' in checked ? checked.problem : null;
      if (checked.sizeBytes === undefined || checked.sizeBytes > bytes.length) return { position, nextOffset, problem: noBoundary(problem, bytes, declared, left) };
      const header = readBatchHeader(bytes);
      yield { position, header, bytes, problem };
      nextOffset = Math.max(nextOffset, header.baseOffset + header.lastOffsetDelta + 1);
      position += checked.sizeBytes;
    }
    return { position, nextOffset, problem: null };
  } finally {
    fs.closeSync(fd);
  }
}

/** Why the walk cannot go on at a position (checkBatch's verdict, said for an operator). */
function noBoundary(problem: string | null, bytes: Buffer, declared: number, left: number): string {
  if (left < BATCH_LENGTH_PREFIX_BYTES) return `partial batch: the file ends ${left} bytes after the last whole batch`;
  if (problem === 'length-mismatch') return `bad batch length ${declared}, shorter than a batch header; the rest of the file cannot be read`;
  if (problem === 'bad-magic') return `magic byte ${bytes.readInt8(Pos.magic)}, not ${CURRENT_MAGIC}: not a batch boundary; the rest of the file cannot be read`;
  return `partial batch: its length says ${declared} bytes, the file holds ${left} more`;
}

/** One reused read buffer over a file; `at` returns a view of [position, position + length). */
class ReadWindow {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly fd: number,
    private readonly sizeBytes: number,
  ) {}

  at(position: number, length: number): Buffer {
    const offset = position - this.start;
    if (offset < 0 || offset + length > this.buf.length) {
      this.start = position;
      this.buf = readAtSync(this.fd, position, Math.min(this.sizeBytes - position, Math.max(length, SCAN_WINDOW_BYTES)));
      return this.buf.subarray(0, length);
    }
    return this.buf.subarray(offset, offset + length);
  }
}
