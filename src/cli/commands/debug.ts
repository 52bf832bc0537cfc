/**
 * `runnel debug dump-log FILE` and `runnel debug verify DATA_DIR`: offline tools that read a
 * data directory and never change it (files are opened read-only; the data-directory lock is
 * only probed, with a shared lock dropped at once).
 *
 * dump-log prints every batch of a segment file, as Kafka's kafka-dump-log does, one line of
 * `key: value` fields per batch (`--records`: one `| ...` line per record after it); exit 1
 * when a batch is damaged, else 0. verify prints one `damage: <file>[:<position>]: ...` line per
 * problem and `note: ...` lines, then a summary; exit 0 when clean, 1 on damage, 2 when it could
 * not run (no such directory, or a broker holds it).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { RunnelError, isRunnelError } from '../../common/errors.js';
import { Attr, Codec, type BatchHeader } from '../../format/batch-header.js';
import { decodeRecordBatch } from '../../format/record-batch.js';
import { scanSegmentFileSync, type ScannedBatch } from '../../storage/segment-scan.js';
import { verifyDataDirSync } from '../../storage/verify.js';

const EXIT_DAMAGE = 1;
const EXIT_CANNOT_RUN = 2;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function registerDebugCommands(program: Command): void {
  const debug = program.command('debug').description('offline, read-only tools for data directories');
  debug
    .command('dump-log <file>')
    .description('print every batch of a segment file (.log): offsets, timestamps, producer fields, codec, CRC status')
    .option('--records', 'also print every record: offset, timestamp, key and value sizes, header count')
    .action((file: string, flags: { records?: boolean }) => {
      process.exitCode = dumpLog(file, flags.records === true) > 0 ? EXIT_DAMAGE : 0;
    });
  debug
    .command('verify <dataDir>')
    .description('check a stopped broker\'s data directory: CRCs, record walks, gaps, indexes, checkpoints (exit 0 clean, 1 damage, 2 cannot run)')
    .action((dataDir: string) => {
      try {
        const report = verifyDataDirSync(dataDir);
        for (const line of report.damage) out(`damage: ${line}`);
        for (const line of report.notes) out(`note: ${line}`);
        const problems = `${report.damage.length} problem${report.damage.length === 1 ? '' : 's'}`;
        out(`verified ${report.partitions} partitions, ${report.segments} segments, ${report.batches} batches: ${problems}`);
        process.exitCode = report.damage.length > 0 ? EXIT_DAMAGE : 0;
      } catch (err) {
        process.stderr.write(`runnel: ${isRunnelError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = EXIT_CANNOT_RUN;
      }
    });
}

/** Prints the segment file; returns the number of problems found. */
function dumpLog(file: string, records: boolean): number {
  if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new RunnelError('INVALID_ARGUMENT', `${file} is not a file`);
  out(`Dumping ${file}`);
  let batches = 0;
  let recordCount = 0;
  let bytes = 0;
  let problems = 0;
  const scan = scanSegmentFileSync(file, { denseOffsets: false });
  for (let step = scan.next(); ; step = scan.next()) {
    if (step.done === true) {
      if (step.value.problem !== null) {
        out(`damage: ${file}:${step.value.position}: ${step.value.problem}`);
        problems++;
      }
      break;
    }
    const batch = step.value;
    out(describeBatch(batch));
    if (records) for (const line of describeRecords(batch)) out(line);
    if (batch.problem !== null) problems++;
    batches++;
    recordCount += batch.header.recordCount;
    bytes += batch.header.sizeBytes;
  }
  out(`summary: ${batches} batches, ${recordCount} records, ${bytes} bytes, ${problems} problem${problems === 1 ? '' : 's'}`);
  return problems;
}

function describeBatch({ position, header: h, problem }: ScannedBatch): string {
  const crcValid = problem !== 'crc-mismatch';
  const recordsStatus = problem === null ? 'ok' : crcValid ? problem : 'not walked (CRC mismatch)';
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
