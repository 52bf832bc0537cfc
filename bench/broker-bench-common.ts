/**
 * What the broker benchmark's three programs share: the orchestrator (broker-bench.ts), the
 * client child (broker-bench-client.ts) and the raw gRPC server child (broker-bench-raw-server.ts).
 *
 * - RAW_SERVICE: a generic gRPC service whose messages are Buffers passed through untouched
 *   (serialize and deserialize are the identity), so the raw baseline pays for HTTP/2 and
 *   grpc-js framing, never for protobuf.
 * - Jobs: what the orchestrator asks a client child to do (JSON in argv), and what it answers
 *   (one JSON line on stdout per event).
 * - Channel option presets, applied identically to the baseline and the subject clients.
 * - The batch pool: RecordBatch v2 batches of 100-byte records, at most 64 KiB each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Pos, readBatchSize } from '../src/format/batch-header.js';
import { encodeRecordBatch, type RecordInput } from '../src/format/record-batch.js';

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

// ---------------------------------------------------------------------------------------------
// The raw service

const passthrough = (value: Buffer): Buffer => value;

function rawMethod(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/runnel.bench.Raw/${name}`,
    requestStream,
    responseStream,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  };
}

/**
 * upload:    client stream of payloads; one 8-byte answer (bytes received) at the end.
 * uploadAck: bidirectional; an 8-byte answer per payload, in order (the ProduceStream shape).
 * get:       unary; the request is JSON {bytes}, the answer that many bytes from a pool.
 * download:  server stream; the request is JSON {totalBytes, chunkBytes}.
 */
export const RAW_SERVICE = {
  upload: rawMethod('Upload', true, false),
  uploadAck: rawMethod('UploadAck', true, true),
  uploadAppend: rawMethod('UploadAppend', true, true),
  get: rawMethod('Get', false, false),
  download: rawMethod('Download', false, true),
} satisfies grpc.ServiceDefinition;

export interface RawClient extends grpc.Client {
  upload(callback: grpc.requestCallback<Buffer>): grpc.ClientWritableStream<Buffer>;
  uploadAck(): grpc.ClientDuplexStream<Buffer, Buffer>;
  uploadAppend(): grpc.ClientDuplexStream<Buffer, Buffer>;
  get(request: Buffer, callback: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
  download(request: Buffer): grpc.ClientReadableStream<Buffer>;
}

export interface RawGetRequest {
  bytes: number;
}

export interface RawDownloadRequest {
  totalBytes: number;
  chunkBytes: number;
}

/** Server options of the raw server: the same limits the broker's server sets (src/broker/server.ts). */
export const RAW_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': 64 * MIB,
  'grpc.max_send_message_length': 64 * MIB + MIB,
};

// ---------------------------------------------------------------------------------------------
// Client channel options

/** Fetch answers of 4 MiB + framing exceed grpc-js's default 4 MiB receive limit. */
const BASE_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 * MIB + MIB,
  'grpc.max_send_message_length': 64 * MIB,
};

/**
 * Client channel option sets tried (the same set for baseline and subject of a pair). grpc-js
 * 1.14 honours `grpc-node.flow_control_window` (the client session's initial HTTP/2 window,
 * which paces what the server may send: fetch and subscribe) and `grpc.enable_retries` (0 skips
 * the retry layer's message buffering). `grpc-node.max_session_memory` already defaults to
 * unlimited in grpc-js; `grpc.http2.write_buffer_size` and `grpc.http2.lookahead_bytes` are
 * C-core options that grpc-js ignores (they are not in its channel-options list).
 */
export const CHANNEL_PRESETS: Readonly<Record<string, grpc.ChannelOptions>> = {
  default: BASE_OPTIONS,
  window16m: { ...BASE_OPTIONS, 'grpc-node.flow_control_window': 16 * MIB },
  noRetries: { ...BASE_OPTIONS, 'grpc.enable_retries': 0 },
  tuned: { ...BASE_OPTIONS, 'grpc-node.flow_control_window': 16 * MIB, 'grpc.enable_retries': 0 },
};

// ---------------------------------------------------------------------------------------------
// Jobs

export type Acks = 'ACKS_LEADER' | 'ACKS_ALL';

interface JobBase {
  /** host:port of the broker or the raw server. */
  target: string;
  channelOptions: grpc.ChannelOptions;
  /** Bytes of payload moved by the timed part. */
  bytes: number;
  /** Bytes moved before the timer starts (JIT warm-up of both processes); not reported. */
  warmupBytes: number;
}

export interface UploadJob extends JobBase {
  kind: 'rawUpload' | 'rawUploadAck' | 'rawUploadAppend' | 'produceStream' | 'produceUnary';
  /** Requests in flight (rawUploadAck, produceStream, produceUnary). */
  window: number;
  topic: string;
  partitions: number;
  acks: Acks;
  /**
   * produceStream only: send one more request with ACKS_ALL after the timed part (its fsync
   * makes every page of the log clean before the fetch tests read it).
   */
  finalFlush: boolean;
}

