/**
 * The Subscribe source: one server stream for all the partitions it serves. Backpressure is
 * gRPC's: pause() stops reading the stream, grpc-js then stops asking HTTP/2 for more once its
 * small object buffer (16 messages) is full, the stream's flow-control window closes, and the
 * broker's write() returns false, so it reads nothing more from the log until we resume.
 */
import type * as grpc from '@grpc/grpc-js';
import type { RunnelError } from '../../common/errors.js';
import { errorFromStatus, type Connection } from '../connection.js';
import type { PartitionState } from './partition-state.js';
import type { PartitionData, Source, SourceSink } from './source.js';

interface SubscribeRequest {
  partitions: { topic: string; partition: number; startOffset: number }[];
  maxBytes: number;
}

type SubscribeCall = grpc.ClientReadableStream<PartitionData>;
type SubscribeMethod = (request: SubscribeRequest, options: grpc.CallOptions) => SubscribeCall;

/** Youngest age at which a stream is cancelled (see close()). */
const CANCEL_AFTER_MS = 100;

export class SubscribeSource implements Source {
  readonly transport = 'subscribe';
  private call: SubscribeCall | null = null;
  private startedAtMs = 0;
  private paused = false;
  private done = false;

  constructor(
    private readonly connection: Connection,
    private readonly partitions: readonly PartitionState[],
    private readonly maxBytes: number,
    private readonly sink: SourceSink,
  ) {}

  start(): void {
    const request: SubscribeRequest = {
      partitions: this.partitions.map((p) => ({ topic: p.topic, partition: p.partition, startOffset: p.fetchOffset })),
      maxBytes: this.maxBytes,
    };
    let call: SubscribeCall;
    try {
      const stub = this.connection.stub('broker');
      // No waitForReady: with the broker down the call fails at once and the consumer's own
      // capped backoff paces the retries, instead of a call hanging with no sign of trouble.
      call = (stub.subscribe as SubscribeMethod).call(stub, request, {});
    } catch (err) {
      queueMicrotask(() => this.finish(errorFromStatus(err, 'Subscribe')));
      return;
    }
    this.call = call;
    this.startedAtMs = Date.now();
    call.on('data', (message: PartitionData) => {
      if (!this.done) this.sink.data(this, message);
    });
    // Listened for even after close(): cancelling emits a CANCELLED error that must not go unheard.
    call.on('error', (err: unknown) => this.finish(errorFromStatus(err, `Subscribe to ${this.connection.address}`)));
    call.on('end', () => this.finish(null));
    if (this.paused) call.pause();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.call?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.call?.resume();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    const call = this.call;
    if (call === null) return;
    // A cancel that reaches the broker before it has started the call's handler is lost (grpc-js
    // signals no 'cancelled' to a handler that did not exist yet) and leaks the broker's stream,
    // so a young stream is paused now and cancelled once surely started.
    const waitMs = this.startedAtMs + CANCEL_AFTER_MS - Date.now();
    if (waitMs <= 0) {
      call.cancel();
      return;
    }
    call.pause();
    setTimeout(() => call.cancel(), waitMs).unref();
  }

  private finish(error: RunnelError | null): void {
    if (this.done) return;
    this.done = true;
    this.sink.failed(this, error);
  }
}
