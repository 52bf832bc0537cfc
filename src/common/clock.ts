/** Wall-clock time, injectable so retention and segment rolling can be tested without waiting. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/**
 * Time for durations (session timeouts, holds, deadlines): monotonic, so a wall-clock step (NTP,
 * an operator, a resumed VM) can neither cut a duration short nor stretch it. Its zero is
 * arbitrary: only differences mean anything, and values never leave the process.
 */
export interface MonotonicClock {
  monotonicMs(): number;
}

export const systemMonotonicClock: MonotonicClock = { monotonicMs: () => performance.now() };

/** A clock that only moves when told to (either kind; give each its own instance). */
export class ManualClock implements Clock, MonotonicClock {
  constructor(private currentMs = 0) {}
  nowMs(): number {
    return this.currentMs;
  }
  monotonicMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}
