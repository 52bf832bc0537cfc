/**
 * What every handler shares: RunnelError → gRPC status (with the ErrorCode name in the
 * `runnel-error-code` trailer), RunnelError → the `Error` message inside responses, per-RPC
 * request counts and latency, and the shutdown gate.
 */
import * as grpc from '@grpc/grpc-js';
import { ERRORS, RunnelError, isRunnelError } from '../../common/errors.js';
import type { Broker } from '../broker.js';

export const ERROR_CODE_TRAILER = 'runnel-error-code';

/** The proto `Error` message for a response field. */
export interface ErrorMessage {
  code: string;
  message: string;
  retriable: boolean;
}

export function errorMessage(err: RunnelError | null): ErrorMessage | null {
  return err === null ? null : { code: err.code, message: err.message, retriable: err.retriable };
}

/** Any thrown value as a RunnelError; unexpected ones become INTERNAL (and are logged). */
export function asRunnelError(broker: Broker, err: unknown, rpc: string): RunnelError {
  if (isRunnelError(err)) return err;
  broker.logger.error({ err, rpc }, 'unexpected error');
  return new RunnelError('INTERNAL', err instanceof Error ? err.message : String(err));
}

export function toServiceError(err: RunnelError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_TRAILER, err.code);
  return { code: ERRORS[err.code].status, details: `${err.code}: ${err.message}`, metadata };
}

export function observe(broker: Broker, rpc: string, startedNs: bigint, code: string): void {
  const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
  broker.metrics.requests.inc({ rpc, code });
  broker.metrics.latency.observe({ rpc, code }, seconds);
}

/** Wraps an async unary handler: decode → validate → domain call → encode lives in `handle`. */
export function unary<Req, Res>(broker: Broker, rpc: string, handle: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    Promise.resolve()
      .then(() => {
        if (broker.isClosing) throw new RunnelError('BROKER_SHUTTING_DOWN');
        return handle(call.request, call);
      })
      .then(
        (response) => {
          observe(broker, rpc, started, 'NONE');
          callback(null, response);
        },
        (err: unknown) => {
          const error = asRunnelError(broker, err, rpc);
          observe(broker, rpc, started, error.code);
          callback(toServiceError(error));
        },
      );
  };
}

/**
 * grpc-js runs a streaming handler even when the client's RST_STREAM arrived between the
 * request message and the handler's start; the 'cancelled' event then went out before anyone
 * listened, and `call.cancelled` stays false. The transport call underneath knows
 * (`checkCancelled`, which grpc-js itself uses for this race); it is reached through the
 * wrapper chain, defensively, since it is not public API.
 */
function transportClosed(call: CancellableCall): boolean {
  let inner = (call as { call?: unknown }).call as { checkCancelled?: () => boolean; nextCall?: unknown } | undefined;
  for (let depth = 0; depth < 4 && inner !== undefined && inner !== null; depth++) {
    if (typeof inner.checkCancelled === 'function') return inner.checkCancelled();
    inner = inner.nextCall as typeof inner;
  }
  return false;
}

interface CancellableCall {
  on(event: 'cancelled' | 'close', listener: () => void): unknown;
  cancelled?: boolean;
  destroyed?: boolean;
}

/**
 * Runs `run` with a signal that fires when the client cancels the call or disconnects, or when
 * the broker shuts down. A stream that grpc-js destroys without a 'cancelled' event (a cancel
 * racing the handler's start) is caught by its 'close' event.
 *
 * The shutdown signal lives as long as the broker, so the call's listener on it is removed
 * when `run` settles. (`AbortSignal.any` would leave one entry per call on it for good: Node 20
 * never prunes its dependant-signal set, about 290 MB an hour for one tailing Fetch consumer.)
 */
export async function withCancelSignal<T>(broker: Broker, call: CancellableCall, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const shutdown = broker.shutdownSignal;
  const abort = (): void => controller.abort();
  if (shutdown.aborted || call.cancelled === true || call.destroyed === true || transportClosed(call)) abort();
  else shutdown.addEventListener('abort', abort, { once: true });
  call.on('cancelled', abort);
  call.on('close', abort);
  try {
    return await run(controller.signal);
  } finally {
    shutdown.removeEventListener('abort', abort);
  }
}