export interface DownloadJob extends JobBase {
  kind: 'rawGet' | 'rawDownload' | 'fetch' | 'subscribe';
  topic: string;
  /** Fetch: log end offset to read up to. */
  endOffset: number;
  /** Bytes per response (Fetch maxBytes, Subscribe maxBytes, raw chunk size). */
  chunkBytes: number;
}

export type Job = UploadJob | DownloadJob;

/** Printed by the client right before its timer starts, so the orchestrator can sample the server's CPU. */
export interface BeginEvent {
  event: 'begin';
}

/** Printed right after the timer stops. */
export interface EndEvent {
  event: 'end';
}

export interface JobResult {
  event: 'result';
  bytes: number;
  records: number;
  /** Requests sent (uploads) or responses / messages received (downloads). */
  messages: number;
  durationMs: number;
  clientCpuMs: number;
  /** Uploads with answers: per-request latency, ms. */
  latencyP50Ms?: number;
  latencyP99Ms?: number;
  /** produceStream: log end offset after the job (the last answer's lastOffset + 1). */
  endOffset?: number;
  /** Bytes of batches sent in the whole job (warm-up, timed part, final flush). */
  totalBytesSent?: number;
}

export interface ErrorEvent {
  event: 'error';
  message: string;
}

export type ClientEvent = BeginEvent | EndEvent | JobResult | ErrorEvent;

// ---------------------------------------------------------------------------------------------
// Batches

export const BATCH_BYTES = 64 * KIB;
export const RECORD_VALUE_BYTES = 100;
/** Distinct prebuilt batches, cycled (4 MiB: more than the CPU caches hold). */
export const BATCH_POOL_SIZE = 64;

export interface BatchPool {
  batches: Buffer[];
  recordsPerBatch: number;
  batchBytes: number;
}

function records(count: number): RecordInput[] {
  return Array.from({ length: count }, () => ({ key: null, value: randomFillSync(Buffer.allocUnsafe(RECORD_VALUE_BYTES)) }));
}

/** The most 100-byte records (null keys, no headers) whose batch fits in BATCH_BYTES. */
function recordsPerBatch(): number {
  let count = Math.floor(BATCH_BYTES / (RECORD_VALUE_BYTES + 10));
  while (encodeRecordBatch({ records: records(count + 1) }).length <= BATCH_BYTES) count++;
  while (encodeRecordBatch({ records: records(count) }).length > BATCH_BYTES) count--;
  return count;
}

/** BATCH_POOL_SIZE batches of random 100-byte values, all of the same size (<= 64 KiB). */
export function buildBatchPool(): BatchPool {
  const count = recordsPerBatch();
  const batches = Array.from({ length: BATCH_POOL_SIZE }, () => encodeRecordBatch({ records: records(count) }));
  const batchBytes = batches[0]!.length;
  if (batches.some((b) => b.length !== batchBytes)) throw new Error('pool batches differ in size');
  return { batches, recordsPerBatch: count, batchBytes };
}

/** Records in a buffer of whole batches, from their headers. */
export function countRecords(buf: Buffer): number {
  let records = 0;
  for (let pos = 0; pos + Pos.recordCount + 4 <= buf.length; pos += readBatchSize(buf, pos)) records += buf.readInt32BE(pos + Pos.recordCount);
  return records;
}

// ---------------------------------------------------------------------------------------------
// Small shared helpers

/**
 * Starts `runnel broker` (the compiled CLI at `cli`) as a child process on port 0 with the
 * `npm start` heap setting and the extra flags; resolves once it prints `listening on`.
 */
export async function startBrokerChild(cli: string, dataDir: string, extraArgs: readonly string[] = []): Promise<{ child: ChildProcess; address: string }> {
  const args = ['--initial-old-space-size=128', cli, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'warn', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const address = listeningAddress(line);
    if (address !== null) {
      clearTimeout(timer);
      // Keep reading (and dropping) its stdout: closing the reader pauses the pipe, and a broker
      // whose stdout pipe is full blocks in its synchronous log writes.
      child.stdout.resume();
      return { child, address };
    }
  }
  throw new Error('the broker exited before listening');
}

/** The last `listening on HOST:PORT` of a child's stdout line, or null. */
export function listeningAddress(line: string): string | null {
  const match = /listening on (\S+:\d+)\s*$/.exec(line);
  return match?.[1] ?? null;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Binds a bench server child on a free loopback port, prints `<label> listening on HOST:PORT`
 * for its parent, and stops it on SIGTERM, SIGINT or when its stdin closes (the parent went away).
 */
export function serveUntilParentGoes(server: grpc.Server, label: string): void {
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err !== null) {
      process.stderr.write(`${label}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`${label} listening on 127.0.0.1:${port}\n`);
  });
  const stop = (): void => {
    server.forceShutdown();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
