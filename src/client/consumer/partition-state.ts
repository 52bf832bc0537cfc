/**
 * What the consumer knows about one assigned partition. Two offsets move independently:
 * `position` is the next offset the application gets (advanced as messages are handed out),
 * `fetchOffset` the next offset the source delivers into the buffer (advanced as data
 * arrives). position <= fetchOffset; the records between them are in the buffer.
 */
import type { RunnelError } from '../../common/errors.js';
import type { WireOffsets } from '../admin/wire.js';

export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export class PartitionState {
  readonly key: string;
  position: number;
  fetchOffset: number;
  logStartOffset = -1;
  highWatermark = -1;
  paused = false;
  /** Set by an error that stops this partition (surfaced to the iterator); cleared by a seek. */
  stoppedBy: RunnelError | null = null;
  /** Records of this partition in the buffer. */
  bufferedMessages = 0;
  /** Bumped by every move, so an async reset or seek that lost a race is dropped. */
  epoch = 0;
  removed = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    offset: number,
  ) {
    this.key = partitionKey(topic, partition);
    this.position = offset;
    this.fetchOffset = offset;
  }

  /** Whether a source should read it. */
  get fetchable(): boolean {
    return !this.paused && this.stoppedBy === null && !this.removed;
  }

  /** Seek: the application's next record is `offset` (the caller drops what is buffered). */
  moveTo(offset: number): void {
    this.position = offset;
    this.fetchOffset = offset;
    this.stoppedBy = null;
    this.epoch++;
  }

  updateOffsets(offsets: WireOffsets | null): void {
    if (offsets === null) return;
    this.logStartOffset = offsets.logStartOffset;
    this.highWatermark = offsets.highWatermark;
  }

  get lag(): number {
    return this.highWatermark < 0 ? 0 : Math.max(0, this.highWatermark - this.position);
  }
}
