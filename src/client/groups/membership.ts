/**
 * A member's side of the group protocol (proto/runnel/v1/groups.proto): one heartbeat in flight
 * at a time, long-polling, so the member hears of a rebalance within a round trip; the answers
 * reconciled in order, revocations first: the owner of this membership (GroupConsumer) stops
 * and commits a revoked partition before the next heartbeat says it no longer owns it, and only
 * then may the coordinator give it to another member.
 *
 * Heartbeats run on timers of their own, independent of how long the application takes with a
 * message, so a slow handler never costs the member its session.
 *
 * Failure handling:
 * - UNKNOWN_MEMBER_ID / FENCED_MEMBER_EPOCH: the partitions are lost (another member may have
 *   them now), so they are dropped without committing; the member joins again.
 * - The coordinator unreachable (broker restarting, network): heartbeats are retried with
 *   backoff. Once the last heartbeat that got through was sent a session timeout ago, the
 *   member gives its partitions up itself (lost), since the coordinator has removed it by then.
 * - Anything else (a bad session timeout, an unknown assignor, a bad group id) is fatal.
 */
import { randomUUID } from 'node:crypto';
import { RunnelError } from '../../common/errors.js';
import { Backoff } from '../backoff.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { keyOf, fromLists, toLists, type TopicPartition } from './partitions.js';

export interface MembershipOptions {
  groupId: string;
  topics: readonly string[];
  instanceId: string | null;
  clientId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  assignor: string;
  requestTimeoutMs: number;
  retryBackoffMs: number;
  retryBackoffMsMax: number;
}

/** What the owner does when partitions come and go; each resolves once done. */
export interface MembershipHandler {
  assigned(partitions: TopicPartition[]): Promise<void>;
  /** Stop reading them and commit what was processed; resolve once released. */
  revoked(partitions: TopicPartition[]): Promise<void>;
  /** Drop them without committing: they may belong to another member already. */
  lost(partitions: TopicPartition[], reason: RunnelError): Promise<void>;
  /** The membership cannot go on (a configuration the broker refuses, or a handler failed). */
  failed(error: RunnelError): void;
}

interface HeartbeatResponse {
  error: { code: string; message: string } | null;
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  assignment: { topic: string; partitions: number[] }[];
}

const LOST_CODES = new Set(['UNKNOWN_MEMBER_ID', 'FENCED_MEMBER_EPOCH']);
/** Until the broker gives its interval: also the longest a join waits for an answer. */
const INITIAL_INTERVAL_MS = 1000;

export class GroupMembership {
  /** Chosen once; a member that was fenced joins again with the same id and epoch 0. */
  readonly memberId = randomUUID();
  epoch = 0;
  /** A join (epoch 0) was sent since the last leave: the coordinator may know this member. */
  private joinSent = false;
  private owned = new Map<string, TopicPartition>();
  /** The assignment of the latest answer: what reconciliation works towards. */
  private target = new Map<string, TopicPartition>();
  private intervalMs = INITIAL_INTERVAL_MS;
  private readonly backoff: Backoff;
  private running: Promise<void> | null = null;
  private stopping = false;
  private inFlight: AbortController | null = null;
  /** Set when the in-flight heartbeat was cut short to report a change at once. */
  private kicked = false;
  /**
   * When the last heartbeat that got an answer was sent (the coordinator saw it no earlier), on
   * the monotonic clock: a wall-clock step must neither expire the session nor extend it.
   */
  private lastAnsweredSentAtMs = performance.now();
  private watchdog: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> = Promise.resolve();

  constructor(
    private readonly connection: Connection,
    private readonly options: MembershipOptions,
    private readonly handler: MembershipHandler,
  ) {
    this.backoff = new Backoff(options.retryBackoffMs, options.retryBackoffMsMax);
  }

  /** Partitions owned now, sorted. */
  get partitions(): TopicPartition[] {
    return sorted(this.owned.values());
  }

