/**
 * A batch that passed the checks an append requires: size limit, length, magic, CRC-32C,
 * codec, record count, no trailing bytes, and the record walk (record-walk.ts: the records are
 * what the header claims). Only `CheckedBatch.check` makes one (the constructor is private), so
 * a caller that validated a batch once (the broker's produce path, which must answer per batch
 * anyway) hands the log proof of it and the work is not done twice: at 4 GB/s for
 * @node-rs/crc32's CRC-32C, the check costs about as much as the write itself.
 *
 * These are the structural checks, the same wherever bytes enter a log. Policy (timestamps,
 * producer sequences) is the broker's, on produce only.
 */
import { RunnelError, isRunnelError, type ErrorContext } from '../common/errors.js';
import { checkBatch, readLastOffsetDelta, readMaxTimestamp, rewriteMaxTimestamp } from '../format/batch-header.js';
import { walkRecords, type RecordsSummary } from '../format/record-walk.js';

export class CheckedBatch {
  private constructor(
    readonly bytes: Buffer,
    readonly lastOffsetDelta: number,
    readonly maxTimestampMs: number,
    /** What the record walk found: the records' own timestamps. */
    readonly records: RecordsSummary,
  ) {}

  /** Throws BATCH_TOO_LARGE or CORRUPT_BATCH (with `context.reason`). */
  static check(batch: Buffer, maxBatchBytes: number, context: ErrorContext = {}): CheckedBatch {
    if (batch.length > maxBatchBytes) {
      throw new RunnelError('BATCH_TOO_LARGE', `batch of ${batch.length} bytes exceeds maxBatchBytes ${maxBatchBytes}`, context);
    }
    const checked = checkBatch(batch, 0, batch.length);
    if ('problem' in checked) throw new RunnelError('CORRUPT_BATCH', checked.problem, { ...context, reason: checked.problem });
    if (checked.sizeBytes !== batch.length) {
      throw new RunnelError('CORRUPT_BATCH', `batch declares ${checked.sizeBytes} bytes but ${batch.length} were sent`, {
        ...context,
        reason: 'length-mismatch',
      });
    }
    let records: RecordsSummary;
    try {
      records = walkRecords(batch);
    } catch (err) {
      throw isRunnelError(err) ? err.withContext(context) : err;
    }
    return new CheckedBatch(batch, readLastOffsetDelta(batch), readMaxTimestamp(batch), records);
  }

  /**
   * The same batch with its maxTimestamp and timestamp type rewritten (and its CRC recomputed),
   * in place: LogAppendTime stamping, or a maxTimestamp corrected to the records'. Still checked:
   * only header fields outside the records change.
   */
  withMaxTimestamp(maxTimestampMs: number, logAppendTime: boolean): CheckedBatch {
    rewriteMaxTimestamp(this.bytes, maxTimestampMs, logAppendTime);
    return new CheckedBatch(this.bytes, this.lastOffsetDelta, maxTimestampMs, this.records);
  }
}
