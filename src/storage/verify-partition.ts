/**
 * Read-only verification of one partition directory, for `runnel debug verify`: every batch of
 * every segment is checked as recovery checks it (checkStoredBatch, through segment-scan.ts:
 * length, magic, CRC, the record walk, offset order), offsets must follow each other inside a segment and from one segment to the next (no overlap; no gap
 * unless the log is compacted), and every offset-index and time-index entry must say what the
 * log says: an offset-index entry names the base offset of the batch that starts at its
 * position, a time-index entry the greatest maxTimestamp of the segment's batches before its
 * offset (the rule Segment writes them by; see time-index.ts).
 *
 * Whether a segment may skip offsets is decided per segment, as PartitionLog.loadSegmentsSync
 * decides it: a segment with a `<base>.compacted` marker was rewritten by compaction, so its
 * batches may skip offsets and it may end before the next segment starts, whatever the topic's
 * cleanupPolicy is now (compact, then delete); other segments follow the policy.
 *
 * A `damaged-segments` file (the broker keeps the partition offline) is reported as damage,
 * with what it lists, and the segments are still checked.
 *
 * Problems are returned as lines naming the file and, where there is one, the byte position
 * (`<file>:<position>: ...`). Nothing here writes: segments are read through segment-scan.ts,
 * indexes through SparseIndex.loadSync, which only reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DAMAGE_MARKER_FILE, readDamageMarkerLinesSync } from './damage-marker.js';
import { OffsetIndex } from './offset-index.js';
import { scanSegmentFileSync } from './segment-scan.js';
import { COMPACTED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segmentFileName } from './segment.js';
import { TimeIndex } from './time-index.js';

export interface Findings {
  /** Damage: data missing, unreadable or contradicted. Any of it makes verify exit non-zero. */
  damage: string[];
  /** Worth knowing, not damage (e.g. an index the broker will rebuild because it is missing). */
  notes: string[];
}

export interface PartitionSummary extends Findings {
  segments: number;
  batches: number;
  /** Base offset of the first segment; the log end offset (after the last whole batch). */
  firstOffset: number;
  endOffset: number;
}

const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex|compacted)$/;
/** Left by an interrupted compaction swap or segment deletion; the broker finishes them at open. */
const LEFTOVER = /\.(cleaned|swap|deleted|tmp)$/;

export function verifyPartitionDirSync(dir: string, options: { denseOffsets: boolean }): PartitionSummary {
  const summary: PartitionSummary = { damage: [], notes: [], segments: 0, batches: 0, firstOffset: 0, endOffset: 0 };
  const names = fs.readdirSync(dir).sort();
  const bases = names.filter((name) => name.endsWith(LOG_SUFFIX) && SEGMENT_FILE.test(name)).map((name) => Number(name.slice(0, 20)));
  for (const name of names) {
    const match = SEGMENT_FILE.exec(name);
    const orphan = match !== null && match[2] !== 'log' && !bases.includes(Number(match[1]));
    // A marker without its segment is harmless: a new segment of that base removes it.
    if (orphan && match[2] === 'compacted') summary.notes.push(`${path.join(dir, name)}: compaction marker without its log segment; ignored`);
    else if (orphan) summary.damage.push(`${path.join(dir, name)}: index file without its log segment`);
    if (LEFTOVER.test(name)) summary.notes.push(`${path.join(dir, name)}: left by an interrupted operation; the broker finishes it at its next start`);
  }
  checkDamageMarker(dir, summary);
  summary.firstOffset = bases[0] ?? 0;
  let previous: AdjacentSegment | null = null;
  for (const base of bases) {
    const name = segmentFileName(base, LOG_SUFFIX);
    const dense = options.denseOffsets && !names.includes(segmentFileName(base, COMPACTED_SUFFIX));
    if (previous !== null) checkAdjacent(dir, previous, name, base, summary);
    const { nextOffset, batches } = verifySegmentSync(dir, base, dense, summary);
    summary.segments++;
    summary.batches += batches;
    previous = { name, nextOffset, dense };
  }
  summary.endOffset = previous?.nextOffset ?? 0;
  return summary;
}

/**
 * `damaged-segments` (damage-marker.ts): the broker's own record that it keeps the partition
 * offline. It is damage whatever the segments look like now: until a start re-validates them
 * all and finds them sound, the broker serves nothing at or after the first damaged offset.
 */
function checkDamageMarker(dir: string, out: Findings): void {
  const file = path.join(dir, DAMAGE_MARKER_FILE);
  let lines: string[] | null;
  try {
    lines = readDamageMarkerLinesSync(dir);
  } catch (err) {
    out.damage.push(`${file}: unreadable (${String(err)}); the broker cannot open this partition`);
    return;
  }
  if (lines === null) return;
  const offline = 'the broker keeps this partition offline from the damaged offset by its own record';
  if (lines.length === 0) out.damage.push(`${file}: ${offline}, which lists no segment`);
  for (const line of lines) out.damage.push(`${file}: ${offline}: ${line}`);
  out.notes.push(`${file}: the broker re-validates every segment of this partition at each start; restore the damaged segment from a backup and restart to bring it back (docs/storage.md)`);
}

/** A segment as its successor is checked against it: a compacted one (not dense) may end before the next starts. */
interface AdjacentSegment {
  name: string;
  nextOffset: number;
  dense: boolean;
}

function checkAdjacent(dir: string, previous: AdjacentSegment, name: string, base: number, out: Findings): void {
  if (base < previous.nextOffset) {
    out.damage.push(`${dir}: segments ${previous.name} and ${name} overlap: the first ends at offset ${previous.nextOffset - 1}, the second starts at ${base}`);
  } else if (base > previous.nextOffset && previous.dense) {
    out.damage.push(`${dir}: offsets ${previous.nextOffset} to ${base - 1} are missing between ${previous.name} and ${name}`);
  }
}

