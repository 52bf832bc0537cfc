/**
 * A broker-wide budget of request bytes being received (Kafka's queued.max.request.bytes).
 * Each gRPC message's declared length is reserved before its body is read (see
 * http2-admission.ts) and released once the body has arrived, or when its stream closes. A
 * reservation that does not fit waits, first come first served, and its stream is not read
 * meanwhile; since a reserved message never needs more budget to complete, waiting cannot
 * deadlock, provided no message is larger than the budget (config requires
 * limits.maxRequestBytesInFlight >= limits.maxRequestBytes).
 */
import { assert } from '../common/assert.js';

interface Waiter {
  bytes: number;
  grant: () => void;
  cancelled: boolean;
}

export class RequestBudget {
  private reservedBytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly limitBytes: number) {}

  /** Bytes reserved now (a metric). */
  get inFlightBytes(): number {
    return this.reservedBytes;
  }

  /** Streams waiting for room (a metric). */
  get waitingCount(): number {
    return this.waiters.length;
  }

  /**
   * Reserves `bytes` now and returns null, or queues the reservation and returns a cancel
   * function; `grant` runs once the bytes are reserved (never when cancelled first).
   */
  reserve(bytes: number, grant: () => void): (() => void) | null {
    assert(bytes >= 0 && bytes <= this.limitBytes, `a reservation of ${bytes} bytes exceeds the budget of ${this.limitBytes}`);
    if (this.waiters.length === 0 && this.reservedBytes + bytes <= this.limitBytes) {
      this.reservedBytes += bytes;
      return null;
    }
    const waiter: Waiter = { bytes, grant, cancelled: false };
    this.waiters.push(waiter);
    return () => {
      waiter.cancelled = true;
      this.grantWaiters();
    };
  }

  release(bytes: number): void {
    this.reservedBytes -= bytes;
    assert(this.reservedBytes >= 0, 'released more request bytes than were reserved');
    this.grantWaiters();
  }

  private grantWaiters(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (head.cancelled) {
        this.waiters.shift();
        continue;
      }
      if (this.reservedBytes + head.bytes > this.limitBytes) return;
      this.waiters.shift();
      this.reservedBytes += head.bytes;
      head.grant();
    }
  }
}
