/** Admin client options: defaults and validation in one place. */
import { RunnelError } from '../../common/errors.js';

export interface AdminOptions {
  /** Deadline of each admin request; defaults to the connection's `requestTimeoutMs`. */
  requestTimeoutMs?: number;
}

export interface ResolvedAdminOptions {
  requestTimeoutMs: number | undefined;
}

const KNOWN = new Set(['requestTimeoutMs']);

export function resolveAdminOptions(options: AdminOptions = {}): ResolvedAdminOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new RunnelError('INVALID_CONFIG', `unknown admin option ${key}`);
  }
  const { requestTimeoutMs } = options;
  if (requestTimeoutMs !== undefined && (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1)) {
    throw new RunnelError('INVALID_CONFIG', `requestTimeoutMs must be a positive integer, got ${String(requestTimeoutMs)}`);
  }
  return { requestTimeoutMs };
}
