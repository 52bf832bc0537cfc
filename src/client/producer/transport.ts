/**
 * The producer's wire: one Broker.ProduceStream (bidirectional) at a time, requests pipelined
 * and matched to answers by correlation id. The broker appends a stream's requests strictly in
 * order and answers in order, which is what keeps a partition's batches in order when several
 * are in flight (separate unary calls would be handled concurrently, and a later batch could
 * reach the log first).
 *
 * When the stream breaks (broker restart, network, no answer within `requestTimeoutMs`), every
 * request in flight fails with the error and the next stream is opened after a capped
 * exponential backoff; the sender re-sends what was in flight.
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import { errorFromStatus, type Connection } from '../connection.js';
import { backoffMs } from '../backoff.js';

export type WireAcks = 'ACKS_NONE' | 'ACKS_LEADER' | 'ACKS_ALL';

export interface ProduceRequest {
  correlationId: number;
  acks: WireAcks;
  topics: { topic: string; partitions: { partition: number; records: Buffer }[] }[];
}

export interface PartitionProduceResult {
  partition: number;
  error: { code: string; message: string } | null;
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  duplicate: boolean;
}

export interface ProduceResponse {
  correlationId: number;
  topics: { topic: string; partitions: PartitionProduceResult[] }[];
}

export type ResponseCallback = (err: RunnelError | null, response: ProduceResponse | null) => void;

type ProduceCall = grpc.ClientDuplexStream<ProduceRequest, ProduceResponse>;

interface Pending {
  callback: ResponseCallback;
  sentAtMs: number;
}

export interface TransportOptions {
  requestTimeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMsMax: number;
}

export class ProduceTransport {
  private call: ProduceCall | null = null;
  /** Insertion order is send order: the first entry is the oldest request. */
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private failuresInARow = 0;
  private reopenAtMs = 0;
  streamsOpened = 0;

  constructor(
    private readonly connection: Connection,
    private readonly options: TransportOptions,
    /** Called when a broken stream may be reopened, so the sender can drain again. */
    private readonly onReady: () => void,
  ) {}

  get inFlightRequests(): number {
    return this.pending.size;
  }

  /** False while waiting to reopen a broken stream. */
  canSend(nowMs: number): boolean {
    return this.call !== null || nowMs >= this.reopenAtMs;
  }

  /** When a broken stream may be reopened (0 when it may now). */
  get reopenAtTimeMs(): number {
    return this.call === null ? this.reopenAtMs : 0;
  }

  /** Writes a request; the callback gets its answer or the error that broke the stream. */
  send(request: Omit<ProduceRequest, 'correlationId'>, callback: ResponseCallback): void {
    const call = this.call ?? this.open();
    const correlationId = this.nextCorrelationId++;
    this.pending.set(correlationId, { callback, sentAtMs: Date.now() });
    call.write({ ...request, correlationId });
  }

  /** Breaks the stream when its oldest request waited longer than requestTimeoutMs; returns when to check next. */
  checkTimeouts(nowMs: number): number {
    const oldest = this.pending.values().next().value;
    if (oldest === undefined) return Infinity;
    const dueMs = oldest.sentAtMs + this.options.requestTimeoutMs;
    if (nowMs < dueMs) return dueMs;
    const call = this.call;
    this.broken(new RunnelError('REQUEST_TIMED_OUT', `no produce answer within requestTimeoutMs (${this.options.requestTimeoutMs} ms) on the stream to ${this.connection.address}`));
    call?.cancel();
    return Infinity;
  }

  /** Half-closes the stream; the broker answers what it has and ends it. */
  close(): void {
    const call = this.call;
    this.call = null;
    call?.end();
  }

  private open(): ProduceCall {
    // Throws CLIENT_CLOSED when the connection was closed: the sender fails the batches.
    const stub = this.connection.stub('broker');
    const call = (stub.produceStream as (options: grpc.CallOptions) => ProduceCall).call(stub, {});
    this.call = call;
    this.streamsOpened++;
    call.on('data', (response: ProduceResponse) => this.answer(response));
    call.on('error', (err: unknown) => {
      if (this.call === call) this.broken(errorFromStatus(err, `ProduceStream to ${this.connection.address}`));
    });
    call.on('end', () => {
      if (this.call === call) this.broken(new RunnelError('BROKER_UNAVAILABLE', `the broker ended the produce stream (${this.connection.address})`));
    });
    return call;
  }

  private answer(response: ProduceResponse): void {
    const pending = this.pending.get(response.correlationId);
    if (pending === undefined) return;
    this.pending.delete(response.correlationId);
    this.failuresInARow = 0;
    pending.callback(null, response);
  }

  /** The stream is gone: every request in flight fails with `err`; the next stream waits a backoff. */
  private broken(err: RunnelError): void {
    this.call = null;
    this.reopenAtMs = Date.now() + backoffMs(this.failuresInARow++, this.options.retryBackoffMs, this.options.retryBackoffMsMax);
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const { callback } of failed) callback(err, null);
    this.onReady();
  }
}
