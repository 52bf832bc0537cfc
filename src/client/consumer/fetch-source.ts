/**
 * The Fetch source: a long-poll loop (wait up to fetchMaxWaitMs for at least one byte) over the
 * partitions it serves, each from its current fetchOffset. Backpressure is simply not sending
 * the next Fetch while paused. The partition order rotates per request so one busy partition
 * cannot take every response's byte budget.
 */
import { errorFromStatus, type Connection } from '../connection.js';
import type { PartitionState } from './partition-state.js';
import type { PartitionData, Source, SourceSink } from './source.js';

interface FetchRequest {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  topics: { topic: string; partitions: { partition: number; fetchOffset: number; maxBytes: number }[] }[];
}

interface FetchResponse {
  topics: { topic: string; partitions: Omit<PartitionData, 'topic'>[] }[];
}

export class FetchSource implements Source {
  readonly transport = 'fetch';
  private paused = false;
  private done = false;
  private wakeUp: (() => void) | null = null;
  private turn = 0;

  constructor(
    private readonly connection: Connection,
    private readonly partitions: readonly PartitionState[],
    private readonly options: { maxBytes: number; fetchMaxWaitMs: number },
    private readonly sink: SourceSink,
  ) {}

  start(): void {
    this.loop().then(
      () => this.finish(null),
      (err: unknown) => this.finish(err),
    );
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake();
  }

  close(): void {
    this.done = true;
    this.wake();
  }

  private async loop(): Promise<void> {
    while (!this.done) {
      const wanted = this.partitions.filter((p) => p.fetchable);
      // Paused, or every partition stopped: idle until resumed or replaced.
      if (this.paused || wanted.length === 0) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        continue;
      }
      const timeoutMs = this.connection.options.requestTimeoutMs + this.options.fetchMaxWaitMs;
      const response = await this.connection.unary<FetchResponse>('broker', 'fetch', this.request(wanted), timeoutMs);
      for (const { topic, partitions } of response.topics) {
        for (const p of partitions) if (!this.done) this.sink.data(this, { topic, ...p });
      }
    }
  }

  private request(wanted: readonly PartitionState[]): FetchRequest {
    const start = this.turn++ % wanted.length;
    const ordered = [...wanted.slice(start), ...wanted.slice(0, start)];
    const topics: FetchRequest['topics'] = [];
    for (const p of ordered) {
      const wire = { partition: p.partition, fetchOffset: p.fetchOffset, maxBytes: this.options.maxBytes };
      const last = topics[topics.length - 1];
      if (last?.topic === p.topic) last.partitions.push(wire);
      else topics.push({ topic: p.topic, partitions: [wire] });
    }
    return { maxWaitMs: this.options.fetchMaxWaitMs, minBytes: 1, maxBytes: this.options.maxBytes, topics };
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  private finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.sink.failed(this, err === null ? null : errorFromStatus(err, 'Fetch'));
  }
}
