/**
 * A consumer in a group: the coordinator assigns it partitions of its topics (membership.ts),
 * and a plain Consumer reads them from the group's committed offsets.
 *
 * At-least-once by default. A message counts as processed once the application asks for the
 * next one (or finishes the batch, or calls markProcessed); only processed offsets are
 * committed: every autoCommitIntervalMs, when partitions are revoked, and at close. On a
 * revocation the member stops handing out the partition's messages, waits for the message in
 * the application's hands to be finished (at most maxProcessingMs after it was handed out),
 * commits, and only then tells the coordinator the partition is free: so a rebalance causes no
 * duplicates unless a member dies. Breaking out of a loop does not count the last message as
 * processed (it may have thrown): it is delivered again after a restart unless markProcessed
 * was called.
 *
 * A message held longer than maxProcessingMs makes the member leave the group cleanly (its
 * partitions go to others); it joins again when the application asks for the next message.
 */
import { RunnelError } from '../../common/errors.js';
import { Backoff } from '../backoff.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { Consumer } from '../consumer/consumer.js';
import type { ConsumerBatch, ConsumerMessage, PartitionLag } from '../consumer/types.js';
import { GroupMembership, type MembershipHandler } from './membership.js';
import { resolveGroupOptions, type GroupConsumerOptions, type ResolvedGroupOptions } from './options.js';
import { keyOf, toLists, type TopicPartition } from './partitions.js';

interface InFlight {
  /** Per partition key: the offset of the last message handed out in this item. */
  lastOffsets: Map<string, { tp: TopicPartition; offset: number }>;
  sinceMs: number;
}

interface CommitResponse {
  error: { code: string; message: string } | null;
  results: { topic: string; partition: number; error: { code: string; message: string } | null }[];
}

interface FetchOffsetsResponse {
  error: { code: string; message: string } | null;
  offsets: { topic: string; partition: number; offset: number }[];
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

export class GroupConsumer<V = Buffer> implements AsyncIterable<ConsumerMessage<V>> {
  readonly options: ResolvedGroupOptions<V>;
  private readonly consumer: Consumer<V>;
  private readonly membership: GroupMembership;
  /** Next offset to commit per partition (after the last processed message). */
  private readonly processed = new Map<string, { tp: TopicPartition; offset: number }>();
  /** Last offset committed (or found committed) per partition, to skip commits that change nothing. */
  private readonly committed = new Map<string, number>();
  private inFlight: InFlight | null = null;
  private inFlightWaiters: (() => void)[] = [];
  private processingTimer: NodeJS.Timeout | null = null;
  private autoCommitTimer: NodeJS.Timeout | null = null;
  private commitChain: Promise<unknown> = Promise.resolve();
  private failure: RunnelError | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly connection: Connection,
    options: GroupConsumerOptions<V>,
  ) {
    this.options = resolveGroupOptions(options);
    this.consumer = new Consumer<V>(connection, this.options.consumer);
    const { groupId, topics, instanceId, sessionTimeoutMs, maxProcessingMs, assignor } = this.options;
    const { retryBackoffMs = 100, retryBackoffMsMax = 5_000 } = this.options.consumer;
    const handler: MembershipHandler = {
      assigned: (partitions) => this.onAssigned(partitions),
      revoked: (partitions) => this.onRevoked(partitions),
      lost: (partitions, reason) => this.onLost(partitions, reason),
      failed: (error) => this.fail(error),
    };
    this.membership = new GroupMembership(
      connection,
      {
        groupId,
        topics,
        instanceId,
        clientId: connection.options.clientId,
        sessionTimeoutMs,
        // Revoking waits for the message in hand (maxProcessingMs) and then commits.
        rebalanceTimeoutMs: maxProcessingMs + sessionTimeoutMs,
        assignor,
        requestTimeoutMs: connection.options.requestTimeoutMs,
        retryBackoffMs,
        retryBackoffMsMax,
      },
      handler,
    );
  }

