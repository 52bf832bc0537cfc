/**
 * The producer's memory bound (`bufferBytes`): bytes of records accepted by `send` and not yet
 * acknowledged (buffered in batches or in flight). A send that does not fit waits, in FIFO order
 * so a large send is not starved by small ones, for at most `maxBlockMs`, then fails with
 * BUFFER_FULL. Sends queued behind it are bounded too (`admit`: their bytes at most
 * `bufferBytes`; beyond, a send fails at once), so memory stays bounded even when the
 * application does not await its sends: at most 2 x bufferBytes of serialized records are held.
 */
import { assert } from '../../common/assert.js';
import { RunnelError } from '../../common/errors.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: RunnelError) => void;
  timer: NodeJS.Timeout;
}

export class BufferBudget {
  private usedBytes = 0;
  private waitingBytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly capacityBytes: number,
    private readonly maxBlockMs: number,
  ) {}

  get bufferedBytes(): number {
    return this.usedBytes;
  }

  get queuedBytes(): number {
    return this.waitingBytes;
  }

  /** Reserves at once when there is room and nobody waits; false otherwise. */
  tryReserve(bytes: number): boolean {
    if (this.waiters.length > 0 || this.usedBytes + bytes > this.capacityBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  /**
   * Counts a send that must queue (for metadata or room) against the queue's bound; the error
   * when it cannot queue: larger than the whole buffer, or the queue is full.
   */
  admit(bytes: number): RunnelError | null {
    if (bytes > this.capacityBytes) {
      return this.full(`the send takes ${bytes} bytes, more than bufferBytes (${this.capacityBytes}); split it or raise bufferBytes`);
    }
    if (this.waitingBytes + bytes > this.capacityBytes) {
      return this.full(`the buffer (${this.capacityBytes} bytes) is full and so is the queue of sends waiting for it; await sends before making more`);
    }
    this.waitingBytes += bytes;
    return null;
  }

  /** A send admitted to the queue left it (placed or failed). */
  leave(bytes: number): void {
    this.waitingBytes -= bytes;
    assert(this.waitingBytes >= 0, 'more bytes left the send queue than entered it');
  }

  /** Reserves `bytes`, waiting for room up to `maxBlockMs` (counted from `startedAtMs`). */
  reserve(bytes: number, startedAtMs: number): Promise<void> {
    if (this.tryReserve(bytes)) return Promise.resolve();
    const waitMs = Math.max(0, this.maxBlockMs - (Date.now() - startedAtMs));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        timer: setTimeout(() => this.expire(waiter), waitMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Gives bytes back (records acknowledged or failed) and admits the waiters that now fit. */
  release(bytes: number): void {
    this.usedBytes -= bytes;
    assert(this.usedBytes >= 0, 'the producer released more buffer bytes than it reserved');
    while (this.waiters.length > 0 && this.usedBytes + this.waiters[0]!.bytes <= this.capacityBytes) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      this.usedBytes += waiter.bytes;
      waiter.resolve();
    }
  }

  private expire(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    waiter.reject(this.full(`no room for ${waiter.bytes} bytes within maxBlockMs (${this.maxBlockMs} ms): ${this.usedBytes} of bufferBytes (${this.capacityBytes}) are buffered or in flight (is the broker slow or down?)`));
    // The expired waiter may have held back smaller ones behind it.
    this.release(0);
  }

  private full(detail: string): RunnelError {
    return new RunnelError('BUFFER_FULL', detail, { bufferBytes: this.capacityBytes, maxBlockMs: this.maxBlockMs });
  }
}
