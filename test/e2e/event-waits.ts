/**
 * Waits driven by events, never by polling, for the end-to-end tests: whatever changes what a
 * wait looks at (a child's output or exit, an acknowledgement) calls `notify()`, and every
 * pending wait checks again. Each wait is bounded by its own timeout.
 */
export class EventWaits {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves once `done()` holds; rejects with `failed()`'s error as soon as it returns one (done
   * is checked first), or with `timedOut()`'s after `timeoutMs`. Checked now and on every event.
   */
  until(done: () => boolean, failed: () => Error | null, timedOut: () => Error, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = (): void => {
        if (done()) return finish();
        const err = failed();
        if (err !== null) finish(err);
      };
      const timer = setTimeout(() => finish(timedOut()), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}

/**
 * What a test with many children waits on: their events, and one failure (a child that went
 * wrong) that ends every wait at once, before its condition is looked at.
 */
export class Hub {
  failure: Error | null = null;
  private readonly waits = new EventWaits();

  constructor(private readonly defaultTimeoutMs: number) {}

  notify(): void {
    this.waits.notify();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  /** Resolves when `done()` holds; rejects on a failure or after `timeoutMs`, with `context()` in the message. */
  until(done: () => boolean, what: string, context: () => string, timeoutMs = this.defaultTimeoutMs): Promise<void> {
    return this.waits.until(
      () => this.failure === null && done(),
      () => (this.failure === null ? null : new Error(`${what}: ${this.failure.message}\n${context()}`, { cause: this.failure })),
      () => new Error(`${what}: not within ${timeoutMs} ms\n${context()}`),
      timeoutMs,
    );
  }
}
