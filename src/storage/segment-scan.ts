/**
 * A read-only walk over the batches of one segment file, for the ops tools (`runnel debug
 * dump-log`, `runnel debug verify`). It opens nothing for writing and repairs nothing: where
 * recovery (Segment.recoverSync) cuts, this reports.
 *
 * Each batch is checked as recovery checks it (checkBatchStructure: length, magic, CRC, codec,
 * the record walk). A batch whose CRC or records are bad still has a length field that was
 * plausible, so the walk goes on after it, as Kafka's kafka-dump-log does; a bad magic byte, a
 * length shorter than a header or one that runs past the end of the file means the position is
 * no longer known to be a batch boundary, so the walk ends there with that problem.
 *
 * Reads go through one window of SCAN_WINDOW_BYTES, so a segment of small batches costs a few
 * reads per window, not two per batch; a single batch is never read beyond
 * SCAN_BATCH_BYTES_MAX, so a corrupt length cannot make a tool allocate gigabytes.
 */
import fs from 'node:fs';
import { BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES, CURRENT_MAGIC, Pos, readBatchHeader, readBatchSize, type BatchHeader } from '../format/batch-header.js';
import { checkBatchStructure } from '../format/record-walk.js';
import { readAtSync } from './file-io.js';

const SCAN_WINDOW_BYTES = 8 * 1024 * 1024;
/** Above the largest batch a segment can hold by default config (maxBatchBytes is 1 MiB + 12). */
export const SCAN_BATCH_BYTES_MAX = 256 * 1024 * 1024;

export interface ScannedBatch {
  position: number;
  header: BatchHeader;
  /** Exactly the batch's bytes (a view into the read window: copy to keep it). */
  bytes: Buffer;
  /** What checkBatchStructure found wrong (e.g. `crc-mismatch`, `records: ...`), null when sound. */
  problem: string | null;
}

/** How the walk ended: at the end of the file, or at a position it could not read a batch from. */
export interface ScanEnd {
  position: number;
  problem: string | null;
}

/**
 * Walks the batches of the segment file `file` (opened read-only). `denseOffsets` as in
 * checkBatch: false for compacted logs, whose batches may hold fewer records than offsets.
 */
export function* scanSegmentFileSync(file: string, options: { denseOffsets: boolean }): Generator<ScannedBatch, ScanEnd> {
  const fd = fs.openSync(file, 'r');
  try {
    const sizeBytes = fs.fstatSync(fd).size;
    const window = new ReadWindow(fd, sizeBytes);
    let position = 0;
    while (position < sizeBytes) {
      const left = sizeBytes - position;
      if (left < BATCH_LENGTH_PREFIX_BYTES) return { position, problem: `partial batch: the file ends ${left} bytes after the last whole batch` };
      const size = readBatchSize(window.at(position, BATCH_LENGTH_PREFIX_BYTES), 0);
      if (size < BATCH_HEADER_BYTES) return { position, problem: `bad batch length ${size}, shorter than a batch header; the rest of the file cannot be read` };
      if (size > left) return { position, problem: `partial batch: its length says ${size} bytes, the file holds ${left} more` };
      if (size > SCAN_BATCH_BYTES_MAX) return { position, problem: `batch length ${size} is above this tool's limit of ${SCAN_BATCH_BYTES_MAX} bytes` };
      const bytes = window.at(position, size);
      const magic = bytes.readInt8(Pos.magic);
      if (magic !== CURRENT_MAGIC) return { position, problem: `magic byte ${magic}, not ${CURRENT_MAGIC}: not a batch boundary; the rest of the file cannot be read` };
      const checked = checkBatchStructure(bytes, 0, bytes.length, options);
      yield { position, header: readBatchHeader(bytes), bytes, problem: 'problem' in checked ? checked.problem : null };
      position += size;
    }
    return { position, problem: null };
  } finally {
    fs.closeSync(fd);
  }
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
