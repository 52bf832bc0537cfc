/**
 * Owns a data directory: finds the partition logs in it (`<topic>-<partition>/`), recovers them
 * after an unclean shutdown, creates and deletes them, and runs the background work: periodic
 * flush (`flushIntervalMs`), retention, compaction and the checkpoints.
 *
 *   <data>/.lock                               flock'd by the process that owns the directory (dir-lock.ts)
 *   <data>/.clean-shutdown                     present only between a clean close and the next open
 *   <data>/recovery-point-offset-checkpoint    per partition: offsets below are known durable
 *   <data>/log-start-offset-checkpoint         per partition: the log start offset
 *   <data>/<topic>-<partition>/                segments of one partition log, and its
 *                                              partition.metadata (topic id)
 *   <data>/<topic>-<partition>.<id>-delete/    a log being deleted (finished at the next open)
 *   <data>/<topic>-<partition>.<id>-stray/     a log no topic owns: kept offline, never opened
 *
 * Opening a damaged directory never throws for damaged log content; it repairs, logs and reports.
 * The one exception is an unreadable partition.metadata: which topic incarnation owns that log
 * cannot be guessed, so the open stops with one line naming the file and the fix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunnelError, isRunnelError, storageError } from '../common/errors.js';
import { systemClock, type Clock } from '../common/clock.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { validatePartition, validateTopicName } from '../common/topic-name.js';
import { LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, checkpointedOffset, partitionKey, readCheckpointSync, writeCheckpointSync, type Checkpoint } from './checkpoints.js';
import { compactLog, type CompactionResult } from './compaction.js';
import { DirLock } from './dir-lock.js';
import { fsyncDirSync, mkdirDurableSync, writeFileAtomicSync } from './file-io.js';
import { resolveLogConfig, type LogConfig } from './log-config.js';
import { PartitionLog } from './partition-log.js';
import { readPartitionMetadataSync, writePartitionMetadataSync } from './partition-metadata.js';
import { Scrubber } from './scrub.js';

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export { LOCK_FILE } from './dir-lock.js';
const DELETE_SUFFIX = '-delete';
const STRAY_SUFFIX = '-stray';
const PARTITION_DIR_PATTERN = /^(.+)-(\d+)$/;
/** A scrub pass starts at most hourly by default: small data directories are not re-read without end. */
export const SCRUB_INTERVAL_MS_DEFAULT = 3_600_000;

export interface LogManagerOptions {
  dataDir: string;
  /** Overrides of the built-in log defaults for every topic. */
  defaultConfig?: Partial<LogConfig>;
  /** A topic's own overrides (from the topic registry), applied when its logs are opened. */
  topicConfig?: (topic: string) => Partial<LogConfig> | undefined;
  /** Every log is fsync'd at least this often: bounds the data at risk for non-durable appends. */
  flushIntervalMs?: number;
  retentionCheckIntervalMs?: number;
  compactionIntervalMs?: number;
  /** How often the recovery-point and log-start checkpoints are written. */
  checkpointIntervalMs?: number;
  /** Set false to drive flush, retention and compaction by hand (tests, tools); no scrub then. */
  background?: boolean;
  /** Read-rate bound of the background scrub of sealed segments (scrub.ts); 0 or absent = off. */
  scrubBytesPerSecond?: number;
  /** Minimum time between the starts of two scrub passes. */
  scrubIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * The directory's lock, when the caller took it already (the broker does, before it reads its
   * own metadata in the directory); the manager owns it from then on and releases it at close.
   */
  lock?: DirLock;
}

export const BACKGROUND_TASKS = ['flush', 'retention', 'compaction', 'checkpoint'] as const;
export type BackgroundTask = (typeof BACKGROUND_TASKS)[number];

/** What a background task has done so far (tests, later health and metrics). */
export interface BackgroundTaskState {
  running: boolean;
  /** Rounds finished, failed ones included. */
  runs: number;
  failures: number;
}

export interface OpenReport {
  cleanShutdown: boolean;
  partitions: number;
  repairs: string[];
}

export class LogManager {
  readonly dataDir: string;
  private readonly logs = new Map<string, PartitionLog>();
  private readonly defaultConfig: LogConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly compactedAtRoll = new Map<PartitionLog, number>();
  private closed = false;
  private lock: DirLock | null = null;
  private readonly backgroundTasks = new Map<BackgroundTask, BackgroundTaskState>();
  private scrubber: Scrubber | null = null;
  report: OpenReport = { cleanShutdown: true, partitions: 0, repairs: [] };

