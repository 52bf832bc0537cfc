/** Wall-clock time, injectable so retention and segment rolling can be tested without waiting. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  constructor(private currentMs = 0) {}
  nowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}

/** Milliseconds on a monotonic clock (performance.now): for durations, never for timestamps. */
export function monotonicNowMs(): number {
  return performance.now();
}
