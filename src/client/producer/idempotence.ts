/**
 * Producer ids for idempotent produce (Broker.InitProducerId), fetched lazily, once, on the first
 * batch to send, and shared by every partition. A partition whose sequence the broker lost
 * (OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER_ID at the head of its window, or a batch abandoned
 * with an unknown outcome) goes on under a fresh producer id of its own, from sequence 0. Kafka
 * bumps the epoch of its one id instead, but a new epoch fences the old one on every partition,
 * which would first require draining all of them; the broker keeps producer state per
 * partition, so a fresh id for one partition is equivalent and leaves the others undisturbed.
 */
import { RunnelError, isRunnelError } from '../../common/errors.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { backoffMs } from '../backoff.js';
import type { PartitionState, ProducerIdentity } from './partition-state.js';

interface InitProducerIdResponse {
  error: { code: string; message: string } | null;
  producerId: number;
  producerEpoch: number;
}

export interface ProducerIdsOptions {
  requestTimeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMsMax: number;
  /** How long InitProducerId is retried on retriable errors before giving up. */
  deliveryTimeoutMs: number;
}

const SHARED = 'shared';
type Target = PartitionState | typeof SHARED;

export class ProducerIds {
  private shared: ProducerIdentity | null = null;
  private readonly fetching = new Set<Target>();
  private readonly errors = new Map<Target, RunnelError>();
  private stopped = false;

  constructor(
    private readonly connection: Connection,
    private readonly options: ProducerIdsOptions,
    /** Called when an identity arrives or a fetch failed, so the sender drains again. */
    private readonly onChange: () => void,
  ) {}

  /**
   * The identity to stamp the partition's next new batch with; null while it is being fetched;
   * the error when fetching failed (reported once: the next call fetches again).
   */
  identityFor(state: PartitionState): ProducerIdentity | RunnelError | null {
    if (state.identity !== null) return state.identity;
    const target: Target = state.needsFreshIdentity ? state : SHARED;
    if (target === SHARED && this.shared !== null) {
      state.identity = this.shared;
      state.nextSequence = 0;
      return this.shared;
    }
    const error = this.errors.get(target);
    if (error !== undefined) {
      this.errors.delete(target);
      return error;
    }
    this.start(target);
    return null;
  }

  /** Stops retrying (producer closed). */
  stop(): void {
    this.stopped = true;
  }

  private start(target: Target): void {
    if (this.fetching.has(target)) return;
    this.fetching.add(target);
    void this.initWithRetries()
      .then(
        (identity) => this.assign(target, identity),
        (err: unknown) => this.errors.set(target, isRunnelError(err) ? err : new RunnelError('INTERNAL', String(err))),
      )
      .finally(() => {
        this.fetching.delete(target);
        this.onChange();
      });
  }

  private assign(target: Target, identity: ProducerIdentity): void {
    if (target === SHARED) {
      this.shared = identity;
      return;
    }
    target.identity = identity;
    target.needsFreshIdentity = false;
    target.nextSequence = 0;
  }

  private async initWithRetries(): Promise<ProducerIdentity> {
    const deadlineMs = Date.now() + this.options.deliveryTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new RunnelError('CLIENT_CLOSED', 'the producer is closed');
      try {
        return await this.initProducerId();
      } catch (err) {
        const waitMs = backoffMs(attempt, this.options.retryBackoffMs, this.options.retryBackoffMsMax);
        if (!isRunnelError(err) || !err.retriable || Date.now() + waitMs >= deadlineMs) throw err;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  private async initProducerId(): Promise<ProducerIdentity> {
    // Producer id 0 asks for a new id (ids start at 1; proto3 reads an unset field as 0).
    const request = { transactionalId: '', producerId: 0, producerEpoch: 0 };
    const response = await this.connection.unary<InitProducerIdResponse>('broker', 'initProducerId', request, this.options.requestTimeoutMs);
    const error = errorFromMessage(response.error);
    if (error !== null) throw error;
    return { producerId: response.producerId, producerEpoch: response.producerEpoch };
  }
}
