/**
 * The one error table. Every operating error Runnel reports carries a stable `code` from this
 * table; the code decides the gRPC status and whether a client may retry. Broken invariants are
 * not here: they are `assert()` failures (src/common/assert.ts) and crash the operation.
 *
 * Codes are part of the public contract: never renumber or rename one, only add.
 */
import { GrpcStatus, type GrpcStatusCode } from './grpc-status.js';

interface ErrorSpec {
  /** Stable number, mirrored by the `ErrorCode` enum in proto/runnel/v1. */
  readonly id: number;
  readonly status: GrpcStatusCode;
  readonly retriable: boolean;
  readonly message: string;
}

export const ERRORS = {
  INVALID_ARGUMENT: { id: 1, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid argument' },
  INVALID_CONFIG: { id: 2, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid configuration' },
  INVALID_TOPIC_NAME: { id: 3, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid topic name' },
  UNKNOWN_TOPIC: { id: 4, status: GrpcStatus.NOT_FOUND, retriable: false, message: 'unknown topic' },
  UNKNOWN_PARTITION: { id: 5, status: GrpcStatus.NOT_FOUND, retriable: false, message: 'unknown partition' },
  TOPIC_ALREADY_EXISTS: { id: 6, status: GrpcStatus.ALREADY_EXISTS, retriable: false, message: 'topic already exists' },
  CORRUPT_BATCH: { id: 7, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'corrupt record batch' },
  BATCH_TOO_LARGE: { id: 8, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'record batch too large' },
  OFFSET_OUT_OF_RANGE: { id: 9, status: GrpcStatus.OUT_OF_RANGE, retriable: false, message: 'offset out of range' },
  STORAGE_ERROR: { id: 10, status: GrpcStatus.UNAVAILABLE, retriable: true, message: 'storage error' },
  DISK_FULL: { id: 11, status: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true, message: 'disk full' },
  LOG_CLOSED: { id: 12, status: GrpcStatus.UNAVAILABLE, retriable: true, message: 'partition log is closed' },
  INTERNAL: { id: 13, status: GrpcStatus.INTERNAL, retriable: false, message: 'internal error' },
  REQUEST_TOO_LARGE: { id: 14, status: GrpcStatus.RESOURCE_EXHAUSTED, retriable: false, message: 'request too large' },
  LIMIT_EXCEEDED: { id: 15, status: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true, message: 'limit exceeded' },
  OUT_OF_ORDER_SEQUENCE: { id: 16, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'out of order sequence number' },
  PRODUCER_FENCED: { id: 17, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'producer fenced by a newer epoch' },
  UNKNOWN_PRODUCER_ID: { id: 18, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'unknown producer id' },
  INVALID_PRODUCER_FIELDS: { id: 19, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid producer fields' },
  BROKER_SHUTTING_DOWN: { id: 20, status: GrpcStatus.UNAVAILABLE, retriable: true, message: 'broker is shutting down' },
  REQUEST_TIMED_OUT: { id: 21, status: GrpcStatus.DEADLINE_EXCEEDED, retriable: true, message: 'request timed out' },
  BROKER_UNAVAILABLE: { id: 22, status: GrpcStatus.UNAVAILABLE, retriable: true, message: 'broker unavailable' },
  CLIENT_CLOSED: { id: 23, status: GrpcStatus.CANCELLED, retriable: false, message: 'client closed' },
  BUFFER_FULL: { id: 24, status: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true, message: 'producer buffer full' },
  // Consumer groups (src/coordinator). A member that gets UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH
  // has lost its partitions and joins again (member epoch 0).
  UNKNOWN_MEMBER_ID: { id: 25, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'unknown group member' },
  FENCED_MEMBER_EPOCH: { id: 26, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'member epoch fenced' },
  STALE_MEMBER_EPOCH: { id: 27, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'stale member epoch' },
  UNKNOWN_GROUP: { id: 28, status: GrpcStatus.NOT_FOUND, retriable: false, message: 'unknown group' },
  GROUP_NOT_EMPTY: { id: 29, status: GrpcStatus.FAILED_PRECONDITION, retriable: false, message: 'group has active members' },
  INVALID_GROUP_ID: { id: 30, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid group id' },
  UNSUPPORTED_ASSIGNOR: { id: 31, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'unsupported assignor' },
  INVALID_SESSION_TIMEOUT: { id: 32, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'session timeout outside the broker bounds' },
  NOT_COORDINATOR: { id: 33, status: GrpcStatus.FAILED_PRECONDITION, retriable: true, message: 'not the coordinator of this group' },
  INTERNAL_TOPIC: { id: 34, status: GrpcStatus.PERMISSION_DENIED, retriable: false, message: 'internal topic' },
  OFFSET_METADATA_TOO_LARGE: { id: 35, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'offset metadata too large' },
  PARTITIONS_LOST: { id: 36, status: GrpcStatus.ABORTED, retriable: true, message: 'group partitions lost' },
  // A record timestamp outside the topic's messageTimestampBeforeMaxMs / AfterMaxMs window, or a
  // client batch that claims LogAppendTime (Kafka's INVALID_TIMESTAMP).
  INVALID_TIMESTAMP: { id: 37, status: GrpcStatus.INVALID_ARGUMENT, retriable: false, message: 'invalid record timestamp' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Where an error happened, when it concerns one topic or partition. */
export interface ErrorContext {
  topic?: string;
  partition?: number;
  [key: string]: unknown;
}

export class RunnelError extends Error {
  override readonly name = 'RunnelError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, detail?: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    const spec = ERRORS[code];
    super(detail === undefined ? spec.message : `${spec.message}: ${detail}`, options);
    this.code = code;
    this.context = context;
  }

  /** The same error with more context (say, the topic and partition a lower layer did not know). */
  withContext(context: ErrorContext): RunnelError {
    const copy = new RunnelError(this.code, undefined, { ...context, ...this.context }, { cause: this.cause });
    copy.message = this.message;
    return copy;
  }

  get retriable(): boolean {
    return ERRORS[this.code].retriable;
  }

  get grpcStatus(): GrpcStatusCode {
    return ERRORS[this.code].status;
  }
}

export function isRunnelError(err: unknown, code?: ErrorCode): err is RunnelError {
  return err instanceof RunnelError && (code === undefined || err.code === code);
}

/**
 * Maps a Node.js file-system error to a typed storage error. ENOSPC and EDQUOT are "disk full"
 * (an operator can free space and retry); everything else (EIO, EROFS, EBADF...) is a storage
 * error that takes the partition's log out of service until it is reopened.
 */
export function storageError(err: unknown, what: string, context: ErrorContext = {}): RunnelError {
  if (err instanceof RunnelError) return err.withContext(context);
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const code: ErrorCode = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'DISK_FULL' : 'STORAGE_ERROR';
  const reason = err instanceof Error ? err.message : String(err);
  return new RunnelError(code, `${what}: ${reason}`, { ...context, errno }, { cause: err });
}
