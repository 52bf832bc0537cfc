/**
 * The background scrub: re-reads every sealed segment of every online log and re-checks each
 * batch as recovery does (length, magic, CRC, codec, the record walk, offset order:
 * checkStoredBatch), because sealed segments below the recovery point are never re-validated at
 * open and bit rot there would otherwise be served until a consumer trips over it. A damaged
 * segment takes its partition offline (PartitionLog.quarantineSync: every byte kept,
 * STORAGE_ERROR, logged, marked for the next start).
 *
 * Bounded and off the critical path: reads are asynchronous, in chunks of at most
 * SCRUB_CHUNK_BYTES (or one batch, when a batch is larger), and paced by a token bucket of one
 * chunk, so that over any span the bytes read never exceed `bytesPerSecond` times the span plus
 * one chunk and the read in flight. A pass
 * starts at most every `intervalMs`. Each chunk pins its segment only while it is read, so
 * retention and compaction are never held up for a whole segment; a segment that left its log
 * meanwhile is skipped.
 */
import { performance } from 'node:perf_hooks';
import { BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES, readBatchSize } from '../format/batch-header.js';
import type { Logger } from '../common/logger.js';
import { readAt } from './file-io.js';
import type { PartitionLog } from './partition-log.js';
import { checkStoredBatch, type Segment } from './segment.js';

/** Bytes read per step (and so the burst above the configured rate). */
export const SCRUB_CHUNK_BYTES = 256 * 1024;

export interface ScrubOptions {
  /** Read rate bound; must be > 0 (the log manager does not start a scrub for 0). */
  bytesPerSecond: number;
  /** Minimum time between the starts of two passes over all logs. */
  intervalMs: number;
  /** Bytes per read; SCRUB_CHUNK_BYTES by default (tests use small ones). */
  chunkBytes?: number;
  logs: () => PartitionLog[];
  logger: Logger;
}

export class Scrubber {
  /** Bytes re-checked since start (metrics). */
  bytesScrubbed = 0;
  /** Damaged segments found (metrics). */
  damagedSegments = 0;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly done: Promise<void>;
  /** Token bucket of the rate bound: bytes that may be read now (negative: debt), capped at one chunk. */
  private tokens = 0;
  private tokensAtMs = performance.now();

  constructor(private readonly options: ScrubOptions) {
    this.done = this.run();
  }

  /** Stops after the current chunk; resolves once no read is in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.wakeUp?.();
    await this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const startedMs = performance.now();
      try {
        await this.pass();
      } catch (err) {
        this.options.logger.error({ err }, 'scrub pass failed');
      }
      await this.sleep(Math.max(0, this.options.intervalMs - (performance.now() - startedMs)));
    }
  }

  private async pass(): Promise<void> {
    for (const log of this.options.logs()) {
      for (const segment of log.closedSegments()) {
        if (this.stopping || !scrubbable(log)) break;
        await this.scrubSegment(log, segment);
      }
    }
  }

  /** Walks one sealed segment batch by batch; quarantines it at the first bad batch. */
  private async scrubSegment(log: PartitionLog, segment: Segment): Promise<void> {
    let position = 0;
    let expectedOffset = segment.baseOffset;
    while (!this.stopping && position < segment.sizeBytes) {
      const chunk = await this.readChunk(log, segment, position);
      // null: the segment left the log (retention, compaction, truncation); empty: the file shrank under it.
      if (chunk === null || chunk.length === 0) return;
      let at = 0;
      while (at < chunk.length) {
        // A batch that does not fit this chunk is read whole with the next one (unless the file ends here).
        const whole = chunk.length - at >= BATCH_LENGTH_PREFIX_BYTES && at + readBatchSize(chunk, at) <= chunk.length;
        if (!whole && at > 0 && position + chunk.length < segment.sizeBytes) break;
        const checked = checkStoredBatch(chunk, at, chunk.length, expectedOffset, segment.denseOffsets);
        if ('problem' in checked) {
          this.quarantine(log, segment, { position: position + at, offset: expectedOffset, problem: checked.problem });
          return;
        }
        expectedOffset = checked.lastOffset + 1;
        at += checked.sizeBytes;
      }
      position += at;
      this.bytesScrubbed += at;
      // Paced by the bytes read, not checked: a batch cut at the chunk's end is read twice.
      await this.pace(chunk.length);
    }
  }

  /** Reads from `position`: a chunk, or the whole batch there when it is larger; null when the segment is gone. */
  private async readChunk(log: PartitionLog, segment: Segment, position: number): Promise<Buffer | null> {
    if (!scrubbable(log) || !log.closedSegments().includes(segment)) return null;
    segment.acquire();
    try {
      const left = segment.sizeBytes - position;
      const head = await readAt(segment.fileDescriptor, position, Math.min(left, this.options.chunkBytes ?? SCRUB_CHUNK_BYTES));
      if (head.length < BATCH_LENGTH_PREFIX_BYTES || readBatchSize(head) <= head.length) return head;
      // One batch larger than a chunk: read it whole (bounded by the file) so its CRC can be checked.
      return await readAt(segment.fileDescriptor, position, Math.min(left, Math.max(readBatchSize(head), BATCH_HEADER_BYTES)));
    } finally {
      segment.release();
    }
  }

  private quarantine(log: PartitionLog, segment: Segment, damage: { position: number; offset: number; problem: string }): void {
    if (!scrubbable(log) || !log.closedSegments().includes(segment)) return;
    this.damagedSegments++;
    log.quarantineSync(segment, damage);
  }

  /**
   * Pays for `bytes` read and sleeps off any debt. The bucket holds at most one chunk, so idle
   * time (between passes) never buys a burst: over any span, bytes read <= rate x span + one
   * chunk + the read in flight.
   */
  private async pace(bytes: number): Promise<void> {
    const nowMs = performance.now();
    const { bytesPerSecond } = this.options;
    const capBytes = this.options.chunkBytes ?? SCRUB_CHUNK_BYTES;
    this.tokens = Math.min(capBytes, this.tokens + ((nowMs - this.tokensAtMs) * bytesPerSecond) / 1000) - bytes;
    this.tokensAtMs = nowMs;
    await this.sleep(this.tokens < 0 ? (-this.tokens * 1000) / bytesPerSecond : 0);
  }

  /** Waits `ms` (at least one turn of the event loop), or until stop(). */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.timer = setTimeout(resolve, ms);
      this.timer.unref();
    });
  }
}

function scrubbable(log: PartitionLog): boolean {
  return !log.isClosed && log.offline === null && log.failed === null;
}
