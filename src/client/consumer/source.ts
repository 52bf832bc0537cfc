/**
 * A source feeds the consumer's buffer from the broker: a Subscribe stream (pushed) or a Fetch
 * long-poll loop (pulled). A source serves a fixed set of partitions from their `fetchOffset`
 * at start; the consumer replaces it whenever that set or an offset changes, and after it
 * fails. Everything a source reports goes through the sink, tagged with the source, so the
 * consumer can drop what a replaced source still says.
 */
import type { RunnelError } from '../../common/errors.js';
import type { WireError, WireOffsets } from '../admin/wire.js';
import type { Transport } from './types.js';

/** One partition's share of a Subscribe message or a Fetch response (the same fields in both). */
export interface PartitionData {
  topic: string;
  partition: number;
  /** Whole stored batches; the first may start below the offset asked for. */
  records: Buffer;
  nextOffset: number;
  offsets: WireOffsets | null;
  error: WireError | null;
}

export interface SourceSink {
  data(source: Source, data: PartitionData): void;
  /** The source stopped by itself: `error` null when the broker ended it cleanly. Called once. */
  failed(source: Source, error: RunnelError | null): void;
}

export interface Source {
  readonly transport: Transport;
  start(): void;
  /** Backpressure: stop pulling (flow control then stops the broker) until resume(). */
  pause(): void;
  resume(): void;
  /** Stops without reporting to the sink. */
  close(): void;
}
