/**
 * The start-time check of the process's open-file limit (RLIMIT_NOFILE). Every segment of every
 * partition holds its `.log` descriptor for the broker's life, every client connection a socket,
 * and flushes, checkpoints and index writes open files for a moment: a soft limit below that
 * shows up later as EMFILE on a roll (the partition then refuses appends) or an accept. Node can
 * neither read nor raise the limit through an API, so on Linux it is read from
 * /proc/self/limits; elsewhere the check is skipped.
 */
import fs from 'node:fs';
import type { Logger } from '../common/logger.js';

/** Descriptors beyond segments and connections: node itself, the lock, transient opens. */
const OPEN_FILES_HEADROOM = 64;

/** The soft open-file limit of this process, or null when it cannot be read (or is unlimited). */
export function openFilesSoftLimit(limitsFile = '/proc/self/limits'): number | null {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, 'utf8');
  } catch {
    return null;
  }
  const match = /^Max open files\s+(\S+)/m.exec(text);
  if (match === null || match[1] === 'unlimited') return null;
  const soft = Number(match[1]);
  return Number.isSafeInteger(soft) ? soft : null;
}

/** Logs a warning when the soft limit is below what `segments` and `maxConnections` need. */
export function checkOpenFileLimit(segments: number, maxConnections: number, logger: Logger, softLimit = openFilesSoftLimit()): void {
  if (softLimit === null) return;
  const needed = segments + maxConnections + OPEN_FILES_HEADROOM;
  if (softLimit >= needed) return;
  logger.warn(
    { openFilesSoftLimit: softLimit, openFilesNeeded: needed, segments, maxConnections, headroom: OPEN_FILES_HEADROOM },
    `the open-file limit (${softLimit}) is below what this broker needs (${needed}: one per segment, one per connection up to limits.maxConnections, ${OPEN_FILES_HEADROOM} more): raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower limits.maxConnections, or rolls and accepts will fail with EMFILE`,
  );
}