  /** The member id this consumer joined with (for describe output and logs). */
  get memberId(): string {
    return this.membership.memberId;
  }

  get memberEpoch(): number {
    return this.membership.epoch;
  }

  /** Partitions this member owns now. */
  assignment(): TopicPartition[] {
    return this.membership.partitions;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ConsumerMessage<V>, undefined> {
    return this.messages();
  }

  /** Messages one by one; joining the group starts with the first call to next(). */
  messages(): AsyncIterableIterator<ConsumerMessage<V>, undefined> {
    return this.iterate(this.consumer.messages(), (m) => [m]);
  }

  /** Consecutive messages of one partition at a time; a batch is processed once the next is asked for. */
  batches(): AsyncIterableIterator<ConsumerBatch<V>, undefined> {
    return this.iterate(this.consumer.batches(), (b) => b.messages);
  }

  /** Runs a handler per message or per batch until close(); rejects with the first handler error. */
  async run(handlers: { eachMessage?: (message: ConsumerMessage<V>) => unknown; eachBatch?: (batch: ConsumerBatch<V>) => unknown }): Promise<void> {
    const { eachMessage, eachBatch } = handlers;
    if ((eachMessage === undefined) === (eachBatch === undefined)) throw new RunnelError('INVALID_ARGUMENT', 'run takes exactly one of eachMessage and eachBatch');
    if (eachBatch !== undefined) for await (const batch of this.batches()) await eachBatch(batch);
    else if (eachMessage !== undefined) for await (const message of this.messages()) await eachMessage(message);
  }

  /** Counts a message as processed now (without waiting for the next one to be asked for). */
  markProcessed(message: ConsumerMessage<V>): void {
    this.advance({ topic: message.topic, partition: message.partition }, message.offset + 1);
  }

  /** Commits every processed offset not committed yet; rejects with the broker's refusal. */
  commit(): Promise<void> {
    return this.commitPartitions(null);
  }

  /** Per owned partition: high watermark - position. */
  lag(): Promise<PartitionLag[]> {
    return this.consumer.lag();
  }

  /** Commits what was processed, leaves the group (a static member: for now), closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopTimers();
      // Whatever is in the application's hands now was not finished: not committed.
      this.clearInFlight();
      await this.membership.leave(this.options.instanceId !== null);
      await this.consumer.close();
    })();
    return this.closing;
  }

  // ---- iteration ------------------------------------------------------------------------------

  private iterate<T>(inner: AsyncIterableIterator<T, undefined>, messagesOf: (item: T) => ConsumerMessage<V>[]): AsyncIterableIterator<T, undefined> {
    let finished = false;
    const next = async (): Promise<IteratorResult<T, undefined>> => {
      this.finishInFlight();
      if (finished || this.closing !== null) return DONE;
      this.ensureMember();
      this.throwIfFailed();
      const result = await inner.next();
      this.throwIfFailed();
      if (result.done === true || this.closing !== null) {
        finished = true;
        return DONE;
      }
      this.beginInFlight(messagesOf(result.value));
      return result;
    };
    const iterator: AsyncIterableIterator<T, undefined> = {
      [Symbol.asyncIterator]: () => iterator,
      next,
      return: () => {
        finished = true;
        this.clearInFlight();
        return Promise.resolve(DONE);
      },
    };
    return iterator;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Joins at the first next(), and again after leaving over a slow message. */
  private ensureMember(): void {
    if (this.membership.isRunning || this.closing !== null) return;
    this.membership.start();
    if (this.options.autoCommit && this.autoCommitTimer === null) {
      this.autoCommitTimer = setInterval(() => void this.commit().catch(() => undefined), this.options.autoCommitIntervalMs);
      this.autoCommitTimer.unref();
    }
  }

  private beginInFlight(messages: ConsumerMessage<V>[]): void {
    const lastOffsets = new Map<string, { tp: TopicPartition; offset: number }>();
    for (const { topic, partition, offset } of messages) lastOffsets.set(keyOf({ topic, partition }), { tp: { topic, partition }, offset });
    this.inFlight = { lastOffsets, sinceMs: Date.now() };
    this.processingTimer = setTimeout(() => this.onProcessingTimeout(), this.options.maxProcessingMs);
    this.processingTimer.unref();
  }

  /** The application asked for more: what it held is processed. */
  private finishInFlight(): void {
    const inFlight = this.inFlight;
    if (inFlight === null) return;
    for (const { tp, offset } of inFlight.lastOffsets.values()) this.advance(tp, offset + 1);
    this.clearInFlight();
  }

  private clearInFlight(): void {
    this.inFlight = null;
    if (this.processingTimer !== null) clearTimeout(this.processingTimer);
    this.processingTimer = null;
    for (const wake of this.inFlightWaiters.splice(0)) wake();
  }

  private advance(tp: TopicPartition, nextOffset: number): void {
    const key = keyOf(tp);
    if (!this.membership.owns(key)) return;
    const current = this.processed.get(key);
    if (current === undefined || current.offset < nextOffset) this.processed.set(key, { tp, offset: nextOffset });
  }

  /** Resolves once no message of these partitions is in the application's hands, or its time is up. */
  private async waitInFlight(keys: ReadonlySet<string>): Promise<void> {
    for (;;) {
      const inFlight = this.inFlight;
      if (inFlight === null || ![...inFlight.lastOffsets.keys()].some((key) => keys.has(key))) return;
      const leftMs = inFlight.sinceMs + this.options.maxProcessingMs - Date.now();
      if (leftMs <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, leftMs);
        this.inFlightWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private onProcessingTimeout(): void {
    if (this.inFlight === null || this.closing !== null) return;
    // Gives the partitions up cleanly; the next call to next() joins again.
    void this.membership.leave().catch(() => undefined);
  }

  // ---- what the membership reports ------------------------------------------------------------

  private async onAssigned(partitions: TopicPartition[]): Promise<void> {
    if (this.closing !== null) return;
    const committed = await this.fetchCommitted(partitions);
    const kept = this.consumer.assignment().map(({ topic, partition }) => ({ topic, partition }));
    const added = partitions.map((tp) => ({ ...tp, from: committed.get(keyOf(tp)) ?? this.options.autoOffsetReset }));
    await this.consumer.assign([...kept, ...added]);
    // A partition without a committed offset starts where autoOffsetReset put it; that start is
    // committed too (as Kafka does), or a member that read nothing there would leave no offset
    // and the next one, starting at 'latest', would skip what was produced in between.
    for (const tp of partitions) if (!committed.has(keyOf(tp))) this.advance(tp, this.consumer.position(tp.topic, tp.partition));
    await this.callHook(() => this.options.onAssigned(partitions));
  }

  private async onRevoked(partitions: TopicPartition[]): Promise<void> {
    const keys = new Set(partitions.map(keyOf));
    await this.stopReading(keys);
    await this.waitInFlight(keys);
    await this.callHook(() => this.options.onRevoked(partitions));
    if (this.options.autoCommit) await this.commitBeforeRelease(keys);
    this.forget(keys);
  }

  /**
   * The last commit of revoked partitions, retried while the broker is unreachable (the
   * partitions stay this member's until it says it released them, bounded by its rebalance
   * timeout); a refusal (the partitions were lost meanwhile) is not retried.
   */
  private async commitBeforeRelease(keys: ReadonlySet<string>): Promise<void> {
    const deadlineMs = Date.now() + this.options.sessionTimeoutMs;
    await this.retryWhileRetriable(() => this.commitPartitions(keys), () => Date.now() > deadlineMs).catch(() => undefined);
  }

  /** Runs `attempt` again after a backoff while it fails with a retriable error and `giveUp()` is false. */
  private async retryWhileRetriable<T>(attempt: () => Promise<T>, giveUp: () => boolean): Promise<T> {
    const backoff = new Backoff(this.options.consumer.retryBackoffMs ?? 100, this.options.consumer.retryBackoffMsMax ?? 5_000);
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof RunnelError) || !err.retriable || giveUp()) throw err;
        await new Promise((resolve) => setTimeout(resolve, backoff.nextMs()));
      }
    }
  }

  private async onLost(partitions: TopicPartition[], reason: RunnelError): Promise<void> {
    const keys = new Set(partitions.map(keyOf));
    await this.stopReading(keys);
    this.forget(keys);
    await this.callHook(() => this.options.onLost(partitions, reason));
  }

  /** Stops the consumer reading these partitions (nothing to stop once it is closed). */
  private async stopReading(keys: ReadonlySet<string>): Promise<void> {
    if (this.closing !== null || this.failure !== null) return;
    try {
      await this.consumer.assign(this.consumer.assignment().filter((tp) => !keys.has(keyOf(tp))));
    } catch (err) {
      if (!(err instanceof RunnelError) || err.code !== 'CLIENT_CLOSED') throw err;
    }
  }

  private forget(keys: ReadonlySet<string>): void {
    for (const key of keys) {
      this.processed.delete(key);
      this.committed.delete(key);
    }
  }

  /** A hook's failure must not stop the group protocol; it is reported by the iterator instead. */
  private async callHook(hook: () => unknown): Promise<void> {
    try {
      await hook();
    } catch (err) {
      this.fail(err instanceof RunnelError ? err : new RunnelError('INTERNAL', `a consumer hook failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err }));
    }
  }

  private fail(error: RunnelError): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.stopTimers();
    // Ends the iterators: the next next() throws the failure.
    void this.consumer.close();
  }

  private stopTimers(): void {
    if (this.autoCommitTimer !== null) clearInterval(this.autoCommitTimer);
    this.autoCommitTimer = null;
  }

  // ---- offsets --------------------------------------------------------------------------------

  /** Committed offsets of the partitions (retried while the broker is unavailable). */
  private fetchCommitted(partitions: TopicPartition[]): Promise<Map<string, number>> {
    return this.retryWhileRetriable(async () => {
      const response = await this.connection.unary<FetchOffsetsResponse>('groups', 'fetchOffsets', { groupId: this.options.groupId, partitions: toLists(partitions) });
      const error = errorFromMessage(response.error);
      if (error !== null) throw error;
      const out = new Map<string, number>();
      for (const { topic, partition, offset } of response.offsets) {
        if (offset < 0) continue;
        out.set(keyOf({ topic, partition }), offset);
        this.committed.set(keyOf({ topic, partition }), offset);
      }
      return out;
    }, () => this.closing !== null);
  }

  /** Commits processed offsets (of `keys`, or all) that changed; one commit at a time. */
  private commitPartitions(keys: ReadonlySet<string> | null): Promise<void> {
    const run = async (): Promise<void> => {
      const entries = [...this.processed.entries()].filter(([key, { offset }]) => (keys === null || keys.has(key)) && this.committed.get(key) !== offset);
      if (entries.length === 0 || this.membership.epoch <= 0) return;
      const request = {
        groupId: this.options.groupId,
        memberId: this.membership.memberId,
        memberEpoch: this.membership.epoch,
        offsets: entries.map(([, { tp, offset }]) => ({ topic: tp.topic, partition: tp.partition, offset, metadata: '' })),
      };
      const response = await this.connection.unary<CommitResponse>('groups', 'commitOffsets', request);
      const error = errorFromMessage(response.error);
      if (error !== null) throw error;
      const failures: RunnelError[] = [];
      for (const [i, result] of response.results.entries()) {
        const failed = errorFromMessage(result.error, { topic: result.topic, partition: result.partition });
        if (failed === null) this.committed.set(entries[i]![0], entries[i]![1].offset);
        else failures.push(failed);
      }
      if (failures[0] !== undefined) throw failures[0];
    };
    const next = this.commitChain.then(run, run);
    this.commitChain = next.catch(() => undefined);
    return next;
  }
}
