/**
 * Offset checkpoint files in the data directory (`recovery-point-offset-checkpoint`,
 * `log-start-offset-checkpoint`), in Kafka's text format with the topic id added to each line:
 *
 *   1                                          version
 *   <n>                                        number of entries
 *   <topic> <partition> <offset> <topicId>     n lines; topicId `-` for a log without one
 *
 * Version 0 (Kafka's own, `<topic> <partition> <offset>`, written before topic ids) still
 * loads: its entries name no incarnation, so they apply only to logs without partition.metadata
 * (which is what every log was when such a file was written). An entry applies to a log only
 * when its topic id is the log's: a deleted and re-created topic of the same name never gets
 * the old incarnation's offsets.
 *
 * Written atomically (temp file, fsync, rename, fsync directory). A missing or unreadable file
 * reads as empty: the logs then recover from offset 0, which is slow but never wrong.
 */
import fs from 'node:fs';
import { writeFileAtomicSync } from './file-io.js';

export const RECOVERY_POINT_CHECKPOINT = 'recovery-point-offset-checkpoint';
export const LOG_START_CHECKPOINT = 'log-start-offset-checkpoint';
const VERSION_NAMES_ONLY = 0;
const VERSION = 1;
const NO_TOPIC_ID = '-';

export interface CheckpointEntry {
  topic: string;
  partition: number;
  offset: number;
  /** The incarnation the offset belongs to; null for a log without partition.metadata. */
  topicId: string | null;
}

export interface Checkpoint {
  /** Offsets by `topic-partition`. */
  offsets: Map<string, number>;
  /** The topic id each entry belongs to, by `topic-partition`; null when the entry names none. */
  topicIds: Map<string, string | null>;
  problem: string | null;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export function writeCheckpointSync(file: string, entries: CheckpointEntry[]): void {
  const lines = [String(VERSION), String(entries.length)];
  for (const { topic, partition, offset, topicId } of entries) lines.push(`${topic} ${partition} ${offset} ${topicId ?? NO_TOPIC_ID}`);
  writeFileAtomicSync(file, lines.join('\n') + '\n');
}

/** Reads a checkpoint (version 0 or 1); a bad file reads as empty, with the problem. */
export function readCheckpointSync(file: string): Checkpoint {
  const empty = (problem: string | null): Checkpoint => ({ offsets: new Map(), topicIds: new Map(), problem });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return empty(missing ? null : `${file}: unreadable (${String(err)})`);
  }
  const lines = text.split('\n').filter((line) => line.length > 0);
  const version = Number(lines[0]);
  const count = Number(lines[1]);
  if ((version !== VERSION && version !== VERSION_NAMES_ONLY) || !Number.isInteger(count) || lines.length !== count + 2) {
    return empty(`${file}: malformed header; ignored`);
  }
  const checkpoint = empty(null);
  for (const line of lines.slice(2)) {
    const fields = line.split(' ');
    const [topic, partition, offset, topicId] = fields;
    const p = Number(partition);
    const o = Number(offset);
    const fieldCount = version === VERSION ? 4 : 3;
    if (fields.length !== fieldCount || topic === undefined || !Number.isInteger(p) || p < 0 || !Number.isSafeInteger(o) || o < 0) {
      return empty(`${file}: malformed line "${line}"; ignored`);
    }
    const key = partitionKey(topic, p);
    checkpoint.offsets.set(key, o);
    checkpoint.topicIds.set(key, topicId === undefined || topicId === NO_TOPIC_ID ? null : topicId);
  }
  return checkpoint;
}

/**
 * The checkpointed offset of a log, when the entry belongs to the log's topic incarnation;
 * `stale` describes an entry of another incarnation (ignored, reported as a repair).
 */
export function checkpointedOffset(checkpoint: Checkpoint, file: string, key: string, topicId: string | null): { offset: number | undefined; stale: string | null } {
  const offset = checkpoint.offsets.get(key);
  if (offset === undefined) return { offset, stale: null };
  const entryId = checkpoint.topicIds.get(key) ?? null;
  if (entryId === topicId) return { offset, stale: null };
  return { offset: undefined, stale: `${file}: the entry for ${key} belongs to topic id ${entryId ?? '(none)'}, not this log's ${topicId ?? '(none)'}; ignored` };
}
