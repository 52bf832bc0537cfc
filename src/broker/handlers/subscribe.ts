/**
 * Subscribe (server stream): adapts the grpc-js writable to subscribe.ts's sink, so gRPC flow
 * control (write() returning false, then 'drain') bounds what a slow subscriber costs.
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import type { Broker } from '../broker.js';
import { subscribe, type SubscribeMessage, type SubscribeRequestShape } from '../subscribe.js';
import { asRunnelError, errorMessage, observe, toServiceError, withCancelSignal } from './rpc.js';

export function subscribeHandler(broker: Broker): grpc.handleServerStreamingCall<SubscribeRequestShape, unknown> {
  return (call) => {
    const started = process.hrtime.bigint();
    const sink = {
      write: (m: SubscribeMessage): boolean =>
        call.write({ topic: m.topic, partition: m.partition, records: m.records, nextOffset: m.nextOffset, offsets: m.offsets, error: errorMessage(m.error) }),
      drained: (abort: AbortSignal): Promise<void> =>
        new Promise<void>((resolve) => {
          // A cancelled call is destroyed: write() returns false and 'drain' never comes, and the
          // abort has usually fired already (during a log read), so neither event would wake us.
          if (abort.aborted) {
            resolve();
            return;
          }
          const done = (): void => {
            call.off('drain', done);
            abort.removeEventListener('abort', done);
            resolve();
          };
          call.once('drain', done);
          abort.addEventListener('abort', done, { once: true });
        }),
    };
    const run = broker.isClosing ? Promise.reject(new RunnelError('BROKER_SHUTTING_DOWN')) : withCancelSignal(broker, call, (signal) => subscribe(broker, call.request, sink, signal, call.getPeer()));
    run.then(
      () => {
        observe(broker, 'Subscribe', started, 'NONE');
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        const error = asRunnelError(broker, err, 'Subscribe');
        observe(broker, 'Subscribe', started, error.code);
        if (!call.cancelled) call.emit('error', toServiceError(error));
      },
    );
  };
}
