/**
 * `runnel debug dump-log FILE`: prints a segment file batch by batch (as kafka-dump-log), or
 * the entries of its offset index (`.index`) or time index (`.timeindex`), read-only. Returns
 * the number of problems found, which the command turns into its exit code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RunnelError } from '../../common/errors.js';
import { Attr, Codec, type BatchHeader } from '../../format/batch-header.js';
import { decodeRecordBatch } from '../../format/record-batch.js';
import { OFFSET_INDEX_ENTRY_BYTES } from '../../storage/offset-index.js';
import { INDEX_SUFFIX, TIME_INDEX_SUFFIX } from '../../storage/segment.js';
import { scanSegmentFileSync, type ScannedBatch } from '../../storage/segment-scan.js';
import { TIME_INDEX_ENTRY_BYTES } from '../../storage/time-index.js';
import type { LineOutput } from '../line-output.js';

export function plural(count: number, word: string, words = `${word}s`): string {
  return `${count} ${count === 1 ? word : words}`;
}

/** Dumps a .log, .index or .timeindex file; returns the number of problems found. */
export async function dumpFile(out: LineOutput, file: string, records: boolean): Promise<number> {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isFile() !== true) throw new RunnelError('INVALID_ARGUMENT', `${file} is not a file`);
  const problems = file.endsWith(INDEX_SUFFIX)
    ? await dumpIndex(out, file, offsetIndexEntry, OFFSET_INDEX_ENTRY_BYTES)
    : file.endsWith(TIME_INDEX_SUFFIX)
      ? await dumpIndex(out, file, timeIndexEntry, TIME_INDEX_ENTRY_BYTES)
      : await dumpLog(out, file, records);
  await out.flush();
  return problems;
}

/** Prints the segment file; returns the number of problems found. */
async function dumpLog(out: LineOutput, file: string, records: boolean): Promise<number> {
  await out.line(`Dumping ${file}`);
  let batches = 0;
  let recordCount = 0;
  let bytes = 0;
  let problems = 0;
  // Any file, compacted or not: offsets need only go upwards (a segment's own base is verify's to check).
  const scan = scanSegmentFileSync(file, { denseOffsets: false, baseOffset: 0 });
  try {
    for (let step = scan.next(); !out.closed; step = scan.next()) {
      if (step.done === true) {
        if (step.value.problem !== null) {
          await out.line(`damage: ${file}:${step.value.position}: ${step.value.problem}`);
          problems++;
        }
        break;
      }
      const batch = step.value;
      await out.line(describeBatch(batch));
      if (records) for (const line of describeRecords(batch)) await out.line(line);
      if (batch.problem !== null) problems++;
      batches++;
      recordCount += batch.header.recordCount;
      bytes += batch.header.sizeBytes;
    }
  } finally {
    // Closes the file when the loop stopped early (the reader went away).
    scan.return({ position: 0, problem: null, nextOffset: 0 });
  }
  await out.line(`summary: ${plural(batches, 'batch', 'batches')}, ${plural(recordCount, 'record')}, ${bytes} bytes, ${plural(problems, 'problem')}`);
  return problems;
}

function describeBatch({ position, header: h, problem }: ScannedBatch): string {
  const crcValid = problem !== 'crc-mismatch';
  // checkBatchStructure says `records: <why>` for the record walk; this field is already `records`.
  const recordsStatus = problem === null ? 'ok' : crcValid ? problem.replace(/^records: /, '') : 'not walked (CRC mismatch)';
  return [
    `position: ${position}`,
    `baseOffset: ${h.baseOffset}`,
    `lastOffset: ${h.baseOffset + h.lastOffsetDelta}`,
    `count: ${h.recordCount}`,
    `size: ${h.sizeBytes}`,
    `partitionLeaderEpoch: ${h.partitionLeaderEpoch}`,
    `magic: ${h.magic}`,
    `codec: ${codecName(h)}`,
    `timestampType: ${(h.attributes & Attr.timestampTypeLogAppend) !== 0 ? 'LogAppendTime' : 'CreateTime'}`,
    `baseTimestamp: ${h.baseTimestampMs}`,
    `maxTimestamp: ${h.maxTimestampMs}`,
    `producerId: ${h.producerId}`,
    `producerEpoch: ${h.producerEpoch}`,
    `baseSequence: ${h.baseSequence}`,
    `transactional: ${(h.attributes & Attr.transactional) !== 0}`,
    `control: ${(h.attributes & Attr.control) !== 0}`,
    `crc: 0x${h.crc.toString(16).padStart(8, '0')}`,
    `crcValid: ${crcValid}`,
    `records: ${recordsStatus}`,
  ].join(' ');
}

