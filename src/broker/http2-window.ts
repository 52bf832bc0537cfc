/**
 * The broker's HTTP/2 receive windows. Node's HTTP/2 default is 64 KiB per stream and per
 * connection, so a ProduceStream client may have one 64 KiB batch unread by the broker at a
 * time: every batch then waits a round trip for a WINDOW_UPDATE, and produce throughput is
 * bound by latency, not by CPU (measured: 82 MB/s with the defaults, 180 MB/s with 4 MiB
 * windows, same run; the raw grpc-js baseline went from 161 to 502 MB/s with the same change).
 *
 * grpc-js has no server option for this (only the client's `grpc-node.flow_control_window`),
 * so the broker widens each session's windows as it is created: the SETTINGS frame's
 * initial window size (per stream) and the connection window. The hook is the server's
 * `createHttp2Server`, which grpc-js calls once per bound address; when a grpc-js release
 * renames it the broker still works, with the default windows and a warning in its log.
 *
 * Memory: a client can make the broker hold at most `windowBytes` of unread request bytes per
 * connection (the connection window caps all its streams together).
 */
import type http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../common/logger.js';

/** HTTP/2 caps window sizes at 2^31 - 1 (RFC 9113 §6.9.1). */
export const HTTP2_WINDOW_BYTES_MAX = 2 ** 31 - 1;
/** HTTP/2's own initial window (RFC 9113 §6.9.2). */
export const HTTP2_WINDOW_BYTES_MIN = 65_535;

type CreateHttp2Server = (credentials: grpc.ServerCredentials) => http2.Http2Server;

/**
 * Makes every HTTP/2 session the server accepts from now on advertise `windowBytes` as its
 * stream and connection receive windows. Returns false (and logs) when grpc-js offers no hook.
 */
export function widenReceiveWindows(server: grpc.Server, windowBytes: number, logger: Logger): boolean {
  const hooked = onHttp2Sessions(server, (session) => widenSession(session, windowBytes, logger));
  if (!hooked) logger.warn({ windowBytes }, 'this grpc-js has no createHttp2Server hook: HTTP/2 receive windows stay at 64 KiB');
  return hooked;
}

/**
 * Calls `listener` for every HTTP/2 session the server accepts from now on, before grpc-js
 * handles any of its streams. Returns false when this grpc-js offers no hook.
 */
export function onHttp2Sessions(server: grpc.Server, listener: (session: http2.ServerHttp2Session) => void): boolean {
  const hooked = server as unknown as { createHttp2Server?: CreateHttp2Server };
  const original = hooked.createHttp2Server;
  if (typeof original !== 'function') return false;
  hooked.createHttp2Server = function (this: grpc.Server, credentials: grpc.ServerCredentials): http2.Http2Server {
    const http2Server = original.call(this, credentials);
    http2Server.on('session', listener);
    return http2Server;
  };
  return true;
}

function widenSession(session: http2.ServerHttp2Session, windowBytes: number, logger: Logger): void {
  try {
    // Sent after the initial SETTINGS frame; it applies to the streams the client opens next
    // and to the ones already open (RFC 9113 §6.9.2), so nothing waits for it.
    session.settings({ initialWindowSize: windowBytes });
    session.setLocalWindowSize(windowBytes);
  } catch (err) {
    // A session that closes before its SETTINGS could be sent: nothing to widen.
    logger.debug({ err }, 'could not widen the HTTP/2 windows of a session');
  }
}
