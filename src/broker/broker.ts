/**
 * The broker's domain state, without gRPC: the data directory's logs, the topics, and per
 * partition the recent-batch cache and the idempotent-producer state. Handlers (src/broker/
 * handlers) translate requests into calls on this and on produce.ts / fetch.ts / subscribe.ts.
 *
 * Start-up order: topics (meta/) → logs (recovery) → reconcile the two → producer states
 * (snapshot + replay) → the group coordinator (replays __consumer_offsets). Shutdown: the caller stops the server first; then producer snapshots,
 * then the log manager's clean close (flush, checkpoints, clean-shutdown marker).
 */
import { RunnelError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { DirLock } from '../storage/dir-lock.js';
import { mkdirDurableSync } from '../storage/file-io.js';
import { LogManager } from '../storage/log-manager.js';
import type { PartitionLog } from '../storage/partition-log.js';
import type { BrokerConfig } from './config.js';
import type { GroupCoordinator } from '../coordinator/coordinator.js';
import { ConnectionShares } from './connection-shares.js';
import { checkOpenFileLimit } from './open-file-limit.js';
import { createCoordinator } from './coordinator-host.js';
import { BrokerMetrics } from './metrics.js';
import { PartitionActivity, partitionKey } from './partition-activity.js';
import { ProducerIdAllocator } from './producer-ids.js';
import { PartitionProducerState } from './producer-state.js';
import { RecentBatches } from './recent-batches.js';
import { TopicRegistry, type Topic } from './topic-registry.js';

const PRODUCER_EXPIRY_CHECK_MS = 60_000;

export interface Partition {
  topic: Topic;
  log: PartitionLog;
  recent: RecentBatches;
  producers: PartitionProducerState;
}

export class Broker {
  readonly activity = new PartitionActivity();
  readonly metrics: BrokerMetrics;
  private readonly partitions = new Map<string, Partition>();
  private logsValue: LogManager | undefined;
  private topicsValue: TopicRegistry | undefined;
  private producerIdsValue: ProducerIdAllocator | undefined;
  private coordinatorValue: GroupCoordinator | undefined;
  private closing = false;
  openSubscriptions = 0;
  parkedFetches = 0;
  /** Per client connection: its share of limits.maxParkedFetches and maxSubscribeStreams. */
  readonly parkedFetchShares: ConnectionShares;
  readonly subscribeShares: ConnectionShares;
  /** The gRPC port actually bound (the configured one may be 0). */
  boundPort = 0;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly shutdown = new AbortController();

  private constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
  ) {
    this.metrics = new BrokerMetrics(() => this.logsValue);
    this.parkedFetchShares = new ConnectionShares(config.limits.maxParkedFetchesPerConnection);
    this.subscribeShares = new ConnectionShares(config.limits.maxSubscribeStreamsPerConnection);
  }

  static async open(config: BrokerConfig, logger: Logger): Promise<Broker> {
    const broker = new Broker(config, logger);
    // The directory's lock first: a second broker on it must stop here, before it reads (or, at
    // reconcile, finishes deletions in) a directory another process owns.
    mkdirDurableSync(config.dataDir);
    const lock = DirLock.acquireSync(config.dataDir);
    if (lock.kind === 'pid-check') {
      logger.warn(
        { dataDir: config.dataDir },
        'flock(1) is not installed (util-linux, or BusyBox, provides it): the data-directory lock falls back to checking the recorded owner PID, which cannot see brokers in other PID namespaces (containers sharing the volume)',
      );
    }
    let topics: TopicRegistry;
    try {
      topics = TopicRegistry.loadSync(config.dataDir, config.log, config.limits, logger);
      broker.topicsValue = topics;
      broker.logsValue = LogManager.open({
        lock,
        dataDir: config.dataDir,
        defaultConfig: config.log,
        topicConfig: (name) => topics.get(name)?.settings.log,
        flushIntervalMs: config.flushIntervalMs,
        retentionCheckIntervalMs: config.retentionCheckIntervalMs,
        scrubBytesPerSecond: config.scrubBytesPerSecond,
        scrubIntervalMs: config.scrubIntervalMs,
        logger,
      });
    } catch (err) {
      lock.releaseSync(); // idempotent: LogManager.open may have released it already
      throw err;
    }
    await topics.reconcile(broker.logsValue);
    checkOpenFileLimit(broker.logsValue.allLogs().reduce((n, log) => n + log.segmentCount, 0), config.limits.maxConnections, logger);
    broker.producerIdsValue = new ProducerIdAllocator(config.dataDir);
    for (const topic of topics.list()) await broker.attachPartitions(topic);
    broker.coordinatorValue = createCoordinator(broker);
    await broker.coordinatorValue.start();
    broker.expiryTimer = setInterval(() => broker.expireProducers(), PRODUCER_EXPIRY_CHECK_MS);
    broker.expiryTimer.unref();
    return broker;
  }

  get logs(): LogManager {
    if (this.logsValue === undefined) throw new RunnelError('BROKER_SHUTTING_DOWN');
    return this.logsValue;
  }

  get topics(): TopicRegistry {
    if (this.topicsValue === undefined) throw new RunnelError('BROKER_SHUTTING_DOWN');
    return this.topicsValue;
  }

  get producerIds(): ProducerIdAllocator {
    if (this.producerIdsValue === undefined) throw new RunnelError('BROKER_SHUTTING_DOWN');
    return this.producerIdsValue;
  }

  get coordinator(): GroupCoordinator {
    if (this.coordinatorValue === undefined || this.closing) throw new RunnelError('BROKER_SHUTTING_DOWN');
    return this.coordinatorValue;
  }

  /** The coordinator once started (topic changes during start-up have no group to tell). */
  get coordinatorOrNull(): GroupCoordinator | undefined {
    return this.coordinatorValue;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Builds the per-partition state of a topic's partitions from `from` on (after create, growth, or at start-up). */
  async attachPartitions(topic: Topic, from = 0): Promise<void> {
    for (let p = from; p < topic.partitions; p++) {
      const log = this.logs.requireLog(topic.name, p);
      const options = { producerIdExpirationMs: this.config.producerIdExpirationMs };
      // An offline log (a segment is missing) refuses every append and cannot be replayed past
      // its hole: it gets an empty state instead of failing the whole broker's start.
      const { state, problem } = log.offline !== null ? { state: new PartitionProducerState(options), problem: null } : await PartitionProducerState.load(log, options);
      if (problem !== null) this.logger.warn({ topic: topic.name, partition: p, problem }, 'producer state rebuilt from the log');
      this.partitions.set(partitionKey(topic.name, p), { topic, log, recent: new RecentBatches(this.config.limits.recentBatchCacheBytes), producers: state });
      // Readers of `durability: all` topics wait for the durable high watermark (watermarks.ts):
      // an fsync is what gives them new records. The durability is read at each call, so an
      // altered topic config applies at once.
      log.onDurableAdvance = () => {
        if (this.topicsValue?.get(topic.name)?.settings.durability === 'all') this.activity.notify(topic.name, p);
      };
      // A snapshot at every roll bounds the replay after a crash to the active segment.
      log.onRoll = (offset) => {
        try {
          state.writeSnapshotSync(log.dir, offset);
        } catch (err) {
          // Only replay time is at stake: the next roll or clean shutdown tries again.
          this.logger.warn({ err, topic: topic.name, partition: p }, 'producer state snapshot at roll failed');
        }
      };
    }
  }

  /** Forgets a deleted topic's partitions and wakes their readers, which then see it gone. */
  detachPartitions(topic: Topic): void {
    for (let p = 0; p < topic.partitions; p++) {
      this.partitions.delete(partitionKey(topic.name, p));
      this.activity.notify(topic.name, p);
    }
  }

  /** Refreshes cached topic metadata (after alter configs). */
  refreshTopic(topic: Topic): void {
    for (let p = 0; p < topic.partitions; p++) {
      const partition = this.partitions.get(partitionKey(topic.name, p));
      if (partition !== undefined) partition.topic = topic;
    }
  }

  /** The partition, or UNKNOWN_TOPIC / UNKNOWN_PARTITION. */
  partition(topicName: string, partition: number): Partition {
    if (this.closing) throw new RunnelError('BROKER_SHUTTING_DOWN');
    const found = this.partitions.get(partitionKey(topicName, partition));
    if (found !== undefined) return found;
    const topic = this.topics.require(topicName);
    throw new RunnelError('UNKNOWN_PARTITION', `topic "${topicName}" has partitions 0..${topic.partitions - 1}, not ${partition}`, { topic: topicName, partition });
  }

  /** Drops producers idle for longer than producerIdExpirationMs, in every partition. */
  expireProducers(): void {
    for (const partition of this.partitions.values()) partition.producers.expire();
  }

  /** Aborted when shutdown begins: parked fetches answer, subscribe streams end. */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Marks the broker as closing: new requests get BROKER_SHUTTING_DOWN, waiters wake. */
  beginShutdown(): void {
    this.closing = true;
    this.shutdown.abort();
    this.coordinatorValue?.close();
  }

  /** Snapshots producer states and closes the logs cleanly (flush, checkpoints, marker). */
  async close(): Promise<void> {
    this.beginShutdown();
    clearInterval(this.expiryTimer);
    const logs = this.logsValue;
    if (logs === undefined) return;
    await logs.flushAll();
    for (const partition of this.partitions.values()) {
      // An offline log's state is empty, not known: with no snapshot, the next start replays the log.
      if (partition.log.offline !== null) continue;
      try {
        partition.producers.writeSnapshotSync(partition.log.dir, partition.log.logEndOffset);
      } catch (err) {
        this.logger.error({ err, topic: partition.topic.name, partition: partition.log.partition }, 'producer state snapshot failed');
      }
    }
    await logs.close();
    this.logsValue = undefined;
  }
}
