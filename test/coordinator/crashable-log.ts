/**
 * `__consumer_offsets` in memory for coordinator tests, with crashes: an append is stored at
 * once and becomes durable when the test calls release() (or at once with `autoRelease`); a
 * crash keeps the durable batches of each partition plus a random prefix of the others (what a
 * process crash leaves: the fsync'd prefix, maybe more). `failNext` makes appends fail.
 */
import type { OffsetLog } from '../../src/coordinator/offset-store.js';
import { decodeRecordBatches } from '../../src/format/record-batch.js';

export class CrashableLog implements OffsetLog {
  private partitions: { batches: Buffer[]; durable: number }[] | null = null;
  private waiting: (() => void)[] = [];
  /** Appends made durable at once. */
  autoRelease = false;
  /** The next this many appends fail (nothing stored). */
  failNext = 0;
  appends = 0;
  /** Appends failed so far. */
  failures = 0;

  partitionCount(): number | null {
    return this.partitions?.length ?? null;
  }

  fileOf(partition: number, offset: number): string {
    return `memory:${partition}@${offset}`;
  }

  create(partitions: number): Promise<number> {
    this.partitions ??= Array.from({ length: partitions }, () => ({ batches: [], durable: 0 }));
    return Promise.resolve(this.partitions.length);
  }

  appendDurable(partition: number, batch: Buffer): Promise<void> {
    const log = this.partitions?.[partition];
    if (log === undefined) return Promise.reject(new Error(`no partition ${partition}`));
    if (this.failNext > 0) {
      this.failNext--;
      this.failures++;
      return Promise.reject(new Error('injected append failure'));
    }
    this.appends++;
    log.batches.push(Buffer.from(batch));
    if (this.autoRelease) {
      log.durable = log.batches.length;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async *read(partition: number): AsyncIterable<Buffer> {
    const log = this.partitions?.[partition];
    for (const batch of log?.batches ?? []) yield await Promise.resolve(batch);
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** Every append so far becomes durable. */
  release(): void {
    for (const log of this.partitions ?? []) log.durable = log.batches.length;
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** The process dies: durable batches stay, of the others a random prefix per partition; no waiter is ever answered. */
  crash(random: () => number): void {
    for (const log of this.partitions ?? []) {
      const kept = log.durable + Math.floor(random() * (log.batches.length - log.durable + 1));
      log.batches.length = kept;
      log.durable = kept;
    }
    this.waiting = [];
  }

  /** Every record stored, all partitions, in log order per partition. */
  records(): { key: Buffer | null; value: Buffer | null }[] {
    return (this.partitions ?? []).flatMap((log) => log.batches.flatMap((batch) => decodeRecordBatches(batch).flatMap((b) => b.records)));
  }

  /** Appends a batch as if an earlier process had written it (durable). */
  appendStored(partition: number, batch: Buffer): void {
    const log = this.partitions![partition];
    log.batches.push(batch);
    log.durable = log.batches.length;
  }
}
