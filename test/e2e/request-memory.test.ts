/**
 * Request memory is bounded at the HTTP/2 stream (issue 11, finding 3). grpc-js decodes a
 * message as its DATA frames arrive and keeps reading until the message is whole, so the 4 MiB
 * HTTP/2 window alone bounds nothing: every stream could hold a partial message up to
 * limits.maxRequestBytes. The broker reserves each message's declared length from a broker-wide
 * budget (limits.maxRequestBytesInFlight, Kafka's queued.max.request.bytes) before it reads the
 * body, and a stream that does not fit stops being read (no WINDOW_UPDATE for it), so a client
 * that opens many streams and sends partial maximum-size messages makes the broker hold at most
 * the budget plus one stream window (limits.http2WindowBytes) per open stream: Node's HTTP/2
 * consumes the connection window as frames arrive, whatever the stream, and offers no way to
 * stop reading a connection's socket, so the stream windows are the part no budget can take
 * back; open streams are capped per connection (limits.maxStreamsPerConnection) and
 * connections in all and per remote address.
 *
 * Proved on a real broker process by its RSS (/proc/PID/status), sampled until the clients can
 * send no more (their writes stall) or have sent everything.
 */
import fs from 'node:fs';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../storage/helpers.js';
import { connect } from '../broker/helpers.js';
import { startBrokerProcess } from './broker-process.js';

const MiB = 1024 * 1024;
const sessions: http2.ClientHttp2Session[] = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.destroy();
});

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function address(lines: string[]): string {
  return /listening on (\S+:\d+)\s*$/.exec(lines.find((l) => /listening on/.test(l))!)![1];
}

/**
 * Opens a Produce call by hand and sends a gRPC message prefix declaring `declaredBytes`, then
 * `sentBytes` of its body, never the rest. Resolves `done` when every byte was accepted.
 */
function partialMessage(session: http2.ClientHttp2Session, declaredBytes: number, sentBytes: number): { written: () => number; done: Promise<void> } {
  const stream = session.request({ ':method': 'POST', ':path': '/runnel.v1.Broker/Produce', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredBytes, 1);
  let written = 0;
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const done = new Promise<void>((resolve) => {
    const pump = (): void => {
      while (written < sentBytes) {
        const piece = chunk.subarray(0, Math.min(chunk.length, sentBytes - written));
        written += piece.length;
        if (!stream.write(piece)) return void stream.once('drain', pump);
      }
      resolve();
    };
    stream.write(prefix);
    pump();
  });
  return { written: () => written, done };
}

describe('broker: request memory', () => {
  it('32 streams sending partial 8 MiB messages: the broker RSS grows by at most the budget, the windows and a fixed overhead', async () => {
    const budgetBytes = 16 * MiB;
    const windowBytes = 256 * 1024;
    const broker = await startBrokerProcess(
      tempDir('runnel-reqmem-'),
      ['limits.maxRequestBytes=8388608', `limits.maxRequestBytesInFlight=${budgetBytes}`, `limits.http2WindowBytes=${windowBytes}`],
      20_000,
    );
    const pid = broker.child.pid!;
    const before = rssBytes(pid);
    const target = address(broker.lines);
    const connections = 4;
    const streamsPerConnection = 8;
    const calls: ReturnType<typeof partialMessage>[] = [];
    for (let c = 0; c < connections; c++) {
      const session = http2.connect(`http://${target}`);
      session.on('error', () => {});
      sessions.push(session);
      for (let s = 0; s < streamsPerConnection; s++) calls.push(partialMessage(session, 8 * MiB - 64, 8 * MiB - 1024));
    }
    // Sample until every write went through (nothing held the clients back) or the clients made
    // no progress for 2 s (they are held back); bounded at 30 s.
    let peak = before;
    let lastProgress = Date.now();
    let lastWritten = -1;
    let allDone = false;
    void Promise.all(calls.map((c) => c.done)).then(() => (allDone = true));
    const deadline = Date.now() + 30_000;
    while (!allDone && Date.now() - lastProgress < 2_000 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, rssBytes(pid));
      const written = calls.reduce((n, c) => n + c.written(), 0);
      if (written !== lastWritten) {
        lastWritten = written;
        lastProgress = Date.now();
      }
    }
    peak = Math.max(peak, rssBytes(pid));
    const windowsBytes = calls.length * windowBytes;
    const overheadBytes = 48 * MiB;
    const growth = peak - before;
    console.log(`request memory: RSS ${Math.round(before / MiB)} -> peak ${Math.round(peak / MiB)} MiB (+${Math.round(growth / MiB)} MiB); clients sent ${Math.round(lastWritten / MiB)} of ${Math.round((calls.length * (8 * MiB - 1024)) / MiB)} MiB; bound ${Math.round((budgetBytes + windowsBytes + overheadBytes) / MiB)} MiB`);
    expect(allDone).toBe(false);
    expect(growth).toBeLessThan(budgetBytes + windowsBytes + overheadBytes);

    // The broker still serves a client on a fresh connection.
    const fresh = connect(target);
    try {
      const created = await fresh.call('admin', 'createTopics', { topics: [{ name: 'ok', partitions: 1, configs: [] }] });
      expect(created.topics[0].error).toBeNull();
    } finally {
      fresh.close();
    }
  });

  it('connections beyond limits.maxConnectionsPerAddress are refused; the ones inside keep working', async () => {
    const broker = await startBrokerProcess(tempDir('runnel-conns-'), ['limits.maxConnectionsPerAddress=3'], 20_000);
    const target = address(broker.lines);
    const pkg = grpc.loadPackageDefinition((await import('../../src/common/proto.js')).loadPackageDefinition()) as any;
    const clients = Array.from({ length: 5 }, () => new pkg.runnel.v1.Admin(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_reconnect_backoff_ms': 100 }));
    try {
      const outcomes: (string | null)[] = [];
      for (const client of clients) {
        outcomes.push(
          await new Promise<string | null>((resolve) => {
            client.listTopics({}, { deadline: Date.now() + 3_000 }, (err: grpc.ServiceError | null) => resolve(err === null ? null : grpc.status[err.code]));
          }),
        );
      }
      expect(outcomes.slice(0, 3)).toEqual([null, null, null]);
      // GOAWAY ENHANCE_YOUR_CALM: grpc-js reports it as RESOURCE_EXHAUSTED.
      expect(outcomes.slice(3)).toEqual(['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
      // The first three still work.
      const again = await new Promise<string | null>((resolve) => clients[0].listTopics({}, { deadline: Date.now() + 3_000 }, (err: grpc.ServiceError | null) => resolve(err === null ? null : grpc.status[err.code])));
      expect(again).toBeNull();
    } finally {
      for (const client of clients) client.close();
    }
  });
});
