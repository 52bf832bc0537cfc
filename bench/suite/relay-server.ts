/**
 * The latency floor of the benchmark suite: a raw grpc-js relay with nothing between receipt
 * and forwarding. A producer process writes each record on a bidirectional Push stream (one
 * 8-byte answer per record, as the broker answers a produce); the relay writes it at once to
 * every open Tail stream (a consumer process). So a record crosses the same two hops and three
 * processes as through the broker, with the same gRPC stack and HTTP/2 windows, and no storage,
 * no protobuf, no batching: what is left of Runnel's latency above this is Runnel's own work.
 *
 * Usage: node dist/bench/suite/relay-server.js   (prints `relay listening on HOST:PORT`; runs
 * until SIGTERM, SIGINT, or its stdin closes)
 */
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BROKER_CONFIG } from '../../src/broker/config.js';
import { widenReceiveWindows } from '../../src/broker/http2-window.js';
import { silentLogger } from '../../src/common/logger.js';
import { serveUntilParentGoes } from '../broker-bench-common.js';
import { RELAY_SERVICE } from './relay-service.js';

const ANSWER = Buffer.alloc(8);

function main(): void {
  const tails = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
  const server = new grpc.Server();
  if (!widenReceiveWindows(server, DEFAULT_BROKER_CONFIG.limits.http2WindowBytes, silentLogger)) process.stderr.write('relay: HTTP/2 windows not widened\n');
  server.addService(RELAY_SERVICE, {
    push: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (message: Buffer) => {
        for (const tail of tails) tail.write(message);
        call.write(ANSWER);
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    tail: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      tails.add(call);
      call.on('cancelled', () => tails.delete(call));
      call.on('error', () => tails.delete(call));
    },
  });
  serveUntilParentGoes(server, 'relay');
}

main();
