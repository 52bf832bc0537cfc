/** Shared by the storage tests: temp directories, batches with known content, log openers. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { isRunnelError, type RunnelError } from '../../src/common/errors.js';
import { decodeRecordBatches, encodeRecordBatch, type DecodedRecord } from '../../src/format/record-batch.js';
import { Codec } from '../../src/format/batch-header.js';
import { resolveLogConfig, type LogConfig } from '../../src/storage/log-config.js';
import { PartitionLog, type PartitionLogOptions } from '../../src/storage/partition-log.js';

const dirs: string[] = [];

/** A fresh temp directory, removed after the test. */
export function tempDir(prefix = 'runnel-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A deterministic pseudo-random generator (mulberry32), so failures replay from their seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BatchSpec {
  records?: number;
  valueBytes?: number;
  timestampMs?: number;
  /** Timestamps per record, overriding timestampMs. */
  timestamps?: number[];
  keys?: (string | null)[];
  values?: (Buffer | null)[];
  codec?: Codec;
  tag?: string;
}

/** An encoded batch (baseOffset 0, as a producer sends it) with recognisable content. */
export function makeBatch(spec: BatchSpec = {}): Buffer {
  const count = spec.timestamps?.length ?? spec.keys?.length ?? spec.values?.length ?? spec.records ?? 1;
  const records = Array.from({ length: count }, (_, i) => ({
    key: spec.keys?.[i] === undefined ? Buffer.from(`k${i}`) : spec.keys[i] === null ? null : Buffer.from(spec.keys[i]),
    value: spec.values !== undefined ? spec.values[i]! : Buffer.from(`${spec.tag ?? 'v'}-${i}-`.padEnd(spec.valueBytes ?? 16, 'x')),
    timestampMs: spec.timestamps?.[i] ?? spec.timestampMs ?? 1_700_000_000_000,
  }));
  return encodeRecordBatch({ records, codec: spec.codec ?? Codec.None });
}

export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const segmentBytes = overrides.segmentBytes ?? 64 * 1024;
  return resolveLogConfig({ segmentBytes, maxBatchBytes: segmentBytes, indexIntervalBytes: 512, retentionMs: -1, ...overrides });
}

export function openLog(dir: string, overrides: Partial<PartitionLogOptions> = {}, config: Partial<LogConfig> = {}): { log: PartitionLog; repairs: string[] } {
  return PartitionLog.openSync({ dir, topic: 't', partition: 0, config: logConfig(config), ...overrides });
}

/** Overwrites 4 bytes of a real file in place (big-endian int32): damage, as bit rot would leave it. */
export function overwriteInt32(file: string, position: number, value: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const field = Buffer.alloc(4);
    field.writeInt32BE(value);
    fs.writeSync(fd, field, 0, 4, position);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every record of the log from its start, in offset order (reads whole batches, drops records below each read's offset). */
export async function readRecords(log: PartitionLog): Promise<DecodedRecord[]> {
  const records: DecodedRecord[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, 64 * 1024);
    if (result.bytes.length === 0) break;
    for (const batch of decodeRecordBatches(result.bytes)) records.push(...batch.records.filter((r) => r.offset >= offset));
    offset = result.nextOffset;
  }
  return records;
}

/** The RunnelError `work` throws (or rejects with); fails the test when it throws nothing. */
export async function caught(work: () => unknown): Promise<RunnelError> {
  try {
    await work();
  } catch (err) {
    if (isRunnelError(err)) return err;
    throw err;
  }
  throw new Error('expected a RunnelError');
}
