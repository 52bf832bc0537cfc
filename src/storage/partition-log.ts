/**
 * The log of one topic-partition: an ordered set of segments (by base offset), of which the last
 * is active (appended to). It stamps offsets on appended batches, rolls segments by size, time
 * and offset range, serves reads of whole stored batches, group-commits fsyncs for durable
 * appends (group-commit.ts owns the durable offset and the fsync rounds), and moves the log
 * start offset (retention, delete-records).
 *
 * Concurrency: appends, rolls and deletions are synchronous, so each is atomic on the event
 * loop; reads are asynchronous and pin the segment they read (`acquire`), so a segment deleted
 * by retention or replaced by compaction stays open until its last reader is done.
 *
 * A write or fsync error is sticky for the whole log: every later append fails with the same
 * typed error until the log is reopened (and recovered). Reads keep working, so what was
 * acknowledged before stays readable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunnelError, storageError } from '../common/errors.js';
import { assert } from '../common/assert.js';
import { systemClock, type Clock } from '../common/clock.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { writeBaseOffset } from '../format/batch-header.js';
import { CheckedBatch } from './checked-batch.js';
import { fsyncDirSync, mkdirDurableSync } from './file-io.js';
import { GroupCommit, type GroupCommitLog } from './group-commit.js';
import type { LogConfig } from './log-config.js';
import { DAMAGE_MARKER_FILE, readDamagedSegmentsSync, removeDamageMarkerSync, writeDamageMarkerSync } from './damage-marker.js';
import { writePartitionMetadataSync } from './partition-metadata.js';
import { CLEANED_SUFFIX, COMPACTED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX, Segment, TIME_INDEX_SUFFIX, segmentFileName, type SegmentDamage, type SegmentOptions } from './segment.js';

/** Relative offsets in the indexes are u32: a segment never spans more offsets than this. */
const SEGMENT_OFFSET_SPAN_MAX = 2 ** 32 - 1;
const EMPTY = Buffer.alloc(0);

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** Broker clock when the batch was appended. */
  logAppendTimeMs: number;
}

export interface LogReadResult {
  /** Whole stored batches, contiguous; empty when there is nothing at or after the offset. */
  bytes: Buffer;
  /** Base offset of the first returned batch (may be below the requested offset). */
  firstOffset: number;
  /** Offset to read next. */
  nextOffset: number;
  logStartOffset: number;
  logEndOffset: number;
}

export interface PartitionLogOptions {
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  /** Offsets below this were durable before the last stop (from the checkpoint); 0 if unknown. */
  recoveryPointOffset?: number;
  /** From the log-start checkpoint; the first segment's base when unknown. */
  logStartOffset?: number;
  /** True after an unclean shutdown: re-validate every segment from the recovery point. */
  recover?: boolean;
  /** The topic incarnation this log belongs to (its partition.metadata); null for a log from before that file. */
  topicId?: string | null;
  clock?: Clock;
  logger?: Logger;
}