  owns(key: string): boolean {
    return this.owned.has(key);
  }

  get isRunning(): boolean {
    return this.running !== null;
  }

  /** Joins and keeps heartbeating until leave(). Idempotent while running. */
  start(): void {
    if (this.running !== null) return;
    this.stopping = false;
    this.lastAnsweredSentAtMs = performance.now();
    this.watchdog = setInterval(() => this.checkSession(), this.sessionCheckIntervalMs);
    this.watchdog.unref();
    this.running = this.loop()
      .catch((err: unknown) => this.handler.failed(asRunnelError(err)))
      .finally(() => {
        this.running = null;
        if (this.watchdog !== null) clearInterval(this.watchdog);
        this.watchdog = null;
      });
  }

  /**
   * Stops heartbeating, revokes everything (the handler commits), then leaves: epoch -1, or -2
   * for a static member (`temporary`), which keeps its partitions on the broker until its
   * session times out.
   */
  async leave(temporary = false): Promise<void> {
    this.stopping = true;
    this.inFlight?.abort();
    await this.running;
    await this.serially(async () => {
      const owned = this.partitions;
      if (owned.length > 0) await this.handler.revoked(owned);
      this.owned.clear();
      this.target.clear();
    });
    // Also with epoch 0 once a join was sent: close() may have aborted a join the coordinator
    // had already taken, and that member would otherwise hold partitions for a whole session.
    if (this.epoch <= 0 && !this.joinSent) return;
    const epoch = temporary && this.options.instanceId !== null ? -2 : -1;
    try {
      await this.send(epoch, 0, new AbortController().signal);
    } catch {
      // Leaving is best effort: the session timeout removes the member anyway.
    }
    this.epoch = 0;
    this.joinSent = false;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const sentAtMs = performance.now();
      const controller = new AbortController();
      this.inFlight = controller;
      this.kicked = false;
      let response: HeartbeatResponse;
      if (this.epoch === 0) this.joinSent = true;
      try {
        response = await this.send(this.epoch, this.epoch === 0 ? 0 : this.intervalMs, controller.signal);
      } catch (err) {
        if (this.stopping) return;
        if (this.kicked) continue;
        await this.onFailure(asRunnelError(err));
        continue;
      } finally {
        this.inFlight = null;
      }
      if (this.stopping) return;
      if (response.error !== null && response.error.code !== 'NONE') {
        await this.onFailure(errorFromMessage(response.error) ?? new RunnelError('INTERNAL', 'an error without a code'));
        continue;
      }
      this.backoff.reset();
      this.lastAnsweredSentAtMs = sentAtMs;
      if (response.heartbeatIntervalMs > 0) this.intervalMs = response.heartbeatIntervalMs;
      this.epoch = response.memberEpoch;
      this.target = fromLists(response.assignment);
      // Not awaited: heartbeats go on while the application finishes its work on revoked
      // partitions (they still count as owned until then).
      this.serially(() => this.reconcile()).catch((err: unknown) => this.handler.failed(asRunnelError(err)));
    }
  }

  private send(epoch: number, maxWaitMs: number, signal: AbortSignal): Promise<HeartbeatResponse> {
    const request = {
      groupId: this.options.groupId,
      memberId: this.memberId,
      memberEpoch: epoch,
      instanceId: this.options.instanceId ?? '',
      clientId: this.options.clientId,
      subscribedTopics: this.options.topics,
      ownedPartitions: toLists(this.owned.values()),
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
      assignor: this.options.assignor,
      maxWaitMs,
    };
    return this.connection.unary<HeartbeatResponse>('groups', 'heartbeat', request, maxWaitMs + this.options.requestTimeoutMs, signal);
  }

  /**
   * Towards the latest target: revoked first (awaited, then reported at once), then assigned
   * (not while leaving). So the handler is asked to revoke or lose only partitions it was given.
   */
  private async reconcile(): Promise<void> {
    const revoked = [...this.owned.entries()].filter(([key]) => !this.target.has(key)).map(([, tp]) => tp);
    if (revoked.length > 0) {
      await this.handler.revoked(sorted(revoked));
      for (const tp of revoked) this.owned.delete(keyOf(tp));
      this.kick();
    }
    // A leaving member takes nothing new: an answer that arrived before leave() may still be
    // queued here (behind a slow revocation), and what it adds would be revoked by leave() at once
    // without the application ever having been told it was assigned (the group consumer announces
    // nothing once it is closing). The coordinator frees the target when the leave arrives.
    if (this.stopping) return;
    const added = [...this.target.entries()].filter(([key]) => !this.owned.has(key)).map(([, tp]) => tp);
    if (added.length > 0) {
      for (const tp of added) this.owned.set(keyOf(tp), tp);
      await this.handler.assigned(sorted(added));
    }
  }

  /** Cuts the parked heartbeat short so the next one reports what changed. */
  private kick(): void {
    if (this.inFlight === null) return;
    this.kicked = true;
    this.inFlight.abort();
  }

  private async onFailure(error: RunnelError): Promise<void> {
    if (error.code === 'CLIENT_CLOSED' && this.connection.isClosed) {
      // The application closed the connection under the consumer: nothing more can be sent.
      this.stopping = true;
      await this.serially(() => this.loseAll(error));
      return;
    }
    if (LOST_CODES.has(error.code)) {
      await this.serially(async () => {
        this.target.clear();
        await this.loseAll(error);
        this.epoch = 0;
      });
      return;
    }
    if (!error.retriable && error.code !== 'CLIENT_CLOSED') {
      this.stopping = true;
      await this.serially(() => this.loseAll(error));
      this.handler.failed(error);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, this.backoff.nextMs()));
  }

  private get sessionCheckIntervalMs(): number {
    return Math.max(50, Math.floor(this.options.sessionTimeoutMs / 10));
  }

  /**
   * No answer for nearly a whole session: give the partitions up now. The coordinator may remove
   * this member (and give its partitions to others) one session after it received the last
   * heartbeat, which is no earlier than one session after that heartbeat was sent; so the member
   * gives up two check intervals before that moment: one for the interval this check may run
   * late, one for the loss to take effect (it queues behind a reconciliation in progress).
   * Giving up at the full session raced the coordinator (a chaos run: two owners for 42 ms).
   */
  private checkSession(): void {
    const giveUpAfterMs = this.options.sessionTimeoutMs - 2 * this.sessionCheckIntervalMs;
    if (this.owned.size === 0 || performance.now() - this.lastAnsweredSentAtMs < giveUpAfterMs) return;
    const error = new RunnelError('PARTITIONS_LOST', `no heartbeat reached the coordinator of group "${this.options.groupId}" for ${giveUpAfterMs} ms, nearly its session (sessionTimeoutMs ${this.options.sessionTimeoutMs})`);
    this.serially(async () => {
      this.target.clear();
      await this.loseAll(error);
      this.epoch = 0;
    }).catch((err: unknown) => this.handler.failed(asRunnelError(err)));
  }

  /** Reconciliations and losses run one at a time, in the order they were asked for. */
  private serially(step: () => Promise<void>): Promise<void> {
    const next = this.reconciling.then(step, step);
    this.reconciling = next.catch(() => undefined);
    return next;
  }

  private async loseAll(reason: RunnelError): Promise<void> {
    const lost = this.partitions;
    this.owned.clear();
    if (lost.length > 0) await this.handler.lost(lost, reason);
  }
}

function asRunnelError(err: unknown): RunnelError {
  return err instanceof RunnelError ? err : new RunnelError('INTERNAL', err instanceof Error ? err.message : String(err));
}

function sorted(partitions: Iterable<TopicPartition>): TopicPartition[] {
  return [...partitions].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}
