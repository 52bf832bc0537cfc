/**
 * The Consumer: reads partitions the application assigns, from an offset, a time, the log
 * start or the log end, and hands out their records as an async iterator of messages
 * (`for await (const m of consumer)`) or of batches (`consumer.batches()`).
 *
 * Flow: a source (one Subscribe stream for every readable partition, or a Fetch long-poll loop
 * when the broker refuses Subscribe) decodes what arrives into a bounded buffer; the iterators
 * take from it. When `bufferedMessagesMax` records wait, the source is paused (gRPC flow control
 * then stops the broker) and it is resumed once half are read. assign, seek, pause, resume and
 * resets replace the source (coalesced per tick), each partition restarting from the offset it
 * has buffered up to; a failed source is replaced after a capped exponential backoff.
 *
 * Errors reach the iterator in order with the data: OFFSET_OUT_OF_RANGE (with autoOffsetReset
 * 'none'), UNKNOWN_TOPIC (topic deleted) and other partition errors stop that partition until
 * a seek or an assign; retriable errors (broker restarting, unavailable) are retried quietly.
 * Breaking out of a `for await` ends that loop only: the consumer keeps its positions, and a
 * new loop goes on from there. close() ends every iterator.
 *
 * Room for consumer groups (next): `groupId` and `subscribe({ topics })` will drive the same
 * partition set through the coordinator's assignment, and commits will store `position()`.
 */
import * as grpc from '@grpc/grpc-js';
import { RunnelError, isRunnelError } from '../../common/errors.js';
import { invalidArgument, requireInt, requireTopic } from '../admin/arguments.js';
import { listOffsets } from '../admin/list-offsets.js';
import type { WireOffsets } from '../admin/wire.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { checkAssignments, checkStartFrom, resolveStarts, type CheckedAssignment, type ResolvedStart } from './assignment.js';
import { Backoff } from '../backoff.js';
import { FetchSource } from './fetch-source.js';
import { MessageBuffer, type Chunk } from './message-buffer.js';
import { resolveConsumerOptions, type ConsumerOptions, type ResolvedConsumerOptions } from './options.js';
import { PartitionState, partitionKey } from './partition-state.js';
import { PullIterator, type Taken } from './pull-iterator.js';
import { recordsFrom, splitStored, toMessage } from './records.js';
import type { PartitionData, Source, SourceSink } from './source.js';
import { SubscribeSource } from './subscribe-source.js';
import type { ConsumerBatch, ConsumerMessage, PartitionAssignment, PartitionLag, PartitionSelector, StartFrom, TopicPartition, Transport } from './types.js';


function byTopicPartition(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}

/** A refusal of Subscribe itself (too many streams, or a broker without it): use Fetch instead. */
function subscribeRefused(error: RunnelError): boolean {
  const status = (error.cause as { code?: unknown } | undefined)?.code;
  return error.code === 'LIMIT_EXCEEDED' || status === grpc.status.UNIMPLEMENTED;
}

export class Consumer<V = Buffer> implements AsyncIterable<ConsumerMessage<V>> {
  readonly options: ResolvedConsumerOptions<V>;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly buffer: MessageBuffer;
  private readonly backoff: Backoff;
  private readonly sink: SourceSink;
  private source: Source | null = null;
  private transportInUse: Transport;
  private restartQueued = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private assignCalls = 0;
  private closed = false;

  constructor(
    private readonly connection: Connection,
    options: ConsumerOptions<V> = {},
  ) {
    this.options = resolveConsumerOptions(options);
    this.buffer = new MessageBuffer(this.options.bufferedMessagesMax);
    this.backoff = new Backoff(this.options.retryBackoffMs, this.options.retryBackoffMsMax);
    this.transportInUse = this.options.transport;
    this.sink = { data: (source, data) => this.onData(source, data), failed: (source, error) => this.onSourceFailed(source, error) };
  }

  /** 'fetch' once the broker refused Subscribe (or when configured so). */
  get transport(): Transport {
    return this.transportInUse;
  }

  /** Records decoded and waiting for the application. */
  get bufferedMessages(): number {
    return this.buffer.count;
  }

  // ---- assignment -----------------------------------------------------------------------------

