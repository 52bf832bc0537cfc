/**
 * Log compaction for `cleanupPolicy: compact` (the offsets topic needs it): in the sealed
 * segments, keep only the newest record of each key; drop tombstones (null value) once their
 * batch is older than `deleteRetentionMs`. Records without a key are kept. Offsets never change:
 * a rewritten batch keeps its base offset and lastOffsetDelta, and kept records keep their
 * offset deltas and timestamps, so consumers and committed offsets stay valid.
 *
 * Each segment is rewritten on its own into `<base>.log.cleaned`, fsync'd, renamed to `.swap`,
 * then over the `.log` (the log's open() finishes a swap interrupted by a crash). The active
 * segment is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { decodeRecordBatch, encodeEmptyBatch, encodeRecordBatch, type DecodedBatch } from '../format/record-batch.js';
import { fsyncDirSync, writeFullySync } from './file-io.js';
import type { PartitionLog } from './partition-log.js';
import { CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX, Segment, TIME_INDEX_SUFFIX, segmentFileName } from './segment.js';

export interface CompactionOptions {
  nowMs: number;
  /** Bound on the key map: beyond it, only the segments already mapped are compacted this round. */
  maxKeys?: number;
  logger?: Logger;
}

export interface CompactionResult {
  topic: string;
  partition: number;
  segmentsRewritten: number;
  recordsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

const MAX_KEYS_DEFAULT = 1_000_000;

export async function compactLog(log: PartitionLog, options: CompactionOptions): Promise<CompactionResult> {
  const result: CompactionResult = { topic: log.topic, partition: log.partition, segmentsRewritten: 0, recordsRemoved: 0, bytesBefore: 0, bytesAfter: 0 };
  // Sealed segments must be fsync'd (with their indexes) before their files are replaced.
  await log.flush();
  const sealed = log.closedSegments();
  const map = await newestOffsetPerKey(sealed, options.maxKeys ?? MAX_KEYS_DEFAULT);
  const tombstoneHorizonMs = options.nowMs - log.config.deleteRetentionMs;
  for (const segment of sealed.slice(0, map.mappedSegments)) {
    const rewritten = await rewriteSegment(log, segment, map, tombstoneHorizonMs);
    if (rewritten === null) continue;
    result.segmentsRewritten++;
    result.recordsRemoved += rewritten.recordsRemoved;
    result.bytesBefore += rewritten.bytesBefore;
    result.bytesAfter += rewritten.bytesAfter;
  }
  if (result.segmentsRewritten > 0) (options.logger ?? silentLogger).info(result, 'compacted log');
  return result;
}

/** Decoded batches of a segment, pinned against deletion while iterated. */
async function* decodedBatches(segment: Segment): AsyncGenerator<{ bytes: Buffer; batch: DecodedBatch }> {
  segment.acquire();
  try {
    for await (const bytes of segment.batches()) yield { bytes, batch: decodeRecordBatch(bytes) };
  } finally {
    segment.release();
  }
}

/** Keys as latin1 strings: one char per byte, so distinct byte strings stay distinct. */
function keyOf(key: Buffer): string {
  return key.toString('latin1');
}

/** What the first pass learns: each key's newest offset, and each producer's newest batch. */
interface CompactionMap {
  latest: Map<string, number>;
  /** Base offset of the newest batch of each idempotent producer in the mapped segments. */
  lastBatchOfProducer: Map<number, number>;
  mappedSegments: number;
}

async function newestOffsetPerKey(segments: readonly Segment[], maxKeys: number): Promise<CompactionMap> {
  const latest = new Map<string, number>();
  const lastBatchOfProducer = new Map<number, number>();
  let mappedSegments = 0;
  for (const segment of segments) {
    for await (const { batch } of decodedBatches(segment)) {
      if (batch.producerId >= 0) lastBatchOfProducer.set(batch.producerId, batch.baseOffset);
      if (batch.control) continue;
      for (const record of batch.records) if (record.key !== null) latest.set(keyOf(record.key), record.offset);
    }
    mappedSegments++;
    if (latest.size >= maxKeys) break;
  }
  return { latest, lastBatchOfProducer, mappedSegments };
}

interface Rewrite {
  recordsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

async function rewriteSegment(log: PartitionLog, segment: Segment, map: CompactionMap, tombstoneHorizonMs: number): Promise<Rewrite | null> {
  const { latest, lastBatchOfProducer } = map;
  const cleanedFile = path.join(log.dir, segmentFileName(segment.baseOffset, LOG_SUFFIX + CLEANED_SUFFIX));
  const fd = fs.openSync(cleanedFile, 'w');
  let position = 0;
  let recordsRemoved = 0;
  try {
    for await (const { bytes, batch } of decodedBatches(segment)) {
      const kept = batch.control ? batch.records : batch.records.filter((r) => keep(r, batch, latest, tombstoneHorizonMs));
      recordsRemoved += batch.records.length - kept.length;
      const out = kept.length > 0 ? (kept.length === batch.records.length ? bytes : reencode(batch, kept)) : emptied(bytes, batch, lastBatchOfProducer);
      if (out === null) continue;
      writeFullySync(fd, out, position);
      position += out.length;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (recordsRemoved === 0) {
    fs.rmSync(cleanedFile, { force: true });
    return null;
  }
  return swapIn(log, segment, cleanedFile) ? { recordsRemoved, bytesBefore: segment.sizeBytes, bytesAfter: position } : null;
}

/**
 * A batch all of whose records go: kept as an empty batch (header only) while it is its
 * idempotent producer's newest, so the producer's last sequence survives compaction (Kafka's
 * rule; producer state is rebuilt from batch headers); dropped otherwise.
 */
function emptied(bytes: Buffer, batch: DecodedBatch, lastBatchOfProducer: Map<number, number>): Buffer | null {
  if (batch.producerId < 0 || lastBatchOfProducer.get(batch.producerId) !== batch.baseOffset) return null;
  return batch.records.length === 0 ? bytes : encodeEmptyBatch(batch);
}

function keep(record: DecodedBatch['records'][number], batch: DecodedBatch, latest: Map<string, number>, tombstoneHorizonMs: number): boolean {
  if (record.key === null) return true;
  if (latest.get(keyOf(record.key)) !== record.offset) return false;
  return record.value !== null || batch.maxTimestampMs > tombstoneHorizonMs;
}

function reencode(batch: DecodedBatch, kept: DecodedBatch['records']): Buffer {
  return encodeRecordBatch({
    baseOffset: batch.baseOffset,
    lastOffsetDelta: batch.lastOffsetDelta,
    codec: batch.codec,
    partitionLeaderEpoch: batch.partitionLeaderEpoch,
    producerId: batch.producerId,
    producerEpoch: batch.producerEpoch,
    baseSequence: batch.baseSequence,
    transactional: batch.transactional,
    logAppendTime: batch.logAppendTime,
    records: kept.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestampMs: r.timestampMs, offsetDelta: r.offset - batch.baseOffset })),
  });
}

/**
 * Records, durably and before the rewritten file can replace the `.log`, that the segment may
 * skip offsets from now on: a log switched to `delete` later must still recover it with the
 * rules of compacted data, not truncate it at its first gap.
 */
function markCompactedSync(segment: Segment): void {
  if (segment.markCompactedSync()) fsyncDirSync(segment.dir);
}

/**
 * Replaces the segment's file with the cleaned one and swaps the Segment object in the log.
 * Synchronous from the check to the swap, so the log cannot change in between; returns false
 * (and discards the cleaned file) when the segment left the log meanwhile.
 */
function swapIn(log: PartitionLog, old: Segment, cleanedFile: string): boolean {
  if (!log.closedSegments().includes(old)) {
    fs.rmSync(cleanedFile, { force: true });
    return false;
  }
  markCompactedSync(old);
  const swapFile = `${old.logFile}${SWAP_SUFFIX}`;
  fs.renameSync(cleanedFile, swapFile);
  // The old indexes describe the old file: removed before the swap so a crash cannot pair them.
  fs.rmSync(path.join(log.dir, segmentFileName(old.baseOffset, INDEX_SUFFIX)), { force: true });
  fs.rmSync(path.join(log.dir, segmentFileName(old.baseOffset, TIME_INDEX_SUFFIX)), { force: true });
  fsyncDirSync(log.dir);
  fs.renameSync(swapFile, old.logFile);
  fsyncDirSync(log.dir);
  const { segment } = Segment.openSync(log.dir, old.baseOffset, { indexIntervalBytes: log.config.indexIntervalBytes, denseOffsets: false }, true);
  segment.persistIndexesSync(true);
  log.replaceSegmentSync(old, segment);
  return true;
}
