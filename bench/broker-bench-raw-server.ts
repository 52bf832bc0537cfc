/**
 * The broker benchmark's raw gRPC server (a child process of broker-bench.ts): RAW_SERVICE with
 * Buffer passthrough serialization, so what it costs is grpc-js and HTTP/2 alone. It does
 * nothing with what it receives but count it, and answers downloads with slices of a
 * preallocated random pool (no file, no copy). The ceiling the broker is compared with.
 *
 * Usage: node dist/bench/broker-bench-raw-server.js   (prints `listening on HOST:PORT`; runs
 * until SIGTERM, SIGINT, or its stdin closes, i.e. until its parent goes away)
 */
import { randomFillSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MIB, RAW_SERVER_OPTIONS, RAW_SERVICE, type RawDownloadRequest, type RawGetRequest } from './broker-bench-common.js';

/** Answers of `get` and `download` are slices of this, at a moving position. */
const POOL_BYTES = 64 * MIB;
const pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
let poolPos = 0;

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
  server.addService(RAW_SERVICE, handlers);
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err !== null) {
      process.stderr.write(`raw server: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`raw grpc server listening on 127.0.0.1:${port}\n`);
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

main();