export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  private topicIdValue: string | null;
  private configValue: LogConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private segments: Segment[] = [];
  private logStart = 0;
  /** The durable offset and the fsync rounds that move it (group-commit.ts). */
  private readonly commit: GroupCommit;
  private failure: RunnelError | null = null;
  /**
   * Set at open when offsets are missing between two segments (a lost segment file): appends,
   * and reads at or after the hole, fail with this error until the segment is restored.
   */
  private offlineError: RunnelError | null = null;
  private offlineFromOffset = Infinity;
  /** Offline since the open: nothing was appended, and the recovery point must not move (flush). */
  private offlineAtOpen = false;
  /** The damage marker's lines (damage-marker.ts), one per quarantined segment. */
  private damageLines: string[] = [];
  private closed = false;
  /** Rolls since the log was opened, so the cleaner knows when there is new work. */
  rollCount = 0;
  /**
   * Called after each sync round that moved the durable offset (the recovery point), with it:
   * the broker wakes readers of `durability: all` topics, which are served only below it.
   */
  onDurableAdvance: ((durableOffset: number) => void) | null = null;
  /**
   * Called after each roll with the new segment's base offset (the log end): the broker
   * snapshots its idempotent-producer state there, as Kafka does at every roll.
   */
  onRoll: ((baseOffset: number) => void) | null = null;

  private constructor(options: PartitionLogOptions) {
    this.topic = options.topic;
    this.partition = options.partition;
    this.dir = options.dir;
    this.topicIdValue = options.topicId ?? null;
    this.configValue = options.config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.commit = new GroupCommit(this.groupCommitView());
  }

  /** What the group commit sees of this log. */
  private groupCommitView(): GroupCommitLog {
    return {
      dir: this.dir,
      logEndOffset: () => this.logEndOffset,
      activeSegment: () => this.active,
      failed: () => this.failure,
      isClosed: () => this.closed,
      fail: (err) => {
        this.failure = storageError(err, 'fsync', this.context());
        this.active.fail(this.failure);
        return this.failure;
      },
      closedError: () => new RunnelError('LOG_CLOSED', undefined, this.context()),
      durableAdvanced: (offset) => this.onDurableAdvance?.(offset),
    };
  }

  /**
   * Opens (or creates) the log in `dir`. Never throws for damaged content: a torn tail is cut,
   * other damage takes the partition offline (keeping every byte), bad indexes are rebuilt, and
   * every repair is returned and logged. I/O errors do throw.
   */
  static openSync(options: PartitionLogOptions): { log: PartitionLog; repairs: string[] } {
    const log = new PartitionLog(options);
    mkdirDurableSync(options.dir);
    const repairs = log.loadSegmentsSync(options.recoveryPointOffset ?? 0, options.recover ?? false);
    const firstBase = log.segments[0]!.baseOffset;
    log.logStart = Math.min(Math.max(options.logStartOffset ?? firstBase, firstBase), log.logEndOffset);
    // A crash between moving the log start and deleting the segments below it leaves them here.
    // (A damaged segment's valid batches may end at its base: it is kept, never taken for one.)
    log.deleteOldestSegmentsWhile((segment) => segment.damage === null && segment.nextOffset <= log.logStart);
    // After a crash, what recovery kept may still be only in the page cache: durable is what the
    // checkpoint says, and the next flush covers the rest.
    log.commit.openedAt(options.recover === true ? Math.min(options.recoveryPointOffset ?? 0, log.logEndOffset) : log.logEndOffset);
    if (options.recover === true) log.markRecoveredUnsynced();
    // The broker did not record when the active segment got its first batch: its segmentMs timer
    // starts now (a restart delays a time-based roll by up to segmentMs, never forces one).
    if (!log.active.isEmpty) log.active.rollTimerStartMs = log.clock.nowMs();
    for (const repair of repairs) log.logger.warn({ topic: log.topic, partition: log.partition }, repair);
    log.offlineAtOpen = log.offlineError !== null;
    if (log.offlineError !== null) log.logger.error({ topic: log.topic, partition: log.partition }, log.offlineError.message);
    return { log, repairs };
  }

  /**
   * Sealed segments that recovery kept past the recovery point may exist only in the page cache
   * (a crashed process leaves its writes there); the next sync round must fsync them, and the
   * directory, before the recovery point may pass them.
   */
  private markRecoveredUnsynced(): void {
    for (const segment of this.segments.slice(0, -1)) {
      if (segment.nextOffset > this.commit.durableOffset) this.commit.sealed(segment);
    }
    this.commit.directoryChanged();
  }

  get config(): LogConfig {
    return this.configValue;
  }

  /** The topic incarnation the log belongs to; null for a log from before partition.metadata. */
  get topicId(): string | null {
    return this.topicIdValue;
  }

  /** Gives a log from before partition.metadata its topic id, durably (adopted once). */
  adoptTopicIdSync(topicId: string): void {
    assert(this.topicIdValue === null, 'only a log without a topic id is adopted');
    writePartitionMetadataSync(this.dir, topicId);
    this.topicIdValue = topicId;
  }

  get logStartOffset(): number {
    return this.logStart;
  }

  get logEndOffset(): number {
    return this.active.nextOffset;
  }

  /** Offset below which everything is durable: the recovery point written to the checkpoint. */
  get recoveryPoint(): number {
    return this.commit.durableOffset;
  }

  /** fsync rounds done (each covers every append before it started): a measure of group commit. */
  get fsyncCount(): number {
    return this.commit.rounds;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  /** Sealed segments waiting for their fsync (tests, metrics). */
  get unsyncedSegmentCount(): number {
    return this.commit.unsyncedCount;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** The `.log` file of the segment whose range holds `offset` (for reports). */
  segmentFileFor(offset: number): string {
    return this.segments[this.segmentIndexFor(offset)]!.logFile;
  }

  /** Base offsets of the segments, oldest first (for tools and tests). */
  segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private get segmentOptions(): SegmentOptions {
    return { indexIntervalBytes: this.configValue.indexIntervalBytes, denseOffsets: this.configValue.cleanupPolicy !== 'compact' };
  }

  /** Applies a new configuration (alter topic configs); takes effect at the next append or roll. */
  updateConfig(config: LogConfig): void {
    if (this.configValue.cleanupPolicy === 'compact' && config.cleanupPolicy !== 'compact') this.markSealedSegmentsCompactedSync();
    this.configValue = config;
  }

  /**
   * Leaving `compact`: every sealed segment may have been compacted, also by a version that
   * wrote no markers, so each gets one (durably) and keeps the rules of compacted data at every
   * later open. (The active segment holds appends only: its offsets are dense.)
   */
  private markSealedSegmentsCompactedSync(): void {
    try {
      let created = false;
      for (const segment of this.closedSegments()) created = segment.markCompactedSync() || created;
      if (created) fsyncDirSync(this.dir);
    } catch (err) {
      // Not fatal: an unmarked compacted segment is quarantined at a later recovery, never cut.
      this.logger.error({ err, topic: this.topic, partition: this.partition }, 'could not mark the compacted segments');
    }
  }

  private loadSegmentsSync(recoveryPointOffset: number, recover: boolean): string[] {
    const repairs = this.finishInterruptedSwapsSync();
    const names = fs.readdirSync(this.dir);
    const basesOf = (suffix: string): number[] => names.filter((name) => name.length === 20 + suffix.length && name.endsWith(suffix) && /^\d{20}/.test(name)).map((name) => Number(name.slice(0, 20)));
    const bases = basesOf(LOG_SUFFIX).sort((a, b) => a - b);
    // Segments compaction rewrote may skip offsets whatever the policy is now (compact, then delete).
    const compacted = new Set(basesOf(COMPACTED_SUFFIX));
    const optionsFor = (base: number): SegmentOptions => ({ ...this.segmentOptions, denseOffsets: this.segmentOptions.denseOffsets && !compacted.has(base) });
    if (bases.length === 0) {
      this.segments.push(Segment.createSync(this.dir, 0, this.segmentOptions));
      // A new log's first segment is durable before its first append can be acknowledged.
      fsyncDirSync(this.dir);
      return repairs;
    }
    // Recover from the segment holding the recovery point; the last segment always, because
    // only it can end in a partial batch and its index is only persisted at flush.
    // A partition known to hold damage re-validates every segment (a clean open checks only the
    // last one), so it stays offline until the damaged segment is restored.
    const knownDamaged = readDamagedSegmentsSync(this.dir);
    const firstToRecover = knownDamaged !== null ? 0 : recover ? Math.max(0, bases.findLastIndex((base) => base <= recoveryPointOffset)) : bases.length - 1;
    for (let i = 0; i < bases.length; i++) {
      const { segment, repairs: found } = Segment.openSync(this.dir, bases[i]!, optionsFor(bases[i]!), i >= firstToRecover);
      repairs.push(...found);
      const previous = this.segments[this.segments.length - 1];
      if (previous !== undefined && segment.baseOffset < previous.nextOffset) {
        repairs.push(`${segment.logFile}: overlaps the previous segment (ends at ${previous.nextOffset}); deleted`);
        segment.retire(true);
        continue;
      }
      // A compacted segment may end before the next one starts (its last batches were removed);
      // a damaged one ends, as far as its valid batches go, at its damage.
      if (previous !== undefined && segment.baseOffset > previous.nextOffset && previous.denseOffsets && previous.damage === null) {
        repairs.push(this.takeOfflineForGap(previous, segment));
      }
      this.segments.push(segment);
      if (segment.damage !== null) {
        const tornTailPossible = i === bases.length - 1 && !(knownDamaged?.has(path.basename(segment.logFile)) ?? false);
        repairs.push(this.damagedAtOpen(segment, segment.damage, tornTailPossible, recoveryPointOffset));
      }
    }
    repairs.push(...this.updateDamageMarkerSync(knownDamaged !== null));
    return repairs;
  }

  /**
   * A bad batch found at open. Only a torn write may be cut: the tail of the last segment from
   * an offset at or beyond the recovery point, which an unclean stop can leave half written
   * (unless an earlier open already found it damaged: `tornTailPossible` is false then).
   * Anything else (a middle segment, or data below the recovery point, which was fsync'd and
   * acknowledged, so bit rot) is kept, and the partition goes offline from there: deleting it,
   * or the segments after it, would destroy acknowledged records.
   */
  private damagedAtOpen(segment: Segment, damage: SegmentDamage, tornTailPossible: boolean, recoveryPointOffset: number): string {
    if (tornTailPossible && damage.offset >= recoveryPointOffset) return segment.cutDamagedTailSync();
    return this.quarantine(segment, damage);
  }

  /** Keeps the damaged segment's bytes and takes the partition offline from the damage; returns the repair. */
  private quarantine(segment: Segment, damage: SegmentDamage): string {
    segment.damage = damage;
    const where = `${segment.logFile}: ${damage.problem} at position ${damage.position} (offset ${damage.offset})`;
    this.damageLines.push(`${path.basename(segment.logFile)} position ${damage.position} offset ${damage.offset}: ${damage.problem}`);
    this.goOffline(damage.offset, `${where}; the partition is offline from offset ${damage.offset} and every byte is kept: restore the segment from a backup and restart (see docs/storage.md)`);
    return `${where}; partition offline from offset ${damage.offset}, every byte kept`;
  }

  /** Writes the damage marker for what this open found, or removes one whose damage is gone. */
  private updateDamageMarkerSync(damageKnown: boolean): string[] {
    if (this.damageLines.length > 0) {
      writeDamageMarkerSync(this.dir, this.damageLines);
      return [];
    }
    if (!damageKnown) return [];
    removeDamageMarkerSync(this.dir);
    return [`${path.join(this.dir, DAMAGE_MARKER_FILE)}: no damaged segment found any more; removed, the partition is back online`];
  }

  /**
   * Takes the log offline for damage the scrub found in a sealed segment: every byte is kept,
   * appends and reads at or after the damage fail with STORAGE_ERROR, and the damage marker
   * keeps it offline across restarts until the segment is restored.
   */
  quarantineSync(segment: Segment, damage: SegmentDamage): void {
    assert(this.segments.includes(segment), 'only a segment of this log is quarantined');
    this.quarantine(segment, damage);
    this.logger.error({ topic: this.topic, partition: this.partition }, this.offlineError!.message);
    try {
      writeDamageMarkerSync(this.dir, this.damageLines);
    } catch (err) {
      this.logger.error({ err, topic: this.topic, partition: this.partition }, 'could not write the damage marker: the partition may come back online at the next start');
    }
  }

  private goOffline(fromOffset: number, message: string): void {
    if (this.offlineError !== null && this.offlineFromOffset <= fromOffset) return;
    this.offlineFromOffset = fromOffset;
    this.offlineError = new RunnelError('STORAGE_ERROR', message, this.context());
  }

  /**
   * Offsets are dense in a `delete` log, so a segment that starts after the previous one ends
   * means a segment file was lost. Deleting what follows would destroy acknowledged records, and
   * serving across the hole would let consumers skip it silently: the partition goes offline
   * (no append, no read at or after the hole) and every file stays as it is, so restoring the
   * missing segment and restarting brings it back. Compacted segments may end in such holes.
   */
  private takeOfflineForGap(previous: Segment, next: Segment): string {
    const problem = `offsets ${previous.nextOffset} to ${next.baseOffset - 1} are missing between ${previous.logFile} and ${next.logFile} (a segment file was lost)`;
    this.goOffline(previous.nextOffset, `${problem}; the partition is offline until the missing segment is restored (see docs/storage.md)`);
    return `${problem}; partition offline, no file deleted`;
  }

  /**
   * Offline (a segment is missing, or damaged): the error every append, and every read at or
   * after the first missing or damaged offset, gets.
   */
  get offline(): RunnelError | null {
    return this.offlineError;
  }

  /**
   * Compaction writes `<base>.log.cleaned`, fsyncs it and renames it to `.swap`, then over the
   * `.log`. A `.cleaned` left by a crash is incomplete (deleted); a `.swap` is complete (used).
   */
  private finishInterruptedSwapsSync(): string[] {
    const repairs: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      if (name.endsWith(CLEANED_SUFFIX) || name.endsWith('.deleted') || name.endsWith('.tmp')) {
        fs.rmSync(file, { force: true });
        repairs.push(`${file}: left by an interrupted operation; deleted`);
      } else if (name.endsWith(LOG_SUFFIX + SWAP_SUFFIX)) {
        const base = Number(name.slice(0, 20));
        // Indexes of the replaced file may still be there; the swapped-in file gets new ones.
        fs.rmSync(path.join(this.dir, segmentFileName(base, INDEX_SUFFIX)), { force: true });
        fs.rmSync(path.join(this.dir, segmentFileName(base, TIME_INDEX_SUFFIX)), { force: true });
        fs.renameSync(file, file.slice(0, -SWAP_SUFFIX.length));
        repairs.push(`${file}: finished an interrupted compaction swap`);
      }
    }
    return repairs;
  }

  /**
   * Appends one batch and stamps its offsets (overwriting the first 8 bytes of `batch`, which the
   * log now owns). Validates length, magic, CRC and record count first; writes to the page cache.
   */
  appendSync(batch: Buffer): AppendResult {
    this.checkWritable();
    return this.appendCheckedSync(CheckedBatch.check(batch, this.configValue.maxBatchBytes, this.context()));
  }

  /**
   * Appends a batch its caller already checked (see CheckedBatch) against this log's
   * maxBatchBytes, so the CRC is computed once per batch on the produce path.
   */
  appendCheckedSync(checked: CheckedBatch, options: { logAppendTime?: boolean } = {}): AppendResult {
    this.checkWritable();
    assert(checked.bytes.length <= this.configValue.maxBatchBytes, 'a checked batch exceeds this log\'s maxBatchBytes');
    const nowMs = this.clock.nowMs();
    // LogAppendTime: the batch carries the same broker time the answer reports.
    const stamped = options.logAppendTime === true ? checked.withMaxTimestamp(nowMs, true) : checked;
    const batch = stamped.bytes;
    const baseOffset = this.logEndOffset;
    const lastOffset = baseOffset + stamped.lastOffsetDelta;
    this.maybeRollLocked(batch.length, lastOffset, nowMs);
    writeBaseOffset(batch, baseOffset);
    const active = this.active;
    const firstInSegment = active.isEmpty;
    try {
      active.appendLocked(batch, baseOffset, lastOffset, stamped.maxTimestampMs);
    } catch (err) {
      this.failure = storageError(err, 'append', this.context());
      throw this.failure;
    }
    if (firstInSegment) active.rollTimerStartMs = nowMs;
    return { baseOffset, lastOffset, logAppendTimeMs: nowMs };
  }

  /** Appends; with `durable`, resolves only once the batch is fdatasync'd (group-committed). */
  async append(batch: Buffer, options: { durable?: boolean } = {}): Promise<AppendResult> {
    const result = this.appendSync(batch);
    if (options.durable === true) await this.waitDurable(result.lastOffset + 1);
    return result;
  }

  /** Resolves once every offset below `offset` is durable. */
  waitDurable(offset: number): Promise<void> {
    assert(offset <= this.logEndOffset, `cannot wait for offset ${offset} beyond the log end ${this.logEndOffset}`);
    return this.commit.waitDurable(offset);
  }

  /** Makes everything appended so far durable and writes pending index entries. */
  async flush(): Promise<void> {
    if (this.offlineAtOpen) return; // nothing was appended, and its recovery point must not move
    await this.waitDurable(this.logEndOffset);
    if (!this.closed) this.active.persistIndexesSync(false);
  }

  private checkWritable(): void {
    if (this.closed) throw new RunnelError('LOG_CLOSED', undefined, this.context());
    if (this.failure !== null) throw this.failure;
    if (this.offlineError !== null) throw this.offlineError;
  }

  private maybeRollLocked(batchBytes: number, lastOffset: number, nowMs: number): void {
    const active = this.active;
    if (active.isEmpty) return;
    const { segmentBytes, segmentMs } = this.configValue;
    const full = active.sizeBytes + batchBytes > segmentBytes;
    // The broker's clock, not the batch's timestamps (see Segment.rollTimerStartMs).
    const old = active.rollTimerStartMs >= 0 && nowMs - active.rollTimerStartMs > segmentMs;
    const offsetSpanFull = lastOffset - active.baseOffset > SEGMENT_OFFSET_SPAN_MAX;
    if (full || old || offsetSpanFull) this.rollLocked();
  }

  /** Seals the active segment and starts a new one at the log end offset. */
  rollLocked(): void {
    const old = this.active;
    let next: Segment;
    try {
      // Inside the sticky path too: a roll that cannot write the sealed segment's indexes
      // fails the log like a failed append (STORAGE_ERROR until reopened and recovered).
      old.persistIndexesSync(false);
      next = Segment.createSync(this.dir, old.nextOffset, this.segmentOptions);
    } catch (err) {
      this.failure = storageError(err, 'roll', this.context());
      throw this.failure;
    }
    this.segments.push(next);
    this.commit.sealed(old);
    this.rollCount++;
    this.onRoll?.(next.baseOffset);
  }

  /**
   * Reads whole stored batches from the one holding `offset`, up to `maxBytes` (at least one
   * batch). `offset` must be in [logStartOffset, logEndOffset]; at the end it returns nothing.
   */
  async read(offset: number, maxBytes: number): Promise<LogReadResult> {
    this.checkOffsetInRange(offset);
    if (this.offlineError !== null && offset >= this.offlineFromOffset) throw this.offlineError;
    if (offset === this.logEndOffset) return this.emptyRead(offset);
    let from = offset;
    for (let i = this.segmentIndexFor(offset); i < this.segments.length; i++) {
      // Never across a hole or damage: a consumer would skip the records there silently.
      if (from >= this.offlineFromOffset) throw this.offlineError!;
      const segment = this.segments[i]!;
      segment.acquire();
      try {
        const result = await segment.read(Math.max(from, segment.baseOffset), maxBytes, segment.readableBytes);
        if (result !== null) return { ...result, logStartOffset: this.logStart, logEndOffset: this.logEndOffset };
      } finally {
        segment.release();
      }
      from = segment.nextOffset;
    }
    return this.emptyRead(offset);
  }

  private emptyRead(offset: number): LogReadResult {
    return { bytes: EMPTY, firstOffset: offset, nextOffset: offset, logStartOffset: this.logStart, logEndOffset: this.logEndOffset };
  }

  private checkOffsetInRange(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.logStart || offset > this.logEndOffset) {
      throw new RunnelError('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside [${this.logStart}, ${this.logEndOffset}]`, {
        ...this.context(),
        logStartOffset: this.logStart,
        logEndOffset: this.logEndOffset,
      });
    }
  }

  /** Index of the segment whose range holds `offset` (the last one with base <= offset). */
  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The first batch holding offsets at or after `fromOffset` whose maxTimestamp is at or after `timestampMs`, as
   * stored bytes; null when every batch is older. (The caller picks the record inside it.)
   */
  async batchForTimestamp(timestampMs: number, fromOffset = this.logStart): Promise<Buffer | null> {
    if (this.offlineError !== null) throw this.offlineError;
    for (const segment of this.segments) {
      if (segment.nextOffset <= fromOffset || segment.maxTimestampMs < timestampMs) continue;
      segment.acquire();
      try {
        const found = await segment.findByTimestamp(timestampMs, fromOffset);
        if (found !== null) return found.batch;
      } finally {
        segment.release();
      }
    }
    return null;
  }

  /**
   * Removes every batch at or after the one holding `offset` (whole batches, as Kafka does):
   * the log end offset becomes `offset`, or the base of the batch holding it.
   */
  async truncateTo(offset: number): Promise<void> {
    this.checkWritable();
    if (offset >= this.logEndOffset) return;
    const index = this.segmentIndexFor(offset);
    const segment = this.segments[index]!;
    const position = await segment.positionOf(offset);
    // Synchronous from here: appends that ran during the await only added batches after it.
    for (const later of this.segments.splice(index + 1)) later.retire(true);
    segment.cutAtSync(position);
    this.logStart = Math.min(this.logStart, this.logEndOffset);
    const truncated = new RunnelError('OFFSET_OUT_OF_RANGE', 'the log was truncated below this append', this.context());
    this.commit.truncated(this.logEndOffset, (s) => this.segments.includes(s), truncated);
  }

  /**
   * Moves the log start offset up to `offset` (Kafka's DeleteRecords) and deletes the segments
   * wholly below it. Returns the new log start offset.
   */
  deleteRecordsBefore(offset: number): number {
    this.checkWritable();
    if (!Number.isSafeInteger(offset) || offset > this.logEndOffset || offset < 0) {
      throw new RunnelError('OFFSET_OUT_OF_RANGE', `cannot delete records before ${offset}: log ends at ${this.logEndOffset}`, this.context());
    }
    if (offset <= this.logStart) return this.logStart;
    this.logStart = offset;
    if (offset === this.logEndOffset && !this.active.isEmpty) this.rollLocked();
    this.deleteOldestSegmentsWhile((segment) => segment.nextOffset <= this.logStart);
    return this.logStart;
  }

  /**
   * Deletes whole segments by `retentionMs` (newest batch older than that) and `retentionBytes`
   * (while the log minus the oldest segment is still at least that big). The active segment
   * is rolled first when it is wholly expired. Returns the number of segments deleted.
   */
  applyRetention(): number {
    if (this.configValue.cleanupPolicy !== 'delete' || this.closed || this.failure !== null || this.offlineError !== null) return 0;
    const { retentionMs, retentionBytes } = this.configValue;
    const nowMs = this.clock.nowMs();
    const expired = (segment: Segment): boolean => retentionMs >= 0 && nowMs - segment.maxTimestampMs > retentionMs;
    if (!this.active.isEmpty && expired(this.active)) this.rollLocked();
    let deleted = this.deleteOldestSegmentsWhile(expired);
    if (retentionBytes >= 0) {
      let size = this.sizeBytes;
      deleted += this.deleteOldestSegmentsWhile((segment) => {
        if (size - segment.sizeBytes < retentionBytes) return false;
        size -= segment.sizeBytes;
        return true;
      });
    }
    return deleted;
  }

  /** Deletes segments from the oldest while `predicate` holds, never the active one. */
  private deleteOldestSegmentsWhile(predicate: (segment: Segment) => boolean): number {
    let deleted = 0;
    while (this.segments.length > 1 && predicate(this.segments[0]!)) {
      const segment = this.segments.shift()!;
      this.commit.forget(segment);
      segment.retire(true);
      deleted++;
    }
    if (deleted > 0) {
      this.logStart = Math.max(this.logStart, this.segments[0]!.baseOffset);
      this.commit.directoryChanged();
      this.logger.info({ topic: this.topic, partition: this.partition, deleted, logStartOffset: this.logStart }, 'deleted old segments');
    }
    return deleted;
  }

  /** Sealed segments, oldest first: what compaction may rewrite. */
  closedSegments(): readonly Segment[] {
    return this.segments.slice(0, -1);
  }

  /**
   * Swaps in a rewritten segment for `old` (compaction). The caller has renamed the new file
   * over the old one; readers of `old` finish on the old file, which closes after them.
   */
  replaceSegmentSync(old: Segment, replacement: Segment): void {
    const index = this.segments.indexOf(old);
    assert(index >= 0 && index < this.segments.length - 1, 'only a sealed segment of this log can be replaced');
    this.segments[index] = replacement;
    this.commit.forget(old);
    old.retire(false);
  }

  /** Flushes, persists and fsyncs every index, and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === null) await this.flush();
    this.closed = true;
    this.commit.rejectAll(new RunnelError('LOG_CLOSED', undefined, this.context()));
    for (const segment of this.segments) {
      if (this.failure === null) segment.persistIndexesSync(true);
      segment.retire(false);
    }
  }

  /** Closes without flushing or writing indexes, as a crash would leave the files (tests, deletion). */
  closeAbruptly(): void {
    this.closed = true;
    this.commit.rejectAll(new RunnelError('LOG_CLOSED', undefined, this.context()));
    for (const segment of this.segments) segment.retire(false);
  }

  /** The sticky write/fsync error, if one happened since the log was opened. */
  get failed(): RunnelError | null {
    return this.failure;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private context(): { topic: string; partition: number } {
    return { topic: this.topic, partition: this.partition };
  }
}
