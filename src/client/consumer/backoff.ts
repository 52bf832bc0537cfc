/**
 * Capped exponential backoff with jitter, for reopening a stream or retrying a fetch: the wait
 * doubles per failure up to the cap, and is drawn from [half, full] of that so consumers that
 * lost the same broker do not all come back at the same instant.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt; each call counts one more failure. */
  nextMs(): number {
    const ceilingMs = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(ceilingMs / 2 + (this.random() * ceilingMs) / 2);
  }

  /** After a success: the next failure waits the initial time again. */
  reset(): void {
    this.failures = 0;
  }
}