  private constructor(private readonly options: LogManagerOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.defaultConfig = resolveLogConfig(options.defaultConfig);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  static open(options: LogManagerOptions): LogManager {
    const manager = new LogManager(options);
    try {
      manager.openSync();
    } catch (err) {
      // A refused start (unreadable partition.metadata) must not keep files or the lock.
      for (const log of manager.allLogs()) log.closeAbruptly();
      manager.lock?.releaseSync();
      throw err;
    }
    if (options.background !== false) manager.startBackground();
    if (options.background !== false && (options.scrubBytesPerSecond ?? 0) > 0) manager.startScrub(options.scrubBytesPerSecond!);
    return manager;
  }

  private openSync(): void {
    mkdirDurableSync(this.dataDir);
    // A new, empty directory has nothing to recover: it counts as cleanly shut down.
    const fresh = fs.readdirSync(this.dataDir).length === 0;
    this.lock = this.options.lock ?? DirLock.acquireSync(this.dataDir);
    const marker = path.join(this.dataDir, CLEAN_SHUTDOWN_FILE);
    const markerFound = fs.existsSync(marker);
    const cleanShutdown = fresh || markerFound;
    if (markerFound) {
      // Removed before any write, so a crash from now on is seen as unclean at the next open.
      fs.rmSync(marker);
      fsyncDirSync(this.dataDir);
    }
    const recovery = readCheckpointSync(path.join(this.dataDir, RECOVERY_POINT_CHECKPOINT));
    const logStarts = readCheckpointSync(path.join(this.dataDir, LOG_START_CHECKPOINT));
    const repairs = [recovery.problem, logStarts.problem].filter((p): p is string => p !== null);
    for (const name of fs.readdirSync(this.dataDir)) {
      repairs.push(...this.openPartitionDirSync(name, cleanShutdown, recovery, logStarts));
    }
    this.report = { cleanShutdown, partitions: this.logs.size, repairs };
    const level = repairs.length > 0 ? 'warn' : 'info';
    this.logger[level]({ dataDir: this.dataDir, cleanShutdown, partitions: this.logs.size, repairs: repairs.length }, 'opened data directory');
  }

  private openPartitionDirSync(name: string, cleanShutdown: boolean, recoveryPoints: Checkpoint, logStarts: Checkpoint): string[] {
    const dir = path.join(this.dataDir, name);
    if (!fs.statSync(dir).isDirectory()) return [];
    if (name.endsWith(DELETE_SUFFIX)) {
      fs.rmSync(dir, { recursive: true, force: true });
      return [`${dir}: deletion finished`];
    }
    if (name.endsWith(STRAY_SUFFIX)) {
      this.logger.warn({ dir }, 'stray log kept offline: no topic owns it; move it back or delete it by hand');
      return [];
    }
    const match = PARTITION_DIR_PATTERN.exec(name);
    if (match === null) return [];
    const topic = match[1]!;
    const partition = Number(match[2]);
    try {
      validateTopicName(topic);
      validatePartition(topic, partition);
    } catch {
      return [`${dir}: not a partition directory; ignored`];
    }
    const key = partitionKey(topic, partition);
    const topicId = readPartitionMetadataSync(dir);
    // Only entries of this log's own incarnation apply (a re-created topic has a new id).
    const recoveryPoint = checkpointedOffset(recoveryPoints, RECOVERY_POINT_CHECKPOINT, key, topicId);
    const logStart = checkpointedOffset(logStarts, LOG_START_CHECKPOINT, key, topicId);
    const { log, repairs } = PartitionLog.openSync({
      dir,
      topic,
      partition,
      topicId,
      config: this.configFor(topic),
      recoveryPointOffset: recoveryPoint.offset ?? 0,
      logStartOffset: logStart.offset,
      recover: !cleanShutdown,
      clock: this.clock,
      logger: this.logger,
    });
    this.logs.set(key, log);
    return [recoveryPoint.stale, logStart.stale].filter((p): p is string => p !== null).concat(repairs);
  }

  private configFor(topic: string): LogConfig {
    return resolveLogConfig(this.options.topicConfig?.(topic) ?? {}, this.defaultConfig);
  }

  /** A background task's state; undefined when background work is off. */
  backgroundState(task: BackgroundTask): Readonly<BackgroundTaskState> | undefined {
    return this.backgroundTasks.get(task);
  }

  /**
   * One timer and one busy flag per task: a round is skipped only while the same task's previous
   * round runs, so a long compaction never holds back the flush that bounds the data at risk.
   * No timer throws out: a task's synchronous throw (ENOSPC or EMFILE in a checkpoint write)
   * becomes a rejection inside the promise executor, is logged, and the next round runs.
   */
  private startBackground(): void {
    const every = (ms: number, task: () => unknown, what: BackgroundTask): void => {
      const state: BackgroundTaskState = { running: false, runs: 0, failures: 0 };
      this.backgroundTasks.set(what, state);
      const timer = setInterval(() => {
        if (state.running || this.closed) return;
        state.running = true;
        new Promise((resolve) => resolve(task()))
          .catch((err: unknown) => {
            state.failures++;
            this.logger.error({ err }, `${what} failed`);
          })
          .finally(() => {
            state.running = false;
            state.runs++;
          });
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.flushIntervalMs ?? 1000, () => this.flushAll(), 'flush');
    every(this.options.retentionCheckIntervalMs ?? 300_000, () => this.runRetention(), 'retention');
    every(this.options.compactionIntervalMs ?? 15_000, () => this.runCompaction(), 'compaction');
    every(this.options.checkpointIntervalMs ?? 60_000, () => this.writeCheckpointsSync(), 'checkpoint');
  }

  private startScrub(bytesPerSecond: number): void {
    const intervalMs = this.options.scrubIntervalMs ?? SCRUB_INTERVAL_MS_DEFAULT;
    this.scrubber = new Scrubber({ bytesPerSecond, intervalMs, logs: () => this.allLogs(), logger: this.logger });
  }

  /** What the background scrub did since the open (metrics); zeros when it is off. */
  get scrubStats(): { bytesScrubbed: number; damagedSegments: number } {
    return { bytesScrubbed: this.scrubber?.bytesScrubbed ?? 0, damagedSegments: this.scrubber?.damagedSegments ?? 0 };
  }

  /**
   * Creates the log of a partition for the topic incarnation `topicId` (a fresh id when not
   * given). Idempotent: returns the existing log when it has that id (or no id was given).
   */
  createLog(topic: string, partition: number, overrides?: Partial<LogConfig>, topicId?: string): PartitionLog {
    return this.createLogs(topic, [partition], overrides, topicId)[0]!;
  }

  /**
   * Creates several logs of one topic incarnation, then rewrites the checkpoints once, so they
   * never hold an entry for a name whose log is not the one on disk.
   */
  createLogs(topic: string, partitions: readonly number[], overrides?: Partial<LogConfig>, topicId?: string): PartitionLog[] {
    const before = this.logs.size;
    const newLogsId = topicId ?? randomUUID();
    const logs = partitions.map((partition) => this.createLogSync(topic, partition, overrides, topicId, newLogsId));
    if (this.logs.size === before) return logs;
    try {
      this.writeCheckpointsSync();
    } catch (err) {
      throw storageError(err, `write checkpoints after creating logs of ${topic}`, { topic });
    }
    return logs;
  }

  private createLogSync(topic: string, partition: number, overrides: Partial<LogConfig> | undefined, topicId: string | undefined, newLogsId: string): PartitionLog {
    this.checkOpen();
    validateTopicName(topic);
    validatePartition(topic, partition);
    const key = partitionKey(topic, partition);
    const existing = this.logs.get(key);
    if (existing !== undefined) {
      if (topicId === undefined || existing.topicId === topicId) return existing;
      throw new RunnelError('STORAGE_ERROR', `the log ${key} of topic id ${existing.topicId} is still open; cannot create it for topic id ${topicId}`, { topic, partition });
    }
    const config = resolveLogConfig(overrides ?? {}, this.configFor(topic));
    const dir = path.join(this.dataDir, key);
    try {
      // The directory, its partition.metadata and its first segment are durable before this
      // returns (mkdirDurableSync fsyncs the data directory; openSync the partition directory).
      mkdirDurableSync(dir);
      writePartitionMetadataSync(dir, newLogsId);
      const { log } = PartitionLog.openSync({ dir, topic, partition, config, topicId: newLogsId, clock: this.clock, logger: this.logger });
      this.logs.set(key, log);
      return log;
    } catch (err) {
      throw storageError(err, `create log ${key}`, { topic, partition });
    }
  }

  getLog(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(partitionKey(topic, partition));
  }

  /** The log, or UNKNOWN_PARTITION. */
  requireLog(topic: string, partition: number): PartitionLog {
    const log = this.getLog(topic, partition);
    if (log === undefined) throw new RunnelError('UNKNOWN_PARTITION', `no log for ${topic}-${partition}`, { topic, partition });
    return log;
  }

  allLogs(): PartitionLog[] {
    return [...this.logs.values()];
  }

  /**
   * Deletes a partition's log: the directory is renamed first (a crash then finishes the
   * deletion at the next open), then removed.
   */
  async deleteLog(topic: string, partition: number): Promise<void> {
    await this.deleteLogs(topic, [partition]);
  }

  /**
   * Deletes logs of one topic: every directory is renamed (one data-directory fsync), the
   * checkpoints are rewritten without them, then the directories are removed.
   */
  async deleteLogs(topic: string, partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0) return;
    const doomed = partitions.map((partition) => this.detachLogSync(topic, partition, DELETE_SUFFIX));
    fsyncDirSync(this.dataDir);
    this.writeCheckpointsSync();
    await Promise.all(doomed.map((dir) => fs.promises.rm(dir, { recursive: true, force: true })));
  }

  /**
   * Takes a log no topic owns offline, keeping its data: the directory is renamed to
   * `<topic>-<partition>.<id>-stray` (as Kafka does since KAFKA-14616), which the next open
   * skips. Returns the new directory.
   */
  strayLog(topic: string, partition: number): string {
    const stray = this.detachLogSync(topic, partition, STRAY_SUFFIX);
    fsyncDirSync(this.dataDir);
    this.writeCheckpointsSync();
    return stray;
  }

  /** Closes a log and renames its directory to `<topic>-<partition>.<id><suffix>` (the caller fsyncs). */
  private detachLogSync(topic: string, partition: number, suffix: string): string {
    const log = this.requireLog(topic, partition);
    const key = partitionKey(topic, partition);
    this.logs.delete(key);
    this.compactedAtRoll.delete(log);
    log.closeAbruptly();
    const renamed = path.join(this.dataDir, `${key}.${randomUUID().slice(0, 8)}${suffix}`);
    fs.renameSync(log.dir, renamed);
    return renamed;
  }

  /** Kafka's DeleteRecords: moves the log start offset and persists it at once. */
  deleteRecords(topic: string, partition: number, beforeOffset: number): number {
    const logStartOffset = this.requireLog(topic, partition).deleteRecordsBefore(beforeOffset);
    this.writeCheckpointsSync();
    return logStartOffset;
  }

  /**
   * Flushes every log. The recovery points move in memory; the checkpoint file follows on
   * `checkpointIntervalMs` (as Kafka's does), so a frequent flush costs no extra fsyncs.
   */
  async flushAll(): Promise<void> {
    const results = await Promise.allSettled(this.allLogs().filter((log) => !log.isClosed).map((log) => log.flush()));
    for (const result of results) {
      // A log deleted while its flush waited rejects with LOG_CLOSED: nothing is lost there.
      if (result.status === 'rejected' && !isRunnelError(result.reason, 'LOG_CLOSED')) {
        this.logger.error({ err: result.reason as unknown }, 'flush failed');
      }
    }
  }

  /** Applies retention to every log; returns the number of segments deleted. */
  runRetention(): number {
    let deleted = 0;
    for (const log of this.allLogs()) deleted += log.applyRetention();
    if (deleted > 0) this.writeCheckpointsSync();
    return deleted;
  }

  /** Compacts every `compact` log that rolled a segment since its last compaction. */
  async runCompaction(options: { force?: boolean } = {}): Promise<CompactionResult[]> {
    const results: CompactionResult[] = [];
    for (const log of this.allLogs()) {
      if (log.config.cleanupPolicy !== 'compact' || log.isClosed || log.offline !== null) continue;
      if (options.force !== true && this.compactedAtRoll.get(log) === log.rollCount) continue;
      this.compactedAtRoll.set(log, log.rollCount);
      results.push(await compactLog(log, { nowMs: this.clock.nowMs(), logger: this.logger }));
    }
    return results;
  }

  /** Writes both checkpoints from the logs' current recovery points and log start offsets. */
  writeCheckpointsSync(): void {
    const logs = this.allLogs();
    const entry = (log: PartitionLog, offset: number): { topic: string; partition: number; offset: number; topicId: string | null } => ({ topic: log.topic, partition: log.partition, offset, topicId: log.topicId });
    writeCheckpointSync(path.join(this.dataDir, RECOVERY_POINT_CHECKPOINT), logs.map((log) => entry(log, log.recoveryPoint)));
    writeCheckpointSync(path.join(this.dataDir, LOG_START_CHECKPOINT), logs.map((log) => entry(log, log.logStartOffset)));
  }

  /**
   * Clean shutdown: flush and close every log, write the checkpoints, then the clean-shutdown
   * marker (last, so that its presence proves everything before it completed).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.scrubber?.stop();
    let clean = true;
    for (const log of this.allLogs()) {
      // A log that failed a write or fsync has an unknown tail: the next open must recover it.
      if (log.failed !== null) clean = false;
      try {
        await log.close();
      } catch (err) {
        clean = false;
        this.logger.error({ err, topic: log.topic, partition: log.partition }, 'close failed');
      }
    }
    try {
      this.writeCheckpointsSync();
      if (clean) writeFileAtomicSync(path.join(this.dataDir, CLEAN_SHUTDOWN_FILE), '');
    } finally {
      this.lock?.releaseSync();
    }
  }

  /** Releases the files without flushing or marking a clean shutdown, as a crash would (tests). */
  closeAbruptly(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    void this.scrubber?.stop();
    for (const log of this.allLogs()) log.closeAbruptly();
    // As at a crash: the kernel drops the lock with the descriptor.
    this.lock?.releaseSync();
  }

  private checkOpen(): void {
    if (this.closed) throw new RunnelError('LOG_CLOSED', 'the log manager is closed');
  }
}
