/**
 * `<partition dir>/damaged-segments`: the record that a partition log holds damaged data (a bad
 * batch found by recovery below the torn-tail rule, or by the scrub), kept so the partition
 * stays offline across restarts until the damage is repaired. Sealed segments are not
 * re-validated at a clean open, so without it a clean restart would serve the damaged segment
 * again. While the file exists, every segment of the log is re-validated at open; when none is
 * damaged any more (restored from a backup), the file is removed and the partition is back.
 *
 * Text, one line per damaged segment, for the operator: `<segment file name> position <bytes>
 * offset <offset>: <problem>`. Read back are the file's presence and the segment names: a
 * segment named there is never cut as a torn tail at a later open (recovery lowers the recovery
 * point to the end of the valid data, so the damage would otherwise look beyond it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirSync, writeFileAtomicSync } from './file-io.js';

export const DAMAGE_MARKER_FILE = 'damaged-segments';

/** The segment file names the marker holds; null when there is no marker. */
export function readDamagedSegmentsSync(dir: string): Set<string> | null {
  const lines = readDamageMarkerLinesSync(dir);
  return lines === null ? null : new Set(lines.map((line) => line.split(' ')[0]!));
}

/** The marker's lines, one per damaged segment (for the ops tools); null when there is no marker. */
export function readDamageMarkerLinesSync(dir: string): string[] | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, DAMAGE_MARKER_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return text.split('\n').filter((line) => line.length > 0);
}

/** Writes the marker atomically and durably (the partition must stay offline after a crash). */
export function writeDamageMarkerSync(dir: string, lines: readonly string[]): void {
  writeFileAtomicSync(path.join(dir, DAMAGE_MARKER_FILE), lines.map((line) => `${line}\n`).join(''));
}

export function removeDamageMarkerSync(dir: string): void {
  fs.rmSync(path.join(dir, DAMAGE_MARKER_FILE), { force: true });
  fsyncDirSync(dir);
}
