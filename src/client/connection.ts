/**
 * The SDK's connection to a broker: one grpc-js channel per broker address (grpc-js reconnects
 * by itself, with capped exponential backoff set here), request deadlines, and the translation
 * of every gRPC failure into a RunnelError, so no raw gRPC error reaches the application.
 * Depends on src/format, src/common and the proto only; never on broker or storage code.
 */
import * as grpc from '@grpc/grpc-js';
import { RunnelError, isRunnelError, type ErrorCode, ERRORS } from '../common/errors.js';
import { loadPackageDefinition } from '../common/proto.js';
import { encodeProduceRequest } from './produce-request-encoder.js';

export interface ConnectionOptions {
  /** `host:port` addresses; the first reachable one is used, the next on UNAVAILABLE. */
  brokers: string[];
  clientId?: string;
  /** Deadline of each request (long polls add their own wait to it). */
  requestTimeoutMs?: number;
  reconnectBackoffMs?: number;
  reconnectBackoffMsMax?: number;
  /** Largest message sent or received. */
  maxMessageBytes?: number;
  /**
   * HTTP/2 receive window of the channel (per stream and per connection): how much a Fetch or
   * Subscribe answer may have in flight towards the client. Node's 64 KiB default makes every
   * 64 KiB wait a round trip; the broker widens its own windows the same way.
   */
  receiveWindowBytes?: number;
}

export const CONNECTION_DEFAULTS = {
  clientId: 'runnel-client',
  requestTimeoutMs: 30_000,
  reconnectBackoffMs: 100,
  reconnectBackoffMsMax: 2_000,
  maxMessageBytes: 128 * 1024 * 1024,
  receiveWindowBytes: 4 * 1024 * 1024,
} as const;

type Service = 'broker' | 'admin' | 'groups';
type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
type ServiceCtor = new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => Stub;

const ERROR_CODE_TRAILER = 'runnel-error-code';

/** A proto `Error` message from a response, as a RunnelError (null when absent). */
export function errorFromMessage(message: { code: string; message: string } | null | undefined, context: Record<string, unknown> = {}): RunnelError | null {
  if (message === null || message === undefined || message.code === 'NONE') return null;
  const code = (message.code in ERRORS ? message.code : 'INTERNAL') as ErrorCode;
  const err = new RunnelError(code, undefined, context);
  err.message = message.message;
  return err;
}

/** A failed call as a RunnelError: the broker's code from the trailer, else from the status. */
export function errorFromStatus(err: unknown, what: string): RunnelError {
  if (isRunnelError(err)) return err;
  const status = err as Partial<grpc.ServiceError>;
  const trailer = status.metadata?.get(ERROR_CODE_TRAILER)[0];
  if (typeof trailer === 'string' && trailer in ERRORS) {
    const typed = new RunnelError(trailer as ErrorCode, undefined, {}, { cause: err });
    typed.message = (status.details ?? '').replace(`${trailer}: `, '') || typed.message;
    return typed;
  }
  const code: ErrorCode =
    status.code === grpc.status.UNAVAILABLE
      ? 'BROKER_UNAVAILABLE'
      : status.code === grpc.status.DEADLINE_EXCEEDED
        ? 'REQUEST_TIMED_OUT'
        : status.code === grpc.status.RESOURCE_EXHAUSTED
          ? 'REQUEST_TOO_LARGE'
          : status.code === grpc.status.CANCELLED
            ? 'CLIENT_CLOSED'
            : 'INTERNAL';
  return new RunnelError(code, `${what}: ${status.details ?? String(err)}`, {}, { cause: err });
}

/**
 * The SDK's stub constructors: proto-loader's, except that Produce and ProduceStream requests
 * are encoded by encodeProduceRequest (one allocation, one copy per batch).
 */