/** Checks one segment and its indexes; returns the offset after its last batch and its batch count. */
function verifySegmentSync(dir: string, base: number, dense: boolean, out: Findings): { nextOffset: number; batches: number } {
  const file = path.join(dir, segmentFileName(base, LOG_SUFFIX));
  const indexes = loadIndexes(dir, base, out);
  let timestampBeforeMs = -1;
  let batches = 0;
  // Each batch is checked by checkStoredBatch (in the scan): structure and offset order, as recovery checks it.
  const scan = scanSegmentFileSync(file, { denseOffsets: dense, baseOffset: base });
  for (let step = scan.next(); ; step = scan.next()) {
    if (step.done === true) {
      if (step.value.problem !== null) out.damage.push(`${file}:${step.value.position}: ${step.value.problem}`);
      indexes.finish(step.value.position);
      return { nextOffset: step.value.nextOffset, batches };
    }
    const { position, header, problem } = step.value;
    if (problem !== null) out.damage.push(`${file}:${position}: batch of offsets ${header.baseOffset} to ${header.baseOffset + header.lastOffsetDelta}: ${problem}`);
    indexes.onBatch(position, header.baseOffset, timestampBeforeMs);
    timestampBeforeMs = Math.max(timestampBeforeMs, header.maxTimestampMs);
    batches++;
  }
}

/** Loads both indexes read-only; a missing one is a note (rebuilt at open), a bad one damage. */
function loadIndexes(dir: string, base: number, out: Findings): IndexCursor {
  const offsetIndex = new OffsetIndex(path.join(dir, segmentFileName(base, INDEX_SUFFIX)), base);
  const timeIndex = new TimeIndex(path.join(dir, segmentFileName(base, TIME_INDEX_SUFFIX)), base);
  const usable = (index: OffsetIndex | TimeIndex): boolean => {
    const problem = index.loadSync();
    if (problem === 'missing') out.notes.push(`${index.file}: missing; the broker rebuilds it from the log`);
    else if (problem !== null) out.damage.push(`${index.file}: ${problem}`);
    return problem === null;
  };
  const offsets = usable(offsetIndex) ? offsetIndex : null;
  const times = usable(timeIndex) ? timeIndex : null;
  if (offsets !== null && times !== null && !indexesPair(offsets, times, out)) return new IndexCursor(offsets, null, out);
  return new IndexCursor(offsets, times, out);
}

/** Entry i of the time index is written with entry i of the offset index, for the same batch. */
function indexesPair(offsets: OffsetIndex, times: TimeIndex, out: Findings): boolean {
  if (times.entryCount !== offsets.entryCount) {
    out.damage.push(`${times.file}: ${times.entryCount} entries, its offset index ${offsets.entryCount}; they are written in pairs`);
    return false;
  }
  for (let i = 0; i < times.entryCount; i++) {
    if (times.entry(i).offset !== offsets.entry(i).offset) {
      out.damage.push(`${times.file}: entry ${i} names offset ${times.entry(i).offset}, entry ${i} of its offset index ${offsets.entry(i).offset}`);
      return false;
    }
  }
  return true;
}

/**
 * Walks the index entries alongside the batches: the offset index by position, the time index
 * by offset, so a segment of any size is checked in one pass without holding its batches.
 */
class IndexCursor {
  private offsetEntry = 0;
  private timeEntry = 0;

  constructor(
    private readonly offsets: OffsetIndex | null,
    private readonly times: TimeIndex | null,
    private readonly out: Findings,
  ) {}

  onBatch(position: number, baseOffset: number, timestampBeforeMs: number): void {
    const offsets = this.offsets;
    if (offsets !== null) {
      for (; this.offsetEntry < offsets.entryCount && offsets.entry(this.offsetEntry).position <= position; this.offsetEntry++) {
        const entry = offsets.entry(this.offsetEntry);
        if (entry.position < position) this.out.damage.push(`${offsets.file}: entry ${this.offsetEntry} points at position ${entry.position}, where no batch starts`);
        else if (entry.offset !== baseOffset) this.out.damage.push(`${offsets.file}: entry ${this.offsetEntry} says offset ${entry.offset} at position ${position}, the batch there starts at ${baseOffset}`);
      }
    }
    const times = this.times;
    if (times !== null) {
      for (; this.timeEntry < times.entryCount && times.entry(this.timeEntry).offset <= baseOffset; this.timeEntry++) {
        const entry = times.entry(this.timeEntry);
        if (entry.offset < baseOffset) this.out.damage.push(`${times.file}: entry ${this.timeEntry} names offset ${entry.offset}, where no batch starts`);
        else if (entry.timestampMs !== timestampBeforeMs) {
          this.out.damage.push(`${times.file}: entry ${this.timeEntry} says ${entry.timestampMs} for offset ${entry.offset}, the batches before it reach ${timestampBeforeMs}`);
        }
      }
    }
  }

  /** Entries left after the last whole batch point past it. */
  finish(endPosition: number): void {
    for (let i = this.offsetEntry; this.offsets !== null && i < this.offsets.entryCount; i++) {
      this.out.damage.push(`${this.offsets.file}: entry ${i} points at position ${this.offsets.entry(i).position}, past the last whole batch (which ends at ${endPosition})`);
    }
    for (let i = this.timeEntry; this.times !== null && i < this.times.entryCount; i++) {
      this.out.damage.push(`${this.times.file}: entry ${i} names offset ${this.times.entry(i).offset}, past the last whole batch`);
    }
  }
}
