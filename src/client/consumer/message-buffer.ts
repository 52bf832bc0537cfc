/**
 * The bounded prefetch between the sources and the application: a FIFO of chunks (one stored
 * batch each, decoded when it reaches the head, see splitStored) and of errors to throw from
 * the iterator, in arrival order. `count` is the number of records waiting; the
 * consumer pauses its source when it reaches `max` and resumes it at half, so an application
 * that stops reading stops the broker too.
 */
import type { RunnelError } from '../../common/errors.js';
import type { PartitionState } from './partition-state.js';
import type { StoredPiece } from './records.js';
import type { ConsumerMessage } from './types.js';

export interface Chunk {
  kind: 'records';
  state: PartitionState;
  /** The stored batch until it is decoded (then null). */
  bytes: Buffer | null;
  /** Records below this offset are skipped at decoding (a start inside a batch). */
  fromOffset: number;
  /** Decoded with Buffer values (empty until decoded); deserialized when taken. */
  records: ConsumerMessage[];
  /** The next record to hand out. */
  index: number;
  /** Records this chunk adds to `count`: the header's count, then the decoded one, less those taken. */
  counted: number;
  /** Where the partition's position goes once the chunk is used up (past a compaction gap too). */
  nextOffset: number;
}

export interface Failure {
  kind: 'error';
  /** Null for an error of the whole source (not of one partition). */
  state: PartitionState | null;
  error: RunnelError;
}

export type Entry = Chunk | Failure;

/** Below this many used-up entries at the front the array is not worth compacting. */
const COMPACT_AFTER_ENTRIES = 1024;

export class MessageBuffer {
  /** Records waiting, over all chunks. */
  count = 0;
  private entries: Entry[] = [];
  private head = 0;
  private wakeUp: (() => void) | null = null;
  private changedPromise: Promise<void> | null = null;
  private closed = false;

  constructor(readonly max: number) {}

  get full(): boolean {
    return this.count >= this.max;
  }

  /** Whether a paused source may be resumed: half the buffer is free again. */
  get drained(): boolean {
    return this.count <= this.max / 2;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues the stored batches of one answer for a partition, undecoded. */
  pushStored(state: PartitionState, pieces: readonly StoredPiece[], fromOffset: number): void {
    for (const { bytes, recordCount, nextOffset } of pieces) {
      this.entries.push({ kind: 'records', state, bytes, fromOffset, records: [], index: 0, counted: recordCount, nextOffset });
      this.count += recordCount;
      state.bufferedMessages += recordCount;
    }
    this.notify();
  }

  /** The head chunk was decoded into `records`: the count follows what it really holds. */
  decoded(chunk: Chunk, records: ConsumerMessage[]): void {
    const difference = records.length - chunk.counted;
    this.count += difference;
    chunk.state.bufferedMessages += difference;
    chunk.counted = records.length;
    chunk.records = records;
    chunk.bytes = null;
  }

  pushError(state: PartitionState | null, error: RunnelError): void {
    // One pending source error is enough: a source failing again and again must not fill memory.
    if (state === null && this.entries.some((e, i) => i >= this.head && e.kind === 'error' && e.state === null)) return;
    this.entries.push({ kind: 'error', state, error });
    this.notify();
  }

  peek(): Entry | undefined {
    return this.entries[this.head];
  }

  /** Marks `n` records of the head chunk handed out; drops the chunk when used up. */
  take(chunk: Chunk, n: number): void {
    chunk.index += n;
    chunk.counted -= n;
    this.count -= n;
    chunk.state.bufferedMessages -= n;
    if (chunk.index >= chunk.records.length) this.shift();
  }

  shift(): void {
    this.entries[this.head] = undefined as unknown as Entry; // release it for the GC
    this.head++;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER_ENTRIES && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets everything buffered for a partition (seek, pause, unassign). */
  dropPartition(state: PartitionState): void {
    const kept: Entry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.state !== state) kept.push(entry);
      else if (entry.kind === 'records') this.count -= entry.counted;
    }
    state.bufferedMessages = 0;
    this.entries = kept;
    this.head = 0;
  }

  /** Resolves at the next push or at close. */
  changed(): Promise<void> {
    this.changedPromise ??= new Promise<void>((resolve) => (this.wakeUp = resolve));
    return this.changedPromise;
  }

  close(): void {
    this.closed = true;
    this.entries = [];
    this.head = 0;
    this.count = 0;
    this.notify();
  }

  private notify(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    this.changedPromise = null;
    wake?.();
  }
}