  /**
   * Replaces the assignment (as Kafka's assign does): partitions not listed are dropped, listed
   * ones start at `from` (see PartitionAssignment). Resolves once every start offset is known;
   * rejects (changing nothing) with the first partition's error, e.g. UNKNOWN_TOPIC. When calls
   * overlap, the last one wins.
   */
  async assign(assignments: readonly PartitionAssignment[]): Promise<void> {
    this.checkOpen();
    const wanted = checkAssignments(assignments);
    const call = ++this.assignCalls;
    const toResolve = wanted.filter((a) => a.from !== undefined || !this.partitions.has(a.key)).map((a) => ({ ...a, from: a.from ?? ('latest' as const) }));
    const starts = await resolveStarts(this.connection, toResolve);
    if (call !== this.assignCalls) return;
    this.checkOpen();
    this.applyAssignment(wanted, starts);
  }

  /** The assigned partitions, sorted. */
  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map(({ topic, partition }) => ({ topic, partition })).sort(byTopicPartition);
  }

  /**
   * Moves a partition: what is buffered for it is dropped and its next message is the record
   * at `from` (an offset takes effect at once; a time or 'earliest'/'latest' once resolved).
   * Also restarts a partition an error stopped.
   */
  async seek(topic: string, partition: number, from: StartFrom): Promise<void> {
    const state = this.assigned(topic, partition);
    const start = checkStartFrom(from);
    const epoch = ++state.epoch;
    if (typeof start === 'number') return this.move(state, start, null);
    const [resolved] = await resolveStarts(this.connection, [{ topic: state.topic, partition: state.partition, from: start }]);
    if (state.epoch === epoch && !state.removed && !this.closed) this.move(state, resolved!.offset, resolved!.offsets);
  }

  /** Offset of the next record the application gets from this partition. */
  position(topic: string, partition: number): number {
    return this.assigned(topic, partition).position;
  }

  /** Stops handing out (and fetching) these partitions; their positions stay. */
  pause(selectors: readonly PartitionSelector[]): void {
    for (const state of this.select(selectors)) {
      if (state.paused) continue;
      state.paused = true;
      // Buffered records would only pin memory while paused; they are fetched again on resume.
      this.buffer.dropPartition(state);
      state.fetchOffset = state.position;
      this.restartSoon();
    }
  }

  resume(selectors: readonly PartitionSelector[]): void {
    for (const state of this.select(selectors)) {
      if (!state.paused) continue;
      state.paused = false;
      this.restartSoon();
    }
  }

  paused(): TopicPartition[] {
    return this.assignment().filter((tp) => this.partitions.get(partitionKey(tp.topic, tp.partition))?.paused === true);
  }

  /** Per assigned partition: high watermark (asked from the broker now) - position. */
  async lag(): Promise<PartitionLag[]> {
    this.checkOpen();
    const states = [...this.partitions.values()];
    const results = await listOffsets(this.connection, states.map(({ topic, partition }) => ({ topic, partition, spec: 'latest' as const })));
    results.forEach((result, i) => {
      if (result.error !== null) throw result.error;
      states[i]!.updateOffsets(result);
    });
    return states
      .filter((s) => !s.removed)
      .map(({ topic, partition, position, highWatermark, lag }) => ({ topic, partition, position, highWatermark, lag }))
      .sort(byTopicPartition);
  }

  // ---- iteration ------------------------------------------------------------------------------

  [Symbol.asyncIterator](): AsyncIterableIterator<ConsumerMessage<V>, undefined> {
    return this.messages();
  }

  /** Messages one by one, across partitions in arrival order, in offset order per partition. */
  messages(): AsyncIterableIterator<ConsumerMessage<V>, undefined> {
    return new PullIterator(() => this.takeMessage(), () => this.buffer.changed());
  }

  /** Consecutive messages of one partition at a time, as they arrived. */
  batches(): AsyncIterableIterator<ConsumerBatch<V>, undefined> {
    return new PullIterator(() => this.takeBatch(), () => this.buffer.changed());
  }

  /** Idempotent: stops fetching, drops what is buffered, ends every iterator. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.stopSource();
    for (const state of this.partitions.values()) state.removed = true;
    this.partitions.clear();
    this.buffer.close();
    return Promise.resolve();
  }

  private takeMessage(): Taken<ConsumerMessage<V>> {
    const chunk = this.headChunk();
    if (chunk === null || chunk === undefined) return chunk;
    const record = chunk.records[chunk.index]!;
    // Deserialized before being taken: a value that fails stays the partition's next record.
    const message = toMessage(record, this.options.deserializer);
    this.handOut(chunk, 1, record.offset);
    return message;
  }

  private takeBatch(): Taken<ConsumerBatch<V>> {
    const chunk = this.headChunk();
    if (chunk === null || chunk === undefined) return chunk;
    const { state } = chunk;
    const { deserializer } = this.options;
    if (deserializer === null) {
      // Nothing to convert: the decoded records are the messages.
      const messages = (chunk.index === 0 ? chunk.records : chunk.records.slice(chunk.index)) as ConsumerMessage<V>[];
      this.handOut(chunk, messages.length, messages[messages.length - 1]!.offset);
      return { topic: state.topic, partition: state.partition, messages, highWatermark: state.highWatermark, lag: state.lag };
    }
    const messages: ConsumerMessage<V>[] = [];
    for (let i = chunk.index; i < chunk.records.length; i++) {
      try {
        messages.push(toMessage(chunk.records[i]!, deserializer));
      } catch (err) {
        if (messages.length === 0) throw err;
        break; // hand out what precedes it; the failing record is thrown by the next call
      }
    }
    this.handOut(chunk, messages.length, messages[messages.length - 1]!.offset);
    return { topic: state.topic, partition: state.partition, messages, highWatermark: state.highWatermark, lag: state.lag };
  }

  /**
   * The chunk at the head of the buffer, decoded, with records to hand out; an error at the
   * head is thrown (once). A stored batch that fails to decode stops its partition: the error
   * is thrown now, in order with what came before it, and what was buffered after it is dropped.
   */
  private headChunk(): Taken<Chunk> {
    for (;;) {
      if (this.closed) return null;
      const entry = this.buffer.peek();
      if (entry === undefined) return undefined;
      if (entry.kind === 'error') {
        this.buffer.shift();
        throw entry.error;
      }
      if (entry.bytes !== null) this.decodeHead(entry);
      if (entry.index < entry.records.length) return entry;
      // Nothing in it to hand out (a control batch, records below the start): skip past it.
      this.buffer.take(entry, 0);
      entry.state.position = Math.max(entry.state.position, entry.nextOffset);
    }
  }

  private decodeHead(chunk: Chunk): void {
    const { state } = chunk;
    let records;
    try {
      records = recordsFrom(chunk.bytes!, chunk.fromOffset, state.topic, state.partition);
    } catch (err) {
      const error = isRunnelError(err) ? err.withContext({ topic: state.topic, partition: state.partition }) : new RunnelError('INTERNAL', String(err));
      state.stoppedBy = error;
      this.buffer.dropPartition(state);
      throw error;
    }
    this.buffer.decoded(chunk, records);
  }

  private handOut(chunk: Chunk, count: number, lastOffset: number): void {
    this.buffer.take(chunk, count);
    chunk.state.position = chunk.index >= chunk.records.length ? chunk.nextOffset : lastOffset + 1;
    if (this.buffer.drained) this.source?.resume();
  }

  // ---- what the sources report ----------------------------------------------------------------

  private onData(source: Source, data: PartitionData): void {
    if (source !== this.source) return;
    const state = this.partitions.get(partitionKey(data.topic, data.partition));
    if (state === undefined || !state.fetchable) return;
    state.updateOffsets(data.offsets);
    const error = errorFromMessage(data.error, { topic: data.topic, partition: data.partition });
    if (error !== null) return this.onPartitionError(state, error, data.offsets);
    this.backoff.reset();
    if (data.records.length > 0) this.bufferRecords(state, data);
    if (this.buffer.full) source.pause();
  }

  private bufferRecords(state: PartitionState, data: PartitionData): void {
    const fromOffset = state.fetchOffset;
    state.fetchOffset = Math.max(state.fetchOffset, data.nextOffset);
    this.buffer.pushStored(state, splitStored(data.records, state.fetchOffset), fromOffset);
  }

  private onPartitionError(state: PartitionState, error: RunnelError, offsets: WireOffsets | null): void {
    if (error.code === 'OFFSET_OUT_OF_RANGE' && this.options.autoOffsetReset !== 'none') {
      this.resetOffset(state, offsets).catch((err: unknown) => this.stopPartition(state, isRunnelError(err) ? err : error));
    } else if (error.retriable) {
      this.retryLater();
    } else {
      this.stopPartition(state, error);
    }
  }

  /** autoOffsetReset: to the log start or end, from the range the error came with (or asked for). */
  private async resetOffset(state: PartitionState, offsets: WireOffsets | null): Promise<void> {
    // Not bumped here: a seek the application started meanwhile must win over this reset.
    const epoch = state.epoch;
    const range = offsets ?? (await resolveStarts(this.connection, [{ topic: state.topic, partition: state.partition, from: 'latest' }]))[0]!.offsets;
    if (state.epoch !== epoch || state.removed) return;
    const target = this.options.autoOffsetReset === 'earliest' ? range.logStartOffset : range.highWatermark;
    state.updateOffsets(range);
    state.fetchOffset = target;
    // Records fetched before the reset stay readable; the position jumps once they are read.
    if (state.bufferedMessages === 0) state.position = target;
    this.restartSoon();
  }

  private stopPartition(state: PartitionState, error: RunnelError): void {
    state.stoppedBy = error;
    this.buffer.pushError(state, error);
  }

  private onSourceFailed(source: Source, error: RunnelError | null): void {
    if (source !== this.source || this.closed) return;
    this.source = null;
    if (this.connection.isClosed) {
      void this.close(); // the application closed the connection under us
    } else if (error !== null && source.transport === 'subscribe' && subscribeRefused(error)) {
      this.transportInUse = 'fetch';
      this.restartSoon();
    } else {
      if (error !== null && !error.retriable) this.buffer.pushError(null, error);
      this.retryLater();
    }
  }

  // ---- sources --------------------------------------------------------------------------------

  private applyAssignment(wanted: readonly CheckedAssignment[], starts: readonly ResolvedStart[]): void {
    const keep = new Set(wanted.map((a) => a.key));
    for (const state of [...this.partitions.values()]) {
      if (keep.has(state.key)) continue;
      state.removed = true;
      this.buffer.dropPartition(state);
      this.partitions.delete(state.key);
    }
    for (const start of starts) {
      const state = this.partitions.get(start.key);
      if (state === undefined) {
        const created = new PartitionState(start.topic, start.partition, start.offset);
        created.updateOffsets(start.offsets);
        this.partitions.set(start.key, created);
      } else {
        this.move(state, start.offset, start.offsets);
      }
    }
    this.restartSoon();
  }

  private move(state: PartitionState, offset: number, offsets: WireOffsets | null): void {
    this.buffer.dropPartition(state);
    state.moveTo(offset);
    state.updateOffsets(offsets);
    this.restartSoon();
  }

  /**
   * Replaces the source once the current macrotask is done, so several changes (an assign, the
   * `await` after it, then a pause) cost one new stream rather than a stream opened and
   * cancelled at once. The current source is dropped at once: what it still delivers may
   * predate the change (a record from before a seek would pass for one after it).
   */
  private restartSoon(): void {
    if (this.closed) return;
    this.stopSource();
    if (this.restartQueued) return;
    this.restartQueued = true;
    setImmediate(() => {
      this.restartQueued = false;
      this.restart();
    });
  }

  private retryLater(): void {
    this.stopSource();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.restart();
    }, this.backoff.nextMs());
  }

  private restart(): void {
    if (this.closed) return;
    this.stopSource();
    const readable = [...this.partitions.values()].filter((s) => s.fetchable);
    if (readable.length === 0) return;
    const { maxBytes, fetchMaxWaitMs } = this.options;
    const source: Source =
      this.transportInUse === 'subscribe'
        ? new SubscribeSource(this.connection, readable, maxBytes, this.sink)
        : new FetchSource(this.connection, readable, { maxBytes, fetchMaxWaitMs }, this.sink);
    this.source = source;
    if (this.buffer.full) source.pause();
    source.start();
  }

  private stopSource(): void {
    this.clearRetryTimer();
    this.source?.close();
    this.source = null;
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // ---- helpers --------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new RunnelError('CLIENT_CLOSED', 'the consumer is closed');
  }

  private assigned(topic: string, partition: number): PartitionState {
    this.checkOpen();
    const state = this.partitions.get(partitionKey(requireTopic(topic), requireInt(partition, 'partition')));
    if (state === undefined) throw invalidArgument(`${topic}/${partition} is not assigned to this consumer`, { topic, partition });
    return state;
  }

  private select(selectors: readonly PartitionSelector[]): PartitionState[] {
    this.checkOpen();
    return selectors.flatMap((selector) => {
      if (selector.partition !== undefined) return [this.assigned(selector.topic, selector.partition)];
      const states = [...this.partitions.values()].filter((s) => s.topic === selector.topic);
      if (states.length === 0) throw invalidArgument(`no partition of ${selector.topic} is assigned to this consumer`, { topic: selector.topic });
      return states;
    });
  }
}
