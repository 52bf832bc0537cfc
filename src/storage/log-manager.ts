/**
 * Owns a data directory: finds the partition logs in it (`<topic>-<partition>/`), recovers them
 * after an unclean shutdown, creates and deletes them, and runs the background work: periodic
 * flush (`flushIntervalMs`), retention, compaction and the checkpoints.
 *
 *   <data>/.lock                               flock'd by the process that owns the directory (dir-lock.ts)
 *   <data>/.clean-shutdown                     present only between a clean close and the next open
 *   <data>/recovery-point-offset-checkpoint    per partition: offsets below are known durable
 *   <data>/log-start-offset-checkpoint         per partition: the log start offset
 *   <data>/<topic>-<partition>/                segments of one partition log
 *
 * Opening a damaged directory never throws for damaged content; it repairs, logs and reports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunnelError, isRunnelError, storageError } from '../common/errors.js';
import { systemClock, type Clock } from '../common/clock.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { validatePartition, validateTopicName } from '../common/topic-name.js';
import { LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, partitionKey, readCheckpointSync, writeCheckpointSync } from './checkpoints.js';
import { compactLog, type CompactionResult } from './compaction.js';
import { DirLock } from './dir-lock.js';
import { fsyncDirSync, writeFileAtomicSync } from './file-io.js';
import { resolveLogConfig, type LogConfig } from './log-config.js';
import { PartitionLog } from './partition-log.js';

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export { LOCK_FILE } from './dir-lock.js';
const DELETE_SUFFIX = '-delete';
const PARTITION_DIR_PATTERN = /^(.+)-(\d+)$/;

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
  /** Set false to drive flush, retention and compaction by hand (tests, tools). */
  background?: boolean;
  clock?: Clock;
  logger?: Logger;
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
  private backgroundBusy = false;
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
      manager.lock?.releaseSync();
      throw err;
    }
    if (options.background !== false) manager.startBackground();
    return manager;
  }

  private openSync(): void {
    fs.mkdirSync(this.dataDir, { recursive: true });
    // A new, empty directory has nothing to recover: it counts as cleanly shut down.
    const fresh = fs.readdirSync(this.dataDir).length === 0;
    this.lock = DirLock.acquireSync(this.dataDir);
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
      repairs.push(...this.openPartitionDirSync(name, cleanShutdown, recovery.offsets, logStarts.offsets));
    }
    this.report = { cleanShutdown, partitions: this.logs.size, repairs };
    const level = repairs.length > 0 ? 'warn' : 'info';
    this.logger[level]({ dataDir: this.dataDir, cleanShutdown, partitions: this.logs.size, repairs: repairs.length }, 'opened data directory');
  }

  private openPartitionDirSync(name: string, cleanShutdown: boolean, recoveryPoints: Map<string, number>, logStarts: Map<string, number>): string[] {
    const dir = path.join(this.dataDir, name);
    if (!fs.statSync(dir).isDirectory()) return [];
    if (name.endsWith(DELETE_SUFFIX)) {
      fs.rmSync(dir, { recursive: true, force: true });
      return [`${dir}: deletion finished`];
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
    const { log, repairs } = PartitionLog.openSync({
      dir,
      topic,
      partition,
      config: this.configFor(topic),
      recoveryPointOffset: recoveryPoints.get(key) ?? 0,
      logStartOffset: logStarts.get(key),
      recover: !cleanShutdown,
      clock: this.clock,
      logger: this.logger,
    });
    this.logs.set(key, log);
    return repairs;
  }

  private configFor(topic: string): LogConfig {
    return resolveLogConfig(this.options.topicConfig?.(topic) ?? {}, this.defaultConfig);
  }

  private startBackground(): void {
    const every = (ms: number, task: () => Promise<unknown>, what: string): void => {
      const timer = setInterval(() => {
        if (this.backgroundBusy || this.closed) return;
        this.backgroundBusy = true;
        task()
          .catch((err: unknown) => this.logger.error({ err }, `${what} failed`))
          .finally(() => (this.backgroundBusy = false));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.flushIntervalMs ?? 1000, () => this.flushAll(), 'flush');
    every(this.options.retentionCheckIntervalMs ?? 300_000, () => Promise.resolve(this.runRetention()), 'retention');
    every(this.options.compactionIntervalMs ?? 15_000, () => this.runCompaction(), 'compaction');
    every(this.options.checkpointIntervalMs ?? 60_000, () => Promise.resolve(this.writeCheckpointsSync()), 'checkpoint');
  }

  /** Creates the log of a partition (idempotent: returns the existing one). */
  createLog(topic: string, partition: number, overrides?: Partial<LogConfig>): PartitionLog {
    this.checkOpen();
    validateTopicName(topic);
    validatePartition(topic, partition);
    const key = partitionKey(topic, partition);
    const existing = this.logs.get(key);
    if (existing !== undefined) return existing;
    const config = resolveLogConfig(overrides ?? {}, this.configFor(topic));
    const dir = path.join(this.dataDir, key);
    try {
      const { log } = PartitionLog.openSync({ dir, topic, partition, config, clock: this.clock, logger: this.logger });
      fsyncDirSync(this.dataDir);
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
    const log = this.requireLog(topic, partition);
    const key = partitionKey(topic, partition);
    this.logs.delete(key);
    this.compactedAtRoll.delete(log);
    log.closeAbruptly();
    const doomed = path.join(this.dataDir, `${key}.${randomUUID().slice(0, 8)}${DELETE_SUFFIX}`);
    fs.renameSync(log.dir, doomed);
    fsyncDirSync(this.dataDir);
    await fs.promises.rm(doomed, { recursive: true, force: true });
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
      if (log.config.cleanupPolicy !== 'compact' || log.isClosed) continue;
      if (options.force !== true && this.compactedAtRoll.get(log) === log.rollCount) continue;
      this.compactedAtRoll.set(log, log.rollCount);
      results.push(await compactLog(log, { nowMs: this.clock.nowMs(), logger: this.logger }));
    }
    return results;
  }

  /** Writes both checkpoints from the logs' current recovery points and log start offsets. */
  writeCheckpointsSync(): void {
    const recovery = new Map<string, { topic: string; partition: number; offset: number }>();
    const starts = new Map<string, { topic: string; partition: number; offset: number }>();
    for (const [key, log] of this.logs) {
      recovery.set(key, { topic: log.topic, partition: log.partition, offset: log.recoveryPoint });
      starts.set(key, { topic: log.topic, partition: log.partition, offset: log.logStartOffset });
    }
    writeCheckpointSync(path.join(this.dataDir, RECOVERY_POINT_CHECKPOINT), recovery);
    writeCheckpointSync(path.join(this.dataDir, LOG_START_CHECKPOINT), starts);
  }

  /**
   * Clean shutdown: flush and close every log, write the checkpoints, then the clean-shutdown
   * marker (last, so that its presence proves everything before it completed).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
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
    for (const log of this.allLogs()) log.closeAbruptly();
    // As at a crash: the kernel drops the lock with the descriptor.
    this.lock?.releaseSync();
  }

  private checkOpen(): void {
    if (this.closed) throw new RunnelError('LOG_CLOSED', 'the log manager is closed');
  }
}
