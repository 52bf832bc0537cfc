/**
 * The broker's topics: name, partition count, config overrides, creation time. Each topic's
 * metadata is one JSON file, `<data>/meta/topics/<name>.json`, written atomically. The file is
 * the truth: a topic exists once its file is durable, and is gone once its file is removed.
 * Partition logs follow: created after the file is written, deleted after it is removed, and
 * reconciled at start-up (missing logs created, logs of unknown topics deleted), so a crash in
 * between never leaves a half-made or half-deleted topic.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunnelError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { validateTopicName } from '../common/topic-name.js';
import { fsyncDirSync, writeFileAtomicSync } from '../storage/file-io.js';
import type { LogConfig } from '../storage/log-config.js';
import type { LogManager } from '../storage/log-manager.js';
import { isReservedTopic } from './reserved-topics.js';
import { resolveTopicSettings, type TopicSettings } from './topic-config.js';

const TOPICS_DIR = path.join('meta', 'topics');
const FORMAT_VERSION = 1;

export interface TopicMetadata {
  name: string;
  topicId: string;
  partitions: number;
  configs: Record<string, string>;
  createdAtMs: number;
}

export interface Topic extends TopicMetadata {
  settings: TopicSettings;
  internal: boolean;
}

export interface TopicLimits {
  maxTopics: number;
  maxPartitionsPerTopic: number;
  maxPartitionsPerBroker: number;
}

export class TopicRegistry {
  private readonly topics = new Map<string, Topic>();
  private readonly dir: string;

  private constructor(
    dataDir: string,
    private readonly logDefaults: LogConfig,
    private readonly limits: TopicLimits,
    private readonly logger: Logger,
  ) {
    this.dir = path.join(dataDir, TOPICS_DIR);
  }

  /** Loads every topic file; a damaged file is reported and skipped, never fatal. */
  static loadSync(dataDir: string, logDefaults: LogConfig, limits: TopicLimits, logger: Logger): TopicRegistry {
    const registry = new TopicRegistry(dataDir, logDefaults, limits, logger);
    fs.mkdirSync(registry.dir, { recursive: true });
    for (const name of fs.readdirSync(registry.dir)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(registry.dir, name);
      try {
        const topic = registry.toTopic(parseTopicFile(fs.readFileSync(file, 'utf8')));
        registry.topics.set(topic.name, topic);
      } catch (err) {
        logger.error({ err, file }, 'unreadable topic metadata; topic skipped');
      }
    }
    return registry;
  }

  /** Makes the logs agree with the topics: create what is missing, delete what is unknown. */
  async reconcile(logs: LogManager): Promise<void> {
    for (const topic of this.topics.values()) {
      for (let p = 0; p < topic.partitions; p++) {
        const log = logs.getLog(topic.name, p) ?? logs.createLog(topic.name, p, topic.settings.log);
        log.updateConfig(topic.settings.log);
      }
    }
    for (const log of logs.allLogs()) {
      const topic = this.topics.get(log.topic);
      if (topic === undefined || log.partition >= topic.partitions) {
        this.logger.warn({ topic: log.topic, partition: log.partition }, 'deleting the log of a deleted topic');
        await logs.deleteLog(log.topic, log.partition);
      }
    }
  }

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  /** The topic, or UNKNOWN_TOPIC. */
  require(name: string): Topic {
    const topic = this.topics.get(name);
    if (topic === undefined) throw new RunnelError('UNKNOWN_TOPIC', `topic "${name}" does not exist`, { topic: name });
    return topic;
  }

  list(): Topic[] {
    return [...this.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get partitionCount(): number {
    let total = 0;
    for (const topic of this.topics.values()) total += topic.partitions;
    return total;
  }

  /** Checks a new topic against names, limits and configs; returns it without creating it. */
  validateNew(name: string, partitions: number, configs: Record<string, string>): Topic {
    validateTopicName(name);
    if (this.topics.has(name)) throw new RunnelError('TOPIC_ALREADY_EXISTS', `topic "${name}" already exists`, { topic: name });
    const { maxTopics, maxPartitionsPerTopic, maxPartitionsPerBroker } = this.limits;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > maxPartitionsPerTopic) {
      throw new RunnelError('INVALID_ARGUMENT', `partitions must be from 1 to ${maxPartitionsPerTopic}, got ${partitions}`, { topic: name });
    }
    if (this.topics.size >= maxTopics) throw new RunnelError('LIMIT_EXCEEDED', `the broker holds its maximum of ${maxTopics} topics`, { topic: name });
    if (this.partitionCount + partitions > maxPartitionsPerBroker) {
      throw new RunnelError('LIMIT_EXCEEDED', `${partitions} more partitions would exceed the broker's maximum of ${maxPartitionsPerBroker}`, { topic: name });
    }
    return this.toTopic({ name, topicId: randomUUID(), partitions, configs, createdAtMs: Date.now() });
  }

  /** Writes the topic's file (durably), then creates its partition logs. */
  create(topic: Topic, logs: LogManager): void {
    writeFileAtomicSync(this.fileOf(topic.name), JSON.stringify({ version: FORMAT_VERSION, ...metadataOf(topic) }, null, 2));
    this.topics.set(topic.name, topic);
    for (let p = 0; p < topic.partitions; p++) logs.createLog(topic.name, p, topic.settings.log);
  }

  /** Removes the topic's file (durably), then its logs. */
  async delete(name: string, logs: LogManager): Promise<void> {
    const topic = this.require(name);
    fs.rmSync(this.fileOf(name), { force: true });
    fsyncDirSync(this.dir);
    this.topics.delete(name);
    for (let p = 0; p < topic.partitions; p++) if (logs.getLog(name, p) !== undefined) await logs.deleteLog(name, p);
  }

  /**
   * Grows a topic to `total` partitions (Kafka's CreatePartitions; never shrinks): the file
   * first, durably, then the new logs (a crash in between is repaired by `reconcile`).
   */
  addPartitions(name: string, total: number, logs: LogManager, validateOnly: boolean): Topic {
    const current = this.require(name);
    const { maxPartitionsPerTopic, maxPartitionsPerBroker } = this.limits;
    if (!Number.isInteger(total) || total <= current.partitions || total > maxPartitionsPerTopic) {
      throw new RunnelError('INVALID_ARGUMENT', `topic "${name}" has ${current.partitions} partitions; the new total must be from ${current.partitions + 1} to ${maxPartitionsPerTopic}, got ${total}`, { topic: name });
    }
    if (this.partitionCount + total - current.partitions > maxPartitionsPerBroker) {
      throw new RunnelError('LIMIT_EXCEEDED', `${total - current.partitions} more partitions would exceed the broker's maximum of ${maxPartitionsPerBroker}`, { topic: name });
    }
    const grown = this.toTopic({ ...metadataOf(current), partitions: total });
    if (validateOnly) return grown;
    writeFileAtomicSync(this.fileOf(name), JSON.stringify({ version: FORMAT_VERSION, ...metadataOf(grown) }, null, 2));
    this.topics.set(name, grown);
    for (let p = current.partitions; p < total; p++) logs.createLog(name, p, grown.settings.log);
    return grown;
  }

  /** Merges config changes, validates the result, persists it and applies it to the logs. */
  alterConfigs(name: string, changes: Record<string, string>, logs: LogManager, validateOnly: boolean): Topic {
    const current = this.require(name);
    const altered = this.toTopic({ ...metadataOf(current), configs: { ...current.configs, ...changes } });
    if (validateOnly) return altered;
    writeFileAtomicSync(this.fileOf(name), JSON.stringify({ version: FORMAT_VERSION, ...metadataOf(altered) }, null, 2));
    this.topics.set(name, altered);
    for (let p = 0; p < altered.partitions; p++) logs.getLog(name, p)?.updateConfig(altered.settings.log);
    return altered;
  }

  private toTopic(metadata: TopicMetadata): Topic {
    return { ...metadata, settings: resolveTopicSettings(metadata.configs, this.logDefaults), internal: isReservedTopic(metadata.name) };
  }

  private fileOf(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }
}

function metadataOf(topic: TopicMetadata): TopicMetadata {
  const { name, topicId, partitions, configs, createdAtMs } = topic;
  return { name, topicId, partitions, configs, createdAtMs };
}

function parseTopicFile(text: string): TopicMetadata {
  const raw = JSON.parse(text) as Partial<TopicMetadata> & { version?: number };
  if (raw.version !== FORMAT_VERSION) throw new Error(`unsupported topic metadata version ${String(raw.version)}`);
  const { name, topicId, partitions, configs, createdAtMs } = raw;
  validateTopicName(name);
  if (typeof topicId !== 'string' || typeof partitions !== 'number' || typeof createdAtMs !== 'number' || typeof configs !== 'object' || configs === null) {
    throw new Error('topic metadata is missing fields');
  }
  return { name, topicId, partitions, configs, createdAtMs };
}
