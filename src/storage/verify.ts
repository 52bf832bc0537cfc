/**
 * `runnel debug verify DATA_DIR`: a read-only check of a whole data directory. Every partition
 * directory is verified (verify-partition.ts: CRC scrub and record walk of every batch, offsets
 * inside and between segments, both indexes against the log), then both checkpoint files: they
 * must be readable (through checkpoints.ts's reader, so verify follows its format) and every
 * entry of the log's own topic incarnation must lie within its log (a recovery point or log
 * start beyond the log end, or a log start below the first segment, means acknowledged offsets
 * are gone). An entry of another incarnation (its topic id is not the one in the log's
 * partition.metadata) is what the broker ignores (checkpointedOffset), so it is a note here.
 *
 * `-stray` logs (kept offline by the broker) are checked and reported as notes, not damage;
 * `-delete` directories only noted.
 *
 * It refuses a directory whose lock a process holds (dir-lock.ts; probed with a shared lock on a
 * read-only descriptor, dropped at once): a running broker appends to active segments,
 * persists indexes lazily and rewrites checkpoints, so a live directory reads as damaged when it
 * is not. Stop the broker, or verify a copy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunnelError } from '../common/errors.js';
import { LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, checkpointedOffset, readCheckpointSync } from './checkpoints.js';
import { probeDirLockSync } from './dir-lock.js';
import { PARTITION_METADATA_FILE, readPartitionMetadataSync } from './partition-metadata.js';
import { verifyPartitionDirSync, type Findings, type PartitionSummary } from './verify-partition.js';

const PARTITION_DIR = /^(.+)-(\d+)$/;
/** `<topic>-<partition>.<id>-stray` (log-manager.ts): a log no topic owns, kept offline by the broker. */
const STRAY_DIR = /^((.+)-\d+)\.[^.]+-stray$/;
/** `<topic>-<partition>.<id>-delete`: a deletion the broker finishes at its next start. */
const DELETE_DIR = /-delete$/;
const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
/** Compacted (gaps between batches allowed) whatever a topic file says. */
const COMPACTED_INTERNAL_TOPICS = new Set(['__consumer_offsets']);

export interface VerifyReport extends Findings {
  partitions: number;
  segments: number;
  batches: number;
}

export interface VerifyOptions {
  /**
   * The broker's `log.cleanupPolicy`, for topics whose file sets none (the broker's config is
   * not in the data directory). Default `delete`, the built-in default.
   */
  defaultCleanupPolicy?: 'delete' | 'compact';
}

export function verifyDataDirSync(dataDir: string, options: VerifyOptions = {}): VerifyReport {
  const stat = fs.statSync(dataDir, { throwIfNoEntry: false });
  if (stat?.isDirectory() !== true) throw new RunnelError('INVALID_ARGUMENT', `${dataDir} is not a directory`);
  const lock = probeDirLockSync(dataDir);
  if (lock.held) {
    throw new RunnelError('STORAGE_ERROR', `data directory ${dataDir} is locked by a running broker (${lock.owner}); stop it, or verify a copy of the directory`);
  }
  const report: VerifyReport = { damage: [], notes: [], partitions: 0, segments: 0, batches: 0 };
  if (!fs.existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))) {
    report.notes.push(`${dataDir}: no clean-shutdown marker: the last broker stopped uncleanly, and its next start recovers the logs`);
  }
  const logs = new Map<string, VerifiedLog>();
  for (const name of fs.readdirSync(dataDir).sort()) {
    const dir = path.join(dataDir, name);
    if (!fs.statSync(dir).isDirectory()) continue;
    if (DELETE_DIR.test(name)) report.notes.push(`${dir}: a log being deleted; the broker removes it at its next start`);
    const stray = STRAY_DIR.exec(name);
    if (stray !== null) verifyStrayDir(dir, stray[1]!, isCompacted(dataDir, stray[2]!, options.defaultCleanupPolicy ?? 'delete', report), report);
    const topic = PARTITION_DIR.exec(name)?.[1];
    if (topic === undefined) continue;
    const compacted = isCompacted(dataDir, topic, options.defaultCleanupPolicy ?? 'delete', report);
    const summary = verifyPartitionDirSync(dir, { denseOffsets: !compacted });
    logs.set(name, { ...summary, topicId: readTopicId(dir, report) });
    report.damage.push(...summary.damage);
    report.notes.push(...summary.notes);
    report.partitions++;
    report.segments += summary.segments;
    report.batches += summary.batches;
  }
  checkCheckpoint(path.join(dataDir, RECOVERY_POINT_CHECKPOINT), logs, report, (key, offset, log) =>
    offset > log.endOffset ? `${key} recovery point ${offset} is beyond the log end ${log.endOffset}` : null,
  );
  checkCheckpoint(path.join(dataDir, LOG_START_CHECKPOINT), logs, report, (key, offset, log) => {
    if (offset > log.endOffset) return `${key} log start offset ${offset} is beyond the log end ${log.endOffset}`;
    if (offset < log.firstOffset) return `${key} log start offset ${offset} is below the first segment's base offset ${log.firstOffset}: the offsets between are missing`;
    return null;
  });
  return report;
}

