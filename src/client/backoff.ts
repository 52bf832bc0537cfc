/**
 * Capped exponential backoff with jitter, shared by the producer (retries) and the consumer
 * (reopening streams): `baseMs * 2^attempt`, at most `maxMs`, each wait drawn from the top
 * `jitter` fraction below that, so clients that failed together do not retry in step.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, jitter = 0.2, random: () => number = Math.random): number {
  const cappedMs = Math.min(baseMs * 2 ** Math.min(attempt, 30), maxMs);
  return Math.max(1, Math.round(cappedMs * (1 - jitter * random())));
}

/** A backoff that counts its own failures (reset after a success). */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt, from [half, full] of the capped doubling; counts a failure. */
  nextMs(): number {
    return backoffMs(this.failures++, this.initialMs, this.maxMs, 0.5, this.random);
  }

  reset(): void {
    this.failures = 0;
  }
}
