/**
 * Partition counts of topics, from Admin.DescribeTopics, cached for `metadataMaxAgeMs`. A count
 * past its age is still used while a refresh runs in the background (as Kafka does), so the send
 * path waits for metadata only the first time it sees a topic. A produce answered with
 * UNKNOWN_TOPIC or UNKNOWN_PARTITION invalidates the topic, so added partitions (or a deleted
 * topic) are noticed at once.
 */
import { RunnelError } from '../../common/errors.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { backoffMs } from '../backoff.js';

interface DescribeTopicsResponse {
  topics: { name: string; error: { code: string; message: string } | null; partitions: unknown[] }[];
}

interface Entry {
  partitionCount: number;
  fetchedAtMs: number;
}

export interface MetadataOptions {
  metadataMaxAgeMs: number;
  requestTimeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMsMax: number;
}

export class TopicMetadata {
  private readonly entries = new Map<string, Entry>();
  private readonly fetches = new Map<string, Promise<number>>();

  constructor(
    private readonly connection: Connection,
    private readonly options: MetadataOptions,
  ) {}

  /** The cached count (refreshed in the background when old), or undefined when unknown. */
  cached(topic: string, nowMs = Date.now()): number | undefined {
    const entry = this.entries.get(topic);
    if (entry === undefined) return undefined;
    if (nowMs - entry.fetchedAtMs >= this.options.metadataMaxAgeMs) this.refreshInBackground(topic);
    return entry.partitionCount;
  }

  /** The partition count, fetched when unknown; retriable failures are retried until `deadlineMs`. */
  partitionCount(topic: string, deadlineMs: number): Promise<number> {
    const cached = this.cached(topic);
    if (cached !== undefined) return Promise.resolve(cached);
    return this.fetch(topic, deadlineMs);
  }

  /** Fetches the count now (sharing a fetch already running). */
  refresh(topic: string, deadlineMs: number): Promise<number> {
    return this.fetch(topic, deadlineMs);
  }

  /** Forgets the topic's count after the broker said the topic or partition is unknown. */
  invalidate(topic: string): void {
    const entry = this.entries.get(topic);
    if (entry !== undefined) entry.fetchedAtMs = -Infinity;
  }

  private refreshInBackground(topic: string): void {
    if (this.fetches.has(topic)) return;
    this.fetch(topic, Date.now() + this.options.requestTimeoutMs).catch((err: unknown) => {
      // A deleted topic is forgotten; any other failure keeps the old count until the next try.
      if (err instanceof RunnelError && err.code === 'UNKNOWN_TOPIC') this.entries.delete(topic);
    });
  }

  /** One DescribeTopics per topic at a time; concurrent callers share it. */
  private fetch(topic: string, deadlineMs: number): Promise<number> {
    let fetch = this.fetches.get(topic);
    if (fetch === undefined) {
      fetch = this.fetchWithRetries(topic, deadlineMs).finally(() => this.fetches.delete(topic));
      this.fetches.set(topic, fetch);
    }
    return fetch;
  }

  private async fetchWithRetries(topic: string, deadlineMs: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.describe(topic, Math.max(1, Math.min(this.options.requestTimeoutMs, deadlineMs - Date.now())));
      } catch (err) {
        const typed = err instanceof RunnelError ? err : new RunnelError('INTERNAL', String(err));
        const waitMs = backoffMs(attempt, this.options.retryBackoffMs, this.options.retryBackoffMsMax);
        if (!typed.retriable || Date.now() + waitMs >= deadlineMs) throw typed.withContext({ topic });
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  private async describe(topic: string, timeoutMs: number): Promise<number> {
    const response = await this.connection.unary<DescribeTopicsResponse>('admin', 'describeTopics', { names: [topic] }, timeoutMs);
    const description = response.topics.find((t) => t.name === topic);
    if (description === undefined) throw new RunnelError('INTERNAL', `DescribeTopics did not describe "${topic}"`, { topic });
    const error = errorFromMessage(description.error, { topic });
    if (error !== null) throw error;
    if (description.partitions.length === 0) throw new RunnelError('INTERNAL', `DescribeTopics gave "${topic}" no partitions`, { topic });
    this.entries.set(topic, { partitionCount: description.partitions.length, fetchedAtMs: Date.now() });
    return description.partitions.length;
  }
}
