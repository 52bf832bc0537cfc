/**
 * `runnel debug dump-log FILE` and `runnel debug verify DATA_DIR`, run as the built CLI on data
 * directories written by a real LogManager in temp directories, then damaged as disks and
 * operators damage them: a flipped byte in a sealed segment, a truncated middle segment, a
 * deleted middle segment, a corrupt offset index and time index, corrupt checkpoints. Every
 * damage must be reported, one line naming the file (and the position when there is one), with
 * a non-zero exit; a clean directory exits 0; neither tool changes a byte of what it reads.
 */
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Pos, computeBatchCrc, readBatchSize } from '../../src/format/batch-header.js';
import { resolveLogConfig } from '../../src/storage/log-config.js';
import { LogManager } from '../../src/storage/log-manager.js';
import { scanSegmentFileSync } from '../../src/storage/segment-scan.js';
import { makeBatch, tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const TOPIC = 'orders';
const BATCHES = 50;
const RECORDS_PER_BATCH = 3;
const logs = { segmentBytes: 4096, maxBatchBytes: 4096, indexIntervalBytes: 256, retentionMs: -1 };

function runnel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A cleanly closed data directory: topic `orders`, partitions 0 and 1, several segments each. */
async function buildDataDir(): Promise<string> {
  const dataDir = tempDir('runnel-debug-');
  const manager = LogManager.open({ dataDir, background: false, defaultConfig: logs });
  for (const partition of [0, 1]) {
    const log = manager.createLog(TOPIC, partition);
    for (let i = 0; i < BATCHES; i++) await log.append(makeBatch({ records: RECORDS_PER_BATCH, valueBytes: 64, timestampMs: 1_700_000_000_000 + i * 1000 }));
  }
  await manager.close();
  return dataDir;
}

function partitionDir(dataDir: string, partition = 0): string {
  return path.join(dataDir, `${TOPIC}-${partition}`);
}

/** Segment files of a partition, oldest first, by suffix. */
function segments(dataDir: string, suffix = '.log', partition = 0): string[] {
  const dir = partitionDir(dataDir, partition);
  return fs
    .readdirSync(dir)
    .filter((name) => /^\d{20}\./.test(name) && name.endsWith(suffix))
    .sort()
    .map((name) => path.join(dir, name));
}

/** Name, size, mtime and content hash of every file under `dir`: what "changed nothing" means. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const stat = fs.statSync(file);
    const hash = stat.isFile() ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : 'dir';
    out.push(`${path.relative(dir, file)} ${stat.size} ${stat.mtimeMs} ${hash}`);
  }
  return out.sort();
}

/** How many segments of a partition end before the next one starts (read with the tools' own scan). */
function gapsBetweenSegments(dir: string): number {
  const bases = fs.readdirSync(dir).filter((name) => /^\d{20}\.log$/.test(name)).sort();
  let gaps = 0;
  for (let i = 0; i + 1 < bases.length; i++) {
    let nextOffset = Number(bases[i].slice(0, 20));
    for (const batch of scanSegmentFileSync(path.join(dir, bases[i]), { denseOffsets: false, baseOffset: 0 })) nextOffset = batch.header.baseOffset + batch.header.lastOffsetDelta + 1;
    if (Number(bases[i + 1].slice(0, 20)) > nextOffset) gaps++;
  }
  return gaps;
}

function damageLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line.startsWith('damage: '));
}

/** Runs verify on a damaged directory: non-zero, and nothing it read was changed. */
async function verifyDamaged(dataDir: string): Promise<string[]> {
  const before = snapshot(dataDir);
  const result = await runnel(['debug', 'verify', dataDir]);
  expect(snapshot(dataDir)).toEqual(before);
  expect(result.code, result.stdout + result.stderr).toBe(1);
  const damage = damageLines(result.stdout);
  expect(damage.length).toBeGreaterThan(0);
  expect(result.stdout).toMatch(new RegExp(`^verified 2 partitions, \\d+ segments, \\d+ batches: ${damage.length} problems?$`, 'm'));
  return damage;
}