/** A verified log and its topic incarnation: null when it has no partition.metadata, undefined when that is unreadable. */
interface VerifiedLog extends PartitionSummary {
  topicId: string | null | undefined;
}

/** The log's topic id, as the broker reads it; an unreadable partition.metadata stops the broker's start: damage. */
function readTopicId(dir: string, out: Findings): string | null | undefined {
  try {
    return readPartitionMetadataSync(dir);
  } catch (err) {
    out.damage.push(`${path.join(dir, PARTITION_METADATA_FILE)}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/**
 * A stray log is checked but labelled: its findings are notes, not damage. The broker never
 * opens it (it is not served, not in the checkpoints, and its state cannot lose or serve bad
 * data), so it does not make the directory damaged; but an operator who considers moving it
 * back (docs/broker.md) needs to know whether it is sound, which a bare "skipped" would not say.
 */
function verifyStrayDir(dir: string, partitionName: string, compacted: boolean, out: Findings): void {
  const summary = verifyPartitionDirSync(dir, { denseOffsets: !compacted });
  const problems = summary.damage.length === 1 ? '1 problem' : `${summary.damage.length} problems`;
  out.notes.push(`${dir}: stray log of ${partitionName}, kept offline by the broker (no topic owns it), not counted as a partition; checked: ${summary.segments} segments, ${summary.batches} batches, ${problems}`);
  out.notes.push(...summary.damage.map((line) => `stray: ${line}`), ...summary.notes.map((line) => `stray: ${line}`));
}

function checkCheckpoint(file: string, logs: Map<string, VerifiedLog>, out: Findings, check: (key: string, offset: number, log: PartitionSummary) => string | null): void {
  if (!fs.existsSync(file)) {
    if (logs.size > 0) out.notes.push(`${file}: missing; the broker recovers from offset 0 and writes it again`);
    return;
  }
  const checkpoint = readCheckpointSync(file);
  if (checkpoint.problem !== null) out.damage.push(checkpoint.problem);
  for (const key of checkpoint.offsets.keys()) {
    const log = logs.get(key);
    if (log === undefined) {
      out.notes.push(`${file}: the entry for ${key} names no partition directory`);
      continue;
    }
    if (log.topicId === undefined) {
      out.notes.push(`${file}: the entry for ${key} is not checked: the log's topic id is unreadable`);
      continue;
    }
    // As the broker applies it: only an entry of the log's own incarnation (topic id).
    const { offset, stale } = checkpointedOffset(checkpoint, file, key, log.topicId);
    if (stale !== null) out.notes.push(`${stale}, as the broker ignores it`);
    if (offset === undefined) continue;
    const problem = check(key, offset, log);
    if (problem !== null) out.damage.push(`${file}: ${problem}`);
  }
}

/**
 * Whether a topic's log may have gaps (cleanupPolicy compact), from its topic file
 * (`meta/topics/<topic>.json`, see topic-registry.ts), else the broker default. When the file
 * cannot be read, gaps are allowed (a note says so): verify must not call a compacted log damaged.
 */
function isCompacted(dataDir: string, topic: string, defaultPolicy: string, out: Findings): boolean {
  if (COMPACTED_INTERNAL_TOPICS.has(topic)) return true;
  const file = path.join(dataDir, 'meta', 'topics', `${topic}.json`);
  try {
    const metadata = JSON.parse(fs.readFileSync(file, 'utf8')) as { configs?: Record<string, unknown> };
    return (metadata.configs?.cleanupPolicy ?? defaultPolicy) === 'compact';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaultPolicy === 'compact';
    out.notes.push(`${file}: unreadable (${String(err)}); gaps between batches of ${topic} are not checked`);
    return true;
  }
}
