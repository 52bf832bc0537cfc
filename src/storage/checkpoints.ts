/**
 * Offset checkpoint files in the data directory (`recovery-point-offset-checkpoint`,
 * `log-start-offset-checkpoint`), in Kafka's text format:
 *
 *   0                      version
 *   <n>                    number of entries
 *   <topic> <partition> <offset>   n lines
 *
 * Written atomically (temp file, fsync, rename, fsync directory). A missing or unreadable file
 * reads as empty: the logs then recover from offset 0, which is slow but never wrong.
 */
import fs from 'node:fs';
import { writeFileAtomicSync } from './file-io.js';

export const RECOVERY_POINT_CHECKPOINT = 'recovery-point-offset-checkpoint';
export const LOG_START_CHECKPOINT = 'log-start-offset-checkpoint';
const VERSION = 0;

export function partitionKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export function writeCheckpointSync(file: string, offsets: Map<string, { topic: string; partition: number; offset: number }>): void {
  const lines = [String(VERSION), String(offsets.size)];
  for (const { topic, partition, offset } of offsets.values()) lines.push(`${topic} ${partition} ${offset}`);
  writeFileAtomicSync(file, lines.join('\n') + '\n');
}

/** Reads a checkpoint; returns the offsets by `topic-partition`, and a problem when it was bad. */
export function readCheckpointSync(file: string): { offsets: Map<string, number>; problem: string | null } {
  const offsets = new Map<string, number>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { offsets, problem: missing ? null : `${file}: unreadable (${String(err)})` };
  }
  const lines = text.split('\n').filter((line) => line.length > 0);
  const count = Number(lines[1]);
  if (lines[0] !== String(VERSION) || !Number.isInteger(count) || lines.length !== count + 2) {
    return { offsets: new Map(), problem: `${file}: malformed header; ignored` };
  }
  for (const line of lines.slice(2)) {
    const [topic, partition, offset] = line.split(' ');
    const p = Number(partition);
    const o = Number(offset);
    if (topic === undefined || !Number.isInteger(p) || p < 0 || !Number.isSafeInteger(o) || o < 0) {
      return { offsets: new Map(), problem: `${file}: malformed line "${line}"; ignored` };
    }
    offsets.set(partitionKey(topic, p), o);
  }
  return { offsets, problem: null };
}
