/**
 * What the broker admits at the HTTP/2 layer, before grpc-js sees a byte: connections (at most
 * limits.maxConnections in all and limits.maxConnectionsPerAddress per remote address; one
 * more is sent GOAWAY ENHANCE_YOUR_CALM and closed) and request bytes (RequestBudget).
 *
 * Why here: grpc-js decodes a message as its DATA frames arrive and keeps its stream flowing
 * until the message is whole, so neither an interceptor nor a handler runs before a partial
 * message of up to limits.maxRequestBytes sits in memory, on every stream (32 streams of partial
 * 8 MiB messages grew a broker by 259 MiB). Each stream is therefore tapped: the 5-byte gRPC
 * message prefix (compressed flag, u32 length) is parsed as it passes, the length reserved from
 * the budget, and a stream whose reservation must wait is paused. A paused Node HTTP/2 stream
 * stops consuming, so no WINDOW_UPDATE goes out and the client stops at its stream and
 * connection windows (limits.http2WindowBytes). grpc-js pauses and resumes its streams itself
 * (one message at a time), so the tap wraps the stream's pause/resume: the stream flows only
 * when grpc-js wants it to and the budget allows it.
 *
 * Memory held for requests is then at most the budget, plus per connection what its window let
 * in before the pause, plus one DATA frame per stream read past a prefix.
 */
import http2 from 'node:http2';
import type { Logger } from '../common/logger.js';
import type { RequestBudget } from './request-budget.js';

const GRPC_PREFIX_BYTES = 5;

export interface AdmissionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Messages declared larger are left to grpc-js, which refuses them (RESOURCE_EXHAUSTED). */
  maxRequestBytes: number;
}

export interface AdmissionCounters {
  refusedConnections: () => void;
}

export class Http2Admission {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly budget: RequestBudget,
    private readonly counters: AdmissionCounters,
    private readonly logger: Logger,
  ) {}

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Called for every new session: admits or refuses it, and taps its streams. */
  admit(session: http2.ServerHttp2Session): void {
    const address = session.socket?.remoteAddress ?? 'unknown';
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.sessions.size >= this.limits.maxConnections || fromAddress >= this.limits.maxConnectionsPerAddress) {
      this.counters.refusedConnections();
      this.logger.debug({ address, connections: this.sessions.size, fromAddress }, 'connection refused: limits.maxConnections or maxConnectionsPerAddress');
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
      return;
    }
    this.sessions.add(session);
    this.perAddress.set(address, fromAddress + 1);
    session.once('close', () => {
      this.sessions.delete(session);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
    session.on('stream', (stream) => tapStream(stream, this.budget, this.limits.maxRequestBytes));
  }
}

/** Reserves each message's declared length before its body is read (see the top). */
function tapStream(stream: http2.ServerHttp2Stream, budget: RequestBudget, maxRequestBytes: number): void {
  const pause = stream.pause.bind(stream);
  const resume = stream.resume.bind(stream);
  /** What grpc-js last asked for. */
  let flowWanted = stream.readableFlowing === true;
  let waiting: (() => void) | null = null;
  let reservedBytes = 0;
  let bodyLeftBytes = 0;
  const prefix = Buffer.alloc(GRPC_PREFIX_BYTES);
  let prefixBytes = 0;

  stream.pause = () => {
    flowWanted = false;
    return pause();
  };
  stream.resume = () => {
    flowWanted = true;
    return waiting === null ? resume() : stream;
  };
  const release = (): void => {
    if (reservedBytes > 0) budget.release(reservedBytes);
    reservedBytes = 0;
  };
  /** The whole body has passed: what it reserved, or still waits to reserve, is not needed. */
  const messageDone = (): void => {
    if (waiting !== null) {
      waiting();
      waiting = null;
      if (flowWanted) resume();
    }
    release();
  };
  const onPrefix = (): void => {
    const length = prefix.readUInt32BE(1);
    bodyLeftBytes = length;
    if (length === 0 || length > maxRequestBytes) return;
    const cancel = budget.reserve(length, () => {
      waiting = null;
      reservedBytes = length;
      if (flowWanted) resume();
    });
    if (cancel === null) reservedBytes = length;
    else {
      waiting = cancel;
      pause();
    }
  };
  stream.on('data', (chunk: Buffer) => {
    for (let pos = 0; pos < chunk.length; ) {
      if (bodyLeftBytes > 0) {
        const taken = Math.min(bodyLeftBytes, chunk.length - pos);
        bodyLeftBytes -= taken;
        pos += taken;
        if (bodyLeftBytes === 0) messageDone();
        continue;
      }
      const taken = Math.min(GRPC_PREFIX_BYTES - prefixBytes, chunk.length - pos);
      chunk.copy(prefix, prefixBytes, pos, pos + taken);
      prefixBytes += taken;
      pos += taken;
      if (prefixBytes === GRPC_PREFIX_BYTES) {
        prefixBytes = 0;
        onPrefix();
      }
    }
  });
  stream.once('close', () => {
    waiting?.();
    waiting = null;
    release();
  });
}
