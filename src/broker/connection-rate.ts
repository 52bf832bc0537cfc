/**
 * A rate bound per client connection: at most `limit` takes per connection in each window of
 * `windowMs` (a fixed window, on the monotonic clock, so a wall-clock step neither resets nor
 * extends it). Connections are named by their gRPC peer (`ip:port`): without authentication
 * that is the finest identity a broker has (Kafka's KIP-936 bounds producer ids per principal).
 * The table of connections is bounded: windows that have ended are swept when it fills.
 */
import { systemMonotonicClock, type MonotonicClock } from '../common/clock.js';

interface Window {
  startMs: number;
  taken: number;
}

const TRACKED_CONNECTIONS_MAX = 100_000;

export class ConnectionRate {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly clock: MonotonicClock = systemMonotonicClock,
  ) {}

  /** True when `connection` may take one more this window (and counts it). */
  tryTake(connection: string): boolean {
    const now = this.clock.monotonicMs();
    let window = this.windows.get(connection);
    if (window === undefined || now - window.startMs >= this.windowMs) {
      if (window === undefined && this.windows.size >= TRACKED_CONNECTIONS_MAX) this.sweep(now);
      window = { startMs: now, taken: 0 };
      this.windows.set(connection, window);
    }
    if (window.taken >= this.limit) return false;
    window.taken++;
    return true;
  }

  private sweep(now: number): void {
    for (const [connection, window] of this.windows) if (now - window.startMs >= this.windowMs) this.windows.delete(connection);
    // Still full: every tracked connection is inside its window. Forget the oldest, which at
    // worst lets that one connection start a new window early.
    if (this.windows.size >= TRACKED_CONNECTIONS_MAX) this.windows.delete(this.windows.keys().next().value!);
  }
}