export function serviceConstructors(): Record<Service, ServiceCtor> {
  const definitions = loadPackageDefinition();
  const broker = { ...(definitions['runnel.v1.Broker'] as grpc.ServiceDefinition) };
  for (const method of ['Produce', 'ProduceStream']) {
    broker[method] = { ...broker[method]!, requestSerialize: encodeProduceRequest as (value: unknown) => Buffer };
  }
  const ctor = (name: string): ServiceCtor => grpc.makeClientConstructor(definitions[`runnel.v1.${name}`] as grpc.ServiceDefinition, `runnel.v1.${name}`) as unknown as ServiceCtor;
  return {
    broker: grpc.makeClientConstructor(broker, 'runnel.v1.Broker') as unknown as ServiceCtor,
    admin: ctor('Admin'),
    groups: ctor('Groups'),
  };
}

export class Connection {
  readonly options: Required<ConnectionOptions>;
  private readonly ctors: Record<Service, ServiceCtor>;
  private stubs: Partial<Record<Service, Stub>> = {};
  private addressIndex = 0;
  private closed = false;

  constructor(options: ConnectionOptions) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0 || options.brokers.some((b) => typeof b !== 'string' || !b.includes(':'))) {
      throw new RunnelError('INVALID_CONFIG', 'brokers must be a non-empty list of "host:port" strings');
    }
    this.options = { ...CONNECTION_DEFAULTS, ...options };
    const window = this.options.receiveWindowBytes;
    if (!Number.isInteger(window) || window < 65_535 || window > 2 ** 31 - 1) {
      throw new RunnelError('INVALID_CONFIG', `receiveWindowBytes must be an integer from 65535 to 2^31-1, got ${String(window)}`);
    }
    this.ctors = serviceConstructors();
  }

  get address(): string {
    return this.options.brokers[this.addressIndex % this.options.brokers.length]!;
  }

  /** The stub of a service on the current broker, created on first use. */
  stub(service: Service): Stub {
    if (this.closed) throw new RunnelError('CLIENT_CLOSED', 'the client is closed');
    let stub = this.stubs[service];
    if (stub === undefined) {
      const { maxMessageBytes, reconnectBackoffMs, reconnectBackoffMsMax, clientId, receiveWindowBytes } = this.options;
      stub = new this.ctors[service](this.address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': maxMessageBytes,
        'grpc.max_send_message_length': maxMessageBytes,
        'grpc.initial_reconnect_backoff_ms': reconnectBackoffMs,
        'grpc.max_reconnect_backoff_ms': reconnectBackoffMsMax,
        'grpc.primary_user_agent': clientId,
        'grpc.keepalive_time_ms': 30_000,
        'grpc-node.flow_control_window': receiveWindowBytes,
      });
      this.stubs[service] = stub;
    }
    return stub;
  }

  /** One unary call with a deadline; failures are RunnelErrors. `signal` cancels it (CLIENT_CLOSED). */
  unary<Res>(service: Service, method: string, request: unknown, timeoutMs = this.options.requestTimeoutMs, signal?: AbortSignal): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let stub: Stub;
      try {
        stub = this.stub(service);
      } catch (err) {
        return reject(errorFromStatus(err, method));
      }
      if (signal?.aborted === true) return reject(new RunnelError('CLIENT_CLOSED', `${method} was cancelled`));
      const deadline = Date.now() + timeoutMs;
      const fn = stub[method] as (req: unknown, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;
      const onAbort = (): void => call.cancel();
      const call = fn.call(stub, request, { deadline, waitForReady: true }, (err, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (err === null) return resolve(response);
        const typed = errorFromStatus(err, `${method} to ${this.address}`);
        if (typed.code === 'BROKER_UNAVAILABLE') this.rotate();
        reject(typed);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Moves to the next broker address (after UNAVAILABLE), dropping the current channels. */
  private rotate(): void {
    if (this.options.brokers.length < 2) return;
    for (const stub of Object.values(this.stubs)) stub.close();
    this.stubs = {};
    this.addressIndex++;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the channels; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stub of Object.values(this.stubs)) stub.close();
    this.stubs = {};
  }
}
