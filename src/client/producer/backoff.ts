/**
 * Capped exponential backoff with jitter: retryBackoffMs * 2^attempt, at most retryBackoffMsMax,
 * each wait drawn from [80%, 100%] of it so producers that failed together do not retry in step.
 */
const JITTER = 0.2;

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponentialMs = baseMs * 2 ** Math.min(attempt, 30);
  const cappedMs = Math.min(exponentialMs, maxMs);
  return Math.max(1, Math.round(cappedMs * (1 - JITTER * Math.random())));
}
