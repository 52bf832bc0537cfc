/**
 * Snapshot files of a partition's idempotent-producer state, next to its log (Kafka's
 * `<offset>.snapshot`): `<offset as 20 digits>.snapshot` describes the state of every producer
 * after the batches below `offset`. One is written at every segment roll and at a clean
 * shutdown; the newest SNAPSHOTS_RETAINED are kept, so a restart replays only the batch headers
 * written after the newest valid one, not the whole retained log.
 *
 * Format: a JSON header line `{"version","crc32c","length"}`, then `length` bytes of JSON payload
 * `{"offset","producers":[{"id","epoch","lastUpdateMs","batches":[[firstSeq, lastSeq,
 * baseOffset, lastOffset, appendTimeMs], ...]}]}` (least recently used first), whose CRC-32C the
 * header holds.
 *
 * Written as a temp file renamed into place, without an fsync: a snapshot only saves replay time,
 * and one that a power loss tears or loses fails its CRC or is missing, so the load falls back
 * to an older one or to the log. No fsync also keeps the roll, which runs inside an append, off
 * the device. A snapshot beyond the log end (recovery cut the log below it) or below the log
 * start describes data that is no longer there, and is deleted when found.
 */
import fs from 'node:fs';
import path from 'node:path';
import { storageError } from '../common/errors.js';
import { crc32c } from '../format/crc32c.js';
import { writeFullySync } from '../storage/file-io.js';

export const PRODUCER_SNAPSHOT_SUFFIX = '.snapshot';
/** The single snapshot file of earlier versions (clean shutdown only), still read once. */
export const LEGACY_SNAPSHOT_FILE = 'producer-state.snapshot';
export const PRODUCER_STATE_SNAPSHOT_VERSION = 1;
export const SNAPSHOTS_RETAINED = 2;
const SNAPSHOT_NAME = /^(\d{20})\.snapshot$/;
const INT16_MAX = 0x7fff;
const INT32_MAX = 0x7fffffff;

export type SnapshotBatch = [firstSequence: number, lastSequence: number, baseOffset: number, lastOffset: number, appendTimeMs: number];

export interface SnapshotPayload {
  offset: number;
  producers: { id: number; epoch: number; lastUpdateMs: number; batches: SnapshotBatch[] }[];
}

export interface SnapshotRead {
  payload: SnapshotPayload | null;
  problem: string | null;
}

export function snapshotFileName(offset: number): string {
  return String(offset).padStart(20, '0') + PRODUCER_SNAPSHOT_SUFFIX;
}

/** Writes the snapshot (temp file, rename; no fsync: see above) and prunes the older ones. */
export function writeSnapshotFileSync(dir: string, payload: SnapshotPayload): void {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const header = JSON.stringify({ version: PRODUCER_STATE_SNAPSHOT_VERSION, crc32c: crc32c(body), length: body.length });
  const file = path.join(dir, snapshotFileName(payload.offset));
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      writeFullySync(fd, Buffer.concat([Buffer.from(`${header}\n`, 'utf8'), body]), 0);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    for (const older of snapshotFiles(dir).slice(SNAPSHOTS_RETAINED)) fs.rmSync(older, { force: true });
  } catch (err) {
    throw storageError(err, `write ${file}`);
  }
}

/** Snapshot files in `dir`, newest (highest offset) first, then the legacy one if present. */
export function snapshotFiles(dir: string): string[] {
  const names = fs.readdirSync(dir);
  const named = names.filter((name) => SNAPSHOT_NAME.test(name)).sort().reverse();
  if (names.includes(LEGACY_SNAPSHOT_FILE)) named.push(LEGACY_SNAPSHOT_FILE);
  return named.map((name) => path.join(dir, name));
}

/** The offset a snapshot file's name gives, or null (the legacy file names none). */
export function snapshotOffsetOf(file: string): number | null {
  const match = SNAPSHOT_NAME.exec(path.basename(file));
  return match === null ? null : Number(match[1]);
}

export function removeSnapshotSync(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (err) {
    throw storageError(err, `delete ${file}`);
  }
}

/** Reads and validates one snapshot file; never throws. */
export function readSnapshot(file: string): SnapshotRead {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    return { payload: null, problem: `${file}: unreadable (${err instanceof Error ? err.message : String(err)}); ignored` };
  }
  const bad = (why: string): SnapshotRead => ({ payload: null, problem: `${file}: ${why}; ignored` });
  const newline = data.indexOf(0x0a);
  if (newline < 0) return bad('no header line');
  let header: unknown;
  try {
    header = JSON.parse(data.subarray(0, newline).toString('utf8'));
  } catch {
    return bad('header is not JSON');
  }
  if (typeof header !== 'object' || header === null) return bad('header is not an object');
  const { version, crc32c: crc, length } = header as Record<string, unknown>;
  if (version !== PRODUCER_STATE_SNAPSHOT_VERSION) return bad(`unsupported version ${String(version)}`);
  const body = data.subarray(newline + 1);
  if (length !== body.length) return bad(`payload is ${body.length} bytes, header says ${String(length)}`);
  if (crc !== crc32c(body)) return bad('payload CRC-32C mismatch');
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('payload is not JSON');
  }
  const why = validatePayload(payload);
  if (why !== null) return bad(why);
  const named = snapshotOffsetOf(file);
  if (named !== null && named !== (payload as SnapshotPayload).offset) return bad(`its name says offset ${named}, its payload ${(payload as SnapshotPayload).offset}`);
  return { payload: payload as SnapshotPayload, problem: null };
}

/** Null when `payload` has the snapshot's shape and sane values; otherwise what is wrong. */
function validatePayload(payload: unknown): string | null {
  if (typeof payload !== 'object' || payload === null) return 'payload is not an object';
  const { offset, producers } = payload as Record<string, unknown>;
  if (!isIntIn(offset, 0, Number.MAX_SAFE_INTEGER)) return 'bad offset';
  if (!Array.isArray(producers)) return 'producers is not an array';
  for (const p of producers as unknown[]) {
    if (typeof p !== 'object' || p === null) return 'a producer is not an object';
    const { id, epoch, lastUpdateMs, batches } = p as Record<string, unknown>;
    if (!isIntIn(id, 0, Number.MAX_SAFE_INTEGER) || !isIntIn(epoch, 0, INT16_MAX) || !Number.isSafeInteger(lastUpdateMs)) {
      return 'a producer has a bad id, epoch or lastUpdateMs';
    }
    if (!Array.isArray(batches) || batches.length === 0) return `producer ${id} has no batches`;
    for (const b of batches as unknown[]) {
      if (
        !Array.isArray(b) ||
        b.length !== 5 ||
        !isIntIn(b[0], 0, INT32_MAX) ||
        !isIntIn(b[1], 0, INT32_MAX) ||
        !isIntIn(b[2], 0, Number.MAX_SAFE_INTEGER) ||
        !isIntIn(b[3], 0, Number.MAX_SAFE_INTEGER) ||
        !Number.isSafeInteger(b[4])
      ) {
        return `producer ${id} has a malformed batch`;
      }
    }
  }
  return null;
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
