/**
 * The broker benchmark's raw gRPC server (a child process of broker-bench.ts): RAW_SERVICE with
 * Buffer passthrough serialization, so what it costs is grpc-js and HTTP/2 alone. It does
 * nothing with what it receives but count it, and answers downloads with slices of a
 * preallocated random pool (no file, no copy). The ceiling the broker is compared with. It
 * widens its HTTP/2 receive windows exactly as the broker does (same hook, same default size),
 * so the comparison is of the work done with the bytes, not of flow-control settings.
 *
 * Usage: node dist/bench/broker-bench-raw-server.js [APPEND_DIR]   (prints `listening on HOST:PORT`; runs
 * until SIGTERM, SIGINT, or its stdin closes, i.e. until its parent goes away)
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BROKER_CONFIG } from '../src/broker/config.js';
import { widenReceiveWindows } from '../src/broker/http2-window.js';
import { silentLogger } from '../src/common/logger.js';
import { MIB, RAW_SERVER_OPTIONS, RAW_SERVICE, serveUntilParentGoes, type RawDownloadRequest, type RawGetRequest } from './broker-bench-common.js';

/** Answers of `get` and `download` are slices of this, at a moving position. */
const POOL_BYTES = 64 * MIB;
const pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
let poolPos = 0;

/** Where uploadAppend writes: argv[2], a directory on the same file system as the broker's data. */
const appendDir = process.argv[2] ?? process.cwd();
let appendFiles = 0;

function slice(bytes: number): Buffer {
  const size = Math.min(bytes, POOL_BYTES);
  if (poolPos + size > POOL_BYTES) poolPos = 0;
  const out = pool.subarray(poolPos, poolPos + size);
  poolPos += size;
  return out;
}

function u64(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

const handlers: grpc.UntypedServiceImplementation = {
  upload: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    let bytes = 0;
    call.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    call.on('end', () => callback(null, u64(bytes)));
    call.on('error', () => undefined);
  },
  uploadAck: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    let count = 0;
    call.on('data', () => {
      call.write(u64(count++));
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  },
  // The least a log can do: append each message to a file (page cache, as acks leader) and answer.
  uploadAppend: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    const file = path.join(appendDir, `upload-${process.pid}-${appendFiles++}.log`);
    const fd = fs.openSync(file, 'w');
    let count = 0;
    const done = (): void => {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    };
    call.on('data', (chunk: Buffer) => {
      for (let written = 0; written < chunk.length; ) written += fs.writeSync(fd, chunk, written);
      call.write(u64(count++));
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', () => done());
  },
  get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    const { bytes } = JSON.parse(call.request.toString('utf8')) as RawGetRequest;
    callback(null, slice(bytes));
  },
  download: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    const { totalBytes, chunkBytes } = JSON.parse(call.request.toString('utf8')) as RawDownloadRequest;
    let remaining = totalBytes;
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
    });
    // Honours flow control as the broker's Subscribe does: wait for 'drain' when write() says so.
    const pump = (): void => {
      while (remaining > 0 && !cancelled) {
        const chunk = slice(Math.min(chunkBytes, remaining));
        remaining -= chunk.length;
        if (!call.write(chunk)) {
          call.once('drain', pump);
          return;
        }
      }
      if (!cancelled) call.end();
    };
    pump();
  },
};

function main(): void {
  const server = new grpc.Server(RAW_SERVER_OPTIONS);
  if (!widenReceiveWindows(server, DEFAULT_BROKER_CONFIG.limits.http2WindowBytes, silentLogger)) process.stderr.write('raw server: HTTP/2 windows not widened\n');
  server.addService(RAW_SERVICE, handlers);
  serveUntilParentGoes(server, 'raw grpc server');
}

main();