function codecName(header: BatchHeader): string {
  const codec = header.attributes & Attr.codecMask;
  const names: Record<number, string> = { [Codec.None]: 'none', [Codec.Lz4]: 'lz4' };
  return names[codec] ?? `unknown(${codec})`;
}

/** One line per record; a batch that cannot be decoded gets one line saying why. */
function describeRecords(batch: ScannedBatch): string[] {
  if (batch.problem !== null) return [`| records not decoded: ${batch.problem}`];
  try {
    const decoded = decodeRecordBatch(batch.bytes, 0, (offset, timestampMs, key, value, headers) =>
      `| offset: ${offset} timestamp: ${timestampMs} keySize: ${key?.length ?? -1} valueSize: ${value?.length ?? -1} headers: ${headers.length}`,
    );
    return decoded.records;
  } catch (err) {
    return [`| records not decoded: ${err instanceof Error ? err.message : String(err)}`];
  }
}

interface IndexEntry {
  line: string;
  /** Why this entry breaks the index's rules given the previous one (as the index's loader says). */
  problem: (previous: Buffer | null) => string | null;
}

/** Prints one line per entry, `damage: ...` appended to an entry that breaks the rules. */
async function dumpIndex(out: LineOutput, file: string, decode: (buf: Buffer, pos: number, baseOffset: number) => IndexEntry, entryBytes: number): Promise<number> {
  if (!/^\d{20}\./.test(path.basename(file))) throw new RunnelError('INVALID_ARGUMENT', `${file}: an index file is named by its segment's base offset, 20 digits`);
  const baseOffset = Number(path.basename(file).slice(0, 20));
  const bytes = fs.readFileSync(file);
  await out.line(`Dumping ${file}`);
  const entries = Math.floor(bytes.length / entryBytes);
  let problems = 0;
  for (let i = 0; i < entries && !out.closed; i++) {
    const entry = decode(bytes, i * entryBytes, baseOffset);
    const problem = entry.problem(i > 0 ? bytes.subarray((i - 1) * entryBytes, i * entryBytes) : null);
    if (problem !== null) problems++;
    await out.line(problem === null ? entry.line : `${entry.line} damage: ${problem}`);
  }
  const trailing = bytes.length - entries * entryBytes;
  if (trailing > 0) {
    await out.line(`damage: ${file}:${entries * entryBytes}: ${trailing} trailing bytes, not a whole ${entryBytes}-byte entry`);
    problems++;
  }
  await out.line(`summary: ${plural(entries, 'entry', 'entries')}, ${plural(problems, 'problem')}`);
  return problems;
}

/** offset-index.ts: relativeOffset u32, position u32; both strictly increase, neither is 0. */
function offsetIndexEntry(buf: Buffer, pos: number, baseOffset: number): IndexEntry {
  const relativeOffset = buf.readUInt32BE(pos);
  const position = buf.readUInt32BE(pos + 4);
  return {
    line: `offset: ${baseOffset + relativeOffset} position: ${position}`,
    problem: (previous) => {
      if (relativeOffset === 0 || position === 0) return 'the first batch of a segment is never indexed';
      if (previous !== null && (relativeOffset <= previous.readUInt32BE(0) || position <= previous.readUInt32BE(4))) return 'entries do not increase';
      return null;
    },
  };
}

/** time-index.ts: timestampMs i64, relativeOffset u32; timestamps never decrease, offsets increase. */
function timeIndexEntry(buf: Buffer, pos: number, baseOffset: number): IndexEntry {
  const timestampMs = buf.readBigInt64BE(pos);
  const relativeOffset = buf.readUInt32BE(pos + 8);
  return {
    line: `timestamp: ${timestampMs} offset: ${baseOffset + relativeOffset}`,
    problem: (previous) => {
      if (relativeOffset === 0) return 'the first batch of a segment is never indexed';
      if (previous !== null && (timestampMs < previous.readBigInt64BE(0) || relativeOffset <= previous.readUInt32BE(8))) return 'entries go backwards';
      return null;
    },
  };
}
