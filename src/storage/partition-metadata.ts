/**
 * `partition.metadata` in each partition directory: which topic incarnation the log belongs to,
 * in Kafka's format:
 *
 *   version: 0
 *   topic_id: <topic id>
 *
 * Written atomically (temp file, fsync, rename, directory fsync) before the log's first segment,
 * so every log created since this file existed carries its topic id. The broker reconciles logs
 * with topics by id: a log whose id differs from the topic of its name belongs to an older
 * incarnation and is never adopted. A directory without the file predates it (adopted once).
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunnelError } from '../common/errors.js';
import { writeFileAtomicSync } from './file-io.js';

export const PARTITION_METADATA_FILE = 'partition.metadata';
const VERSION = 0;
const TOPIC_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A topic id fits one token of partition.metadata and of a checkpoint line. */
export function isValidTopicId(topicId: string): boolean {
  return TOPIC_ID_PATTERN.test(topicId);
}

export function writePartitionMetadataSync(dir: string, topicId: string): void {
  writeFileAtomicSync(path.join(dir, PARTITION_METADATA_FILE), `version: ${VERSION}\ntopic_id: ${topicId}\n`);
}

/**
 * The topic id stored in `dir`, or null when the directory has no partition.metadata (a log
 * from before it existed). A file that is there but unreadable is an error naming the file and
 * the fix: guessing the owner could hand one incarnation's records to another.
 */
export function readPartitionMetadataSync(dir: string): string | null {
  const file = path.join(dir, PARTITION_METADATA_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unreadable(file, (err as Error).message);
  }
  const match = /^version: (\d+)\ntopic_id: (\S+)\n?$/.exec(text);
  if (match === null) throw unreadable(file, 'not "version: 0" and "topic_id: <id>" lines');
  if (Number(match[1]) !== VERSION) throw unreadable(file, `unsupported version ${match[1]}`);
  if (!isValidTopicId(match[2]!)) throw unreadable(file, `bad topic id "${match[2]}"`);
  return match[2]!;
}

function unreadable(file: string, reason: string): RunnelError {
  return new RunnelError(
    'STORAGE_ERROR',
    `cannot start: ${file} is unreadable (${reason}); restore it from a backup, or remove it to let the topic named by the directory adopt this log`,
    { file },
  );
}