describe('runnel debug verify', () => {
  it('exits 0 on a clean directory, and changes nothing', async () => {
    const dataDir = await buildDataDir();
    expect(segments(dataDir).length).toBeGreaterThanOrEqual(3);
    const before = snapshot(dataDir);
    const result = await runnel(['debug', 'verify', dataDir]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(damageLines(result.stdout)).toEqual([]);
    expect(result.stdout).toMatch(new RegExp(`^verified 2 partitions, \\d+ segments, ${2 * BATCHES} batches: 0 problems$`, 'm'));
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('reports a flipped byte in a sealed segment with its file and batch position', async () => {
    const dataDir = await buildDataDir();
    const sealed = segments(dataDir)[0];
    const bytes = fs.readFileSync(sealed);
    bytes[100] = bytes[100] ^ 0xff; // inside the records of the first batch (position 0)
    fs.writeFileSync(sealed, bytes);
    const damage = await verifyDamaged(dataDir);
    expect(damage).toEqual([expect.stringMatching(new RegExp(`^damage: ${sealed}:0: .*crc`, 'i'))]);
  });

  it('reports a CRC-valid batch whose records lie (the record walk), in verify and dump-log', async () => {
    const dataDir = await buildDataDir();
    const sealed = segments(dataDir)[0];
    const bytes = fs.readFileSync(sealed);
    // The first record's length varint (byte 61, zigzag): claim far more bytes than the batch
    // holds, then make the CRC right again, as a buggy or hostile writer would.
    bytes[61] = 0x7e;
    bytes.writeUInt32BE(computeBatchCrc(bytes.subarray(0, readBatchSize(bytes, 0))), Pos.crc);
    fs.writeFileSync(sealed, bytes);
    const damage = await verifyDamaged(dataDir);
    expect(damage).toEqual([expect.stringMatching(new RegExp(`^damage: ${sealed}:0: batch of offsets 0 to 2: records: `))]);
    const dumped = await runnel(['debug', 'dump-log', sealed]);
    expect(dumped.code).toBe(1);
    expect(dumped.stdout.split('\n').find((line) => line.startsWith('position: 0 '))).toMatch(/crcValid: true records: corrupt record batch: /);
  });

  it('reports a truncated middle segment: the partial batch and the offsets missing after it', async () => {
    const dataDir = await buildDataDir();
    const middle = segments(dataDir)[1];
    fs.truncateSync(middle, fs.statSync(middle).size - 10);
    const damage = await verifyDamaged(dataDir);
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${middle}:\\d+: partial batch`)));
    expect(damage).toContainEqual(expect.stringMatching(/offsets \d+ to \d+ are missing/));
  });

  it('reports a deleted middle segment as a gap between its neighbours', async () => {
    const dataDir = await buildDataDir();
    const [first, middle, next] = segments(dataDir);
    for (const suffix of ['.log', '.index', '.timeindex']) fs.rmSync(middle.replace(/\.log$/, suffix));
    const damage = await verifyDamaged(dataDir);
    expect(damage).toEqual([expect.stringMatching(new RegExp(`^damage: ${partitionDir(dataDir)}: offsets \\d+ to \\d+ are missing between ${path.basename(first)} and ${path.basename(next)}`))]);
  });

  it('reports an offset index entry that points into the middle of a batch, and a time index entry that lies', async () => {
    const dataDir = await buildDataDir();
    const index = segments(dataDir, '.index')[0];
    const entries = fs.readFileSync(index);
    expect(entries.length).toBeGreaterThanOrEqual(16);
    entries.writeUInt32BE(entries.readUInt32BE(4) + 1, 4); // entry 0's position, off by one byte
    fs.writeFileSync(index, entries);
    const timeIndex = segments(dataDir, '.timeindex', 1)[0];
    const times = fs.readFileSync(timeIndex);
    times.writeBigInt64BE(times.readBigInt64BE(12) + 1n, 12); // entry 1's timestamp
    fs.writeFileSync(timeIndex, times);
    const damage = await verifyDamaged(dataDir);
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${index}: entry 0 `)));
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${timeIndex}: entry 1 `)));
  });

  it('reports an unreadable checkpoint and a checkpoint offset beyond the log end', async () => {
    const dataDir = await buildDataDir();
    const recovery = path.join(dataDir, 'recovery-point-offset-checkpoint');
    fs.writeFileSync(recovery, 'garbage\n');
    const logStart = path.join(dataDir, 'log-start-offset-checkpoint');
    const lines = fs.readFileSync(logStart, 'utf8').split('\n');
    const at = lines.findIndex((line) => line.startsWith(`${TOPIC} 0 `));
    const fields = lines[at].split(' ');
    fields[2] = '999999';
    lines[at] = fields.join(' ');
    fs.writeFileSync(logStart, lines.join('\n'));
    const damage = await verifyDamaged(dataDir);
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${recovery}: `)));
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${logStart}: ${TOPIC}-0 .*999999.*log end`)));
  });

  it('allows the gaps of a compacted log, as its topic file or --default-cleanup-policy says, and calls them damage otherwise', async () => {
    const dataDir = tempDir('runnel-debug-');
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: { ...logs, cleanupPolicy: 'compact', deleteRetentionMs: 0 } });
    const log = manager.createLog('table', 0);
    for (let i = 0; i < BATCHES; i++) await log.append(makeBatch({ keys: ['a', `b${i % 4}`, `c${i}`], valueBytes: 64, timestampMs: 1_700_000_000_000 + i }));
    const [result] = await manager.runCompaction({ force: true });
    expect(result?.recordsRemoved).toBeGreaterThan(0);
    await manager.close();
    // As a version from before the .compacted markers left the segments (with the markers,
    // their gaps are allowed whatever the policy: the next test).
    const markers = fs.readdirSync(path.join(dataDir, 'table-0')).filter((name) => name.endsWith('.compacted'));
    expect(markers.length).toBeGreaterThan(0);
    for (const marker of markers) fs.rmSync(path.join(dataDir, 'table-0', marker));

    const withoutPolicy = await runnel(['debug', 'verify', dataDir]);
    expect(withoutPolicy.code, withoutPolicy.stdout).toBe(1); // read as a delete-policy log: its gaps are damage
    const flagged = await runnel(['debug', 'verify', '--default-cleanup-policy', 'compact', dataDir]);
    expect(flagged.code, flagged.stdout).toBe(0);
    fs.mkdirSync(path.join(dataDir, 'meta', 'topics'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'meta', 'topics', 'table.json'), JSON.stringify({ name: 'table', configs: { cleanupPolicy: 'compact' } }));
    const fromTopicFile = await runnel(['debug', 'verify', dataDir]);
    expect(fromTopicFile.code, fromTopicFile.stdout).toBe(0);
    expect(fromTopicFile.stdout).toMatch(/^verified 1 partitions, \d+ segments, \d+ batches: 0 problems$/m);
    const badFlag = await runnel(['debug', 'verify', '--default-cleanup-policy', 'sometimes', dataDir]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: INVALID_ARGUMENT: .*cleanup-policy/)]);
  });

  it('checks a checkpoint entry only against the log of its own topic id; an entry of another incarnation is a note, as the broker ignores it', async () => {
    const dataDir = tempDir('runnel-debug-');
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: logs });
    const old = manager.createLog(TOPIC, 0, undefined, 'incarnation-1');
    for (let i = 0; i < 10; i++) await old.append(makeBatch({ records: RECORDS_PER_BATCH }), { durable: true });
    manager.deleteRecords(TOPIC, 0, 24); // the log-start checkpoint says orders 0 24 incarnation-1
    const logStart = path.join(dataDir, 'log-start-offset-checkpoint');
    const oldCheckpoint = fs.readFileSync(logStart);
    await manager.deleteLog(TOPIC, 0);
    const reborn = manager.createLog(TOPIC, 0, undefined, 'incarnation-2');
    for (let i = 0; i < 2; i++) await reborn.append(makeBatch({ records: RECORDS_PER_BATCH }), { durable: true });
    await manager.close();
    // The old incarnation's checkpoint, as a restore of the file from a backup leaves it: its
    // log start (24) is beyond the new log's end (6), but it is not this log's entry.
    fs.writeFileSync(logStart, oldCheckpoint);
    expect(oldCheckpoint.toString()).toMatch(/^orders 0 24 incarnation-1$/m);

    const before = snapshot(dataDir);
    const result = await runnel(['debug', 'verify', dataDir]);
    expect(snapshot(dataDir)).toEqual(before);
    expect(result.code, result.stdout).toBe(0);
    expect(damageLines(result.stdout)).toEqual([]);
    expect(result.stdout).toMatch(new RegExp(`^note: ${logStart}: the entry for ${TOPIC}-0 belongs to topic id incarnation-1, not this log's incarnation-2; ignored`, 'm'));

    // The broker does the same: the stale entry does not move the new log's start.
    const again = LogManager.open({ dataDir, background: false, defaultConfig: logs });
    expect(again.requireLog(TOPIC, 0).logStartOffset).toBe(0);
    await again.close();

    // An entry of the log's own incarnation is still checked against it.
    fs.writeFileSync(logStart, `1\n1\n${TOPIC} 0 999 incarnation-2\n`);
    const own = await runnel(['debug', 'verify', dataDir]);
    expect(own.code, own.stdout).toBe(1);
    expect(damageLines(own.stdout)).toEqual([expect.stringMatching(new RegExp(`^damage: ${logStart}: ${TOPIC}-0 log start offset 999 is beyond the log end 6`))]);
  });

  it('allows the gaps of segments with a .compacted marker, within and after them, after the topic was switched to delete', async () => {
    const dataDir = tempDir('runnel-debug-');
    const compact = { ...logs, cleanupPolicy: 'compact' as const, deleteRetentionMs: 0 };
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: compact });
    const log = manager.createLog('table', 0);
    // Most batches hold only keys written again later: compaction removes them whole, also at
    // the end of segments, so there are gaps inside and after compacted segments.
    for (let i = 0; i < BATCHES; i++) await log.append(makeBatch({ keys: ['a', `b${i % 4}`, i % 6 === 0 ? `c${i}` : 'a'], valueBytes: 64, timestampMs: 1_700_000_000_000 + i }));
    const [result] = await manager.runCompaction({ force: true });
    expect(result?.recordsRemoved).toBeGreaterThan(0);
    log.updateConfig(resolveLogConfig({ ...compact, cleanupPolicy: 'delete' })); // alter configs: compact -> delete
    for (let i = 0; i < 3; i++) await log.append(makeBatch({ records: RECORDS_PER_BATCH }));
    await manager.close();
    fs.mkdirSync(path.join(dataDir, 'meta', 'topics'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'meta', 'topics', 'table.json'), JSON.stringify({ name: 'table', configs: { cleanupPolicy: 'delete' } }));
    expect(fs.readdirSync(path.join(dataDir, 'table-0')).filter((name) => name.endsWith('.compacted')).length).toBeGreaterThan(0);
    expect(gapsBetweenSegments(path.join(dataDir, 'table-0'))).toBeGreaterThan(0);

    // The broker opens it without a gap or a quarantine (it decides per segment, by the marker).
    const again = LogManager.open({ dataDir, background: false, defaultConfig: { ...compact, cleanupPolicy: 'delete' } });
    expect(again.report.repairs).toEqual([]);
    await again.close();
    const before = snapshot(dataDir);
    const verified = await runnel(['debug', 'verify', dataDir]);
    expect(snapshot(dataDir)).toEqual(before);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(/^verified 1 partitions, \d+ segments, \d+ batches: 0 problems$/m);
  });

  it('reports a partition the broker keeps offline by its damaged-segments file, naming what it lists, and checks the rest', async () => {
    const dataDir = await buildDataDir();
    const middle = segments(dataDir)[1];
    const bytes = fs.readFileSync(middle);
    bytes[100] = bytes[100] ^ 0xff; // bit rot in the first batch of a sealed segment
    fs.writeFileSync(middle, bytes);
    // A crash before any checkpoint: the next open re-validates every segment and quarantines this one.
    fs.rmSync(path.join(dataDir, '.clean-shutdown'));
    fs.rmSync(path.join(dataDir, 'recovery-point-offset-checkpoint'));
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: logs });
    expect(manager.report.repairs.join('\n')).toMatch(/partition offline/);
    await manager.close();
    const marker = path.join(partitionDir(dataDir), 'damaged-segments');
    expect(fs.readFileSync(marker, 'utf8')).toMatch(new RegExp(`^${path.basename(middle)} position 0 offset \\d+: crc-mismatch$`, 'm'));

    const damage = await verifyDamaged(dataDir);
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${marker}: .*offline.*${path.basename(middle)} position 0 offset \\d+: crc-mismatch`)));
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${middle}:0: .*crc`)));
  });

  it('reports a -stray log as a note, checked but labelled: its problems are notes, since the broker never opens it', async () => {
    const dataDir = await buildDataDir();
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: logs });
    const stray = manager.strayLog(TOPIC, 1); // what the broker does with a log no topic owns
    await manager.close();
    const sealed = path.join(stray, fs.readdirSync(stray).filter((name) => name.endsWith('.log')).sort()[0]);
    const bytes = fs.readFileSync(sealed);
    bytes[100] = bytes[100] ^ 0xff;
    fs.writeFileSync(sealed, bytes);

    const before = snapshot(dataDir);
    const result = await runnel(['debug', 'verify', dataDir]);
    expect(snapshot(dataDir)).toEqual(before);
    expect(result.code, result.stdout).toBe(0);
    expect(damageLines(result.stdout)).toEqual([]);
    expect(result.stdout).toMatch(/^verified 1 partitions, \d+ segments, \d+ batches: 0 problems$/m);
    expect(result.stdout).toMatch(new RegExp(`^note: ${stray}: stray log of ${TOPIC}-1, .*offline.* \\d+ segments, ${BATCHES} batches, 1 problem`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^note: stray: ${sealed}:0: .*crc`, 'm'));
  });

  it('reports an unreadable partition.metadata, on which the broker refuses to start', async () => {
    const dataDir = await buildDataDir();
    const metadata = path.join(partitionDir(dataDir, 1), 'partition.metadata');
    fs.writeFileSync(metadata, 'version: 7\n');
    const damage = await verifyDamaged(dataDir);
    expect(damage).toEqual([expect.stringMatching(new RegExp(`^damage: ${metadata}: .*unreadable`))]);
  });

  it('refuses a directory that a running broker holds, and says so in one line', async () => {
    const dataDir = await buildDataDir();
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: logs });
    try {
      const result = await runnel(['debug', 'verify', dataDir]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: STORAGE_ERROR: .*is locked by a running broker/)]);
    } finally {
      await manager.close();
    }
  });

  it('says in one line that a directory does not exist', async () => {
    const result = await runnel(['debug', 'verify', path.join(tempDir(), 'nope')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: INVALID_ARGUMENT: /)]);
  });
});

describe('runnel debug dump-log', () => {
  it('prints every batch of a segment, and with --records every record, changing nothing', async () => {
    const dataDir = await buildDataDir();
    const file = segments(dataDir)[0];
    const before = snapshot(dataDir);
    const plain = await runnel(['debug', 'dump-log', file]);
    expect(plain.code, plain.stderr).toBe(0);
    const lines = plain.stdout.trim().split('\n');
    expect(lines[0]).toBe(`Dumping ${file}`);
    const batchLines = lines.filter((line) => line.startsWith('position: '));
    expect(batchLines.length).toBeGreaterThan(1);
    let expectedPosition = 0;
    batchLines.forEach((line, i) => {
      const base = i * RECORDS_PER_BATCH;
      expect(line).toMatch(new RegExp(`^position: ${expectedPosition} baseOffset: ${base} lastOffset: ${base + 2} count: 3 size: \\d+ `));
      expect(line).toContain(`timestampType: CreateTime baseTimestamp: ${1_700_000_000_000 + i * 1000} maxTimestamp: ${1_700_000_000_000 + i * 1000}`);
      expect(line).toContain('producerId: -1 producerEpoch: -1 baseSequence: -1');
      expect(line).toContain('codec: none');
      expect(line).toMatch(/crc: 0x[0-9a-f]{8} crcValid: true records: ok$/);
      expectedPosition += Number(/ size: (\d+) /.exec(line)![1]);
    });
    expect(expectedPosition).toBe(fs.statSync(file).size);
    expect(lines.at(-1)).toBe(`summary: ${batchLines.length} batches, ${batchLines.length * RECORDS_PER_BATCH} records, ${expectedPosition} bytes, 0 problems`);

    const withRecords = await runnel(['debug', 'dump-log', '--records', file]);
    expect(withRecords.code).toBe(0);
    const recordLines = withRecords.stdout.split('\n').filter((line) => line.startsWith('| '));
    expect(recordLines).toHaveLength(batchLines.length * RECORDS_PER_BATCH);
    recordLines.forEach((line, i) => expect(line).toMatch(new RegExp(`^\\| offset: ${i} timestamp: \\d+ keySize: 2 valueSize: 64 headers: 0$`)));
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('shows a CRC mismatch and a partial batch, and exits non-zero', async () => {
    const dataDir = await buildDataDir();
    const file = segments(dataDir)[0];
    const bytes = fs.readFileSync(file);
    bytes[100] = bytes[100] ^ 0xff;
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    const result = await runnel(['debug', 'dump-log', '--records', file]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines.find((line) => line.startsWith('position: 0 '))).toMatch(/crcValid: false/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${file}:\\d+: partial batch`)));
    expect(lines.at(-1)).toMatch(/^summary: .* 2 problems$/);
  });

  it('prints the entries of an offset index and a time index, flagging one that breaks the rules', async () => {
    const dataDir = await buildDataDir();
    const index = segments(dataDir, '.index')[1];
    const base = Number(path.basename(index).slice(0, 20));
    const entries = fs.readFileSync(index);
    const dumped = await runnel(['debug', 'dump-log', index]);
    expect(dumped.code, dumped.stderr).toBe(0);
    const lines = dumped.stdout.trim().split('\n');
    expect(lines[0]).toBe(`Dumping ${index}`);
    expect(lines.slice(1, -1)).toEqual(
      Array.from({ length: entries.length / 8 }, (_, i) => `offset: ${base + entries.readUInt32BE(i * 8)} position: ${entries.readUInt32BE(i * 8 + 4)}`),
    );
    expect(lines.at(-1)).toBe(`summary: ${entries.length / 8} entries, 0 problems`);

    const timeIndex = segments(dataDir, '.timeindex')[1];
    const times = fs.readFileSync(timeIndex);
    times.writeBigInt64BE(0n, 12); // entry 1 goes back in time
    fs.writeFileSync(timeIndex, times);
    const bad = await runnel(['debug', 'dump-log', timeIndex]);
    expect(bad.code).toBe(1);
    const timeLines = bad.stdout.trim().split('\n');
    expect(timeLines[1]).toBe(`timestamp: ${times.readBigInt64BE(0)} offset: ${base + times.readUInt32BE(8)}`);
    expect(timeLines[2]).toBe(`timestamp: 0 offset: ${base + times.readUInt32BE(20)} damage: entries go backwards`);
    expect(timeLines.at(-1)).toBe(`summary: ${times.length / 12} entries, 1 problem`);
  });

  it('reports a batch whose base offset goes backwards, as recovery and verify do (the shared checkStoredBatch)', async () => {
    const dataDir = await buildDataDir();
    const file = segments(dataDir)[0];
    const bytes = fs.readFileSync(file);
    const second = readBatchSize(bytes, 0);
    bytes.writeBigInt64BE(0n, second); // the base offset is outside the CRC: the batch stays CRC-valid
    fs.writeFileSync(file, bytes);
    const dumped = await runnel(['debug', 'dump-log', file]);
    expect(dumped.code, dumped.stdout).toBe(1);
    expect(dumped.stdout.split('\n').find((line) => line.startsWith(`position: ${second} `))).toMatch(/crcValid: true records: base offset 0 where at least 3 was expected$/);
    expect(dumped.stdout.trim().split('\n').at(-1)).toMatch(/, 1 problem$/);
    const damage = await verifyDamaged(dataDir);
    expect(damage).toContainEqual(expect.stringMatching(new RegExp(`^damage: ${file}:${second}: .*base offset 0 where 3 was expected`)));
  });

  it('stops quietly when its reader goes away (dump-log | head)', async () => {
    const dataDir = tempDir('runnel-debug-');
    const manager = LogManager.open({ dataDir, background: false, defaultConfig: { ...logs, segmentBytes: 8 * 1024 * 1024, maxBatchBytes: 1024 * 1024 } });
    const log = manager.createLog(TOPIC, 0);
    for (let i = 0; i < 200; i++) await log.append(makeBatch({ records: 50, valueBytes: 8 }));
    await manager.close();
    const file = segments(dataDir)[0];
    // Far more output than a pipe buffer holds, so the tool is still writing when the reader leaves.
    const child = spawn(process.execPath, [CLI, 'debug', 'dump-log', '--records', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('says in one line that a file does not exist', async () => {
    const result = await runnel(['debug', 'dump-log', path.join(tempDir(), '00000000000000000000.log')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: INVALID_ARGUMENT: /)]);
  });
});
