/**
 * The broker's topics: name, topic id, partition count, config overrides, creation time. Each
 * topic's metadata is one JSON file, `<data>/meta/topics/<name>.json`, written atomically. The
 * file is the truth: a topic exists once its file is durable. Partition logs follow, matched by
 * topic id (each log's partition.metadata), never by name alone:
 *
 * - create: the file, then the logs (each stamped with the topic id);
 * - delete: the file is renamed to `<name>.json.deleting` (the durable intent, with the id),
 *   then the logs are deleted, then the marker is removed;
 * - start: every file must be readable, or the broker refuses to start (one line naming the file
 *   and the fix: nothing is guessed, nothing deleted). Then reconcile: logs of a pending deletion
 *   (same id) are deleted; logs with the topic's id are kept; a log from before partition.metadata
 *   is adopted once by the topic of its name; every other log (no topic of its name, or another
 *   incarnation's id) is kept offline as a `-stray` directory, never deleted; missing logs are
 *   created.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunnelError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { validateTopicName } from '../common/topic-name.js';
import { fsyncDirSync, mkdirDurableSync, writeFileAtomicSync } from '../storage/file-io.js';
import type { LogConfig } from '../storage/log-config.js';
import type { LogManager } from '../storage/log-manager.js';
import { isValidTopicId } from '../storage/partition-metadata.js';
import { isReservedTopic } from './reserved-topics.js';
import { resolveTopicSettings, type TopicSettings } from './topic-config.js';

const TOPICS_DIR = path.join('meta', 'topics');
const FORMAT_VERSION = 1;
const TOPIC_FILE_SUFFIX = '.json';
/** A topic file renamed so while its logs are deleted: a crash then finishes the deletion. */
const DELETING_SUFFIX = '.json.deleting';

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
  /** Deletions a crash interrupted (from `*.json.deleting`), finished by reconcile. */
  private readonly pendingDeletions: { file: string; topic: TopicMetadata }[] = [];
  private readonly dir: string;

  private constructor(
    dataDir: string,
    private readonly logDefaults: LogConfig,
    private readonly limits: TopicLimits,
    private readonly logger: Logger,
  ) {
    this.dir = path.join(dataDir, TOPICS_DIR);
  }

  /**
   * Loads every topic file. An unreadable one (zero length after a power cut, a newer version,
   * a read error) throws STORAGE_ERROR naming the file and the fix: skipping it would hide the
   * topic, and its logs would then look like nobody's (see docs/broker.md).
   */
  static loadSync(dataDir: string, logDefaults: LogConfig, limits: TopicLimits, logger: Logger): TopicRegistry {
    const registry = new TopicRegistry(dataDir, logDefaults, limits, logger);
    mkdirDurableSync(registry.dir);
    for (const name of fs.readdirSync(registry.dir)) {
      const file = path.join(registry.dir, name);
      if (name.endsWith(TOPIC_FILE_SUFFIX)) {
        const topic = registry.toTopic(readTopicFileSync(file, name.slice(0, -TOPIC_FILE_SUFFIX.length), registry.dir));
        registry.topics.set(topic.name, topic);
      } else if (name.endsWith(DELETING_SUFFIX)) {
        registry.pendingDeletions.push({ file, topic: readTopicFileSync(file, name.slice(0, -DELETING_SUFFIX.length), registry.dir) });
      }
    }
    return registry;
  }

  /**
   * Makes the logs agree with the topics, by topic id: finish interrupted deletions, adopt logs
   * from before partition.metadata, keep every log no topic owns offline as a stray (never
   * deleted), and create missing logs.
   */
  async reconcile(logs: LogManager): Promise<void> {
    for (const { topic: deleted } of this.pendingDeletions) {
      await logs.deleteLogs(deleted.name, partitionsUpTo(deleted.partitions).filter((p) => logs.getLog(deleted.name, p)?.topicId === deleted.topicId));
    }
    let adopted = 0;
    for (const log of logs.allLogs()) {
      const topic = this.topics.get(log.topic);
      const owned = topic !== undefined && log.partition < topic.partitions;
      if (owned && log.topicId === null) {
        log.adoptTopicIdSync(topic.topicId);
        adopted++;
        this.logger.info({ topic: log.topic, partition: log.partition, topicId: topic.topicId }, 'log from before partition.metadata adopted by its topic');
      } else if (!owned || log.topicId !== topic.topicId) {
        const stray = logs.strayLog(log.topic, log.partition);
        const why = topic === undefined ? 'no topic of this name exists' : log.partition >= topic.partitions ? 'the topic has fewer partitions' : `its topic id ${log.topicId} is not the topic's ${topic.topicId}`;
        this.logger.warn({ topic: log.topic, partition: log.partition, stray }, `log kept offline as a stray (${why}); delete it or move it back by hand`);
      }
    }
    // Version 0 checkpoint entries applied to these logs at open; from now on only entries with
    // their ids would, so the checkpoints get the ids before anything can crash.
    if (adopted > 0) logs.writeCheckpointsSync();
    for (const topic of this.topics.values()) {
      const missing = partitionsUpTo(topic.partitions).filter((p) => logs.getLog(topic.name, p) === undefined);
      logs.createLogs(topic.name, missing, topic.settings.log, topic.topicId);
      for (let p = 0; p < topic.partitions; p++) logs.requireLog(topic.name, p).updateConfig(topic.settings.log);
    }
    for (const { file } of this.pendingDeletions.splice(0)) fs.rmSync(file, { force: true });
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

  /** Writes the topic's file (durably), then creates its partition logs, stamped with its id. */
  create(topic: Topic, logs: LogManager): void {
    writeFileAtomicSync(this.fileOf(topic.name), JSON.stringify({ version: FORMAT_VERSION, ...metadataOf(topic) }, null, 2));
    this.topics.set(topic.name, topic);
    logs.createLogs(topic.name, partitionsUpTo(topic.partitions), topic.settings.log, topic.topicId);
  }

  /**
   * Renames the topic's file to `<name>.json.deleting` (durably: the intent to delete this
   * topic id survives a crash), deletes its logs, then removes the marker.
   */
  async delete(name: string, logs: LogManager): Promise<void> {
    const topic = this.require(name);
    const marker = path.join(this.dir, `${name}${DELETING_SUFFIX}`);
    fs.renameSync(this.fileOf(name), marker);
    fsyncDirSync(this.dir);
    this.topics.delete(name);
    await logs.deleteLogs(name, partitionsUpTo(topic.partitions).filter((p) => logs.getLog(name, p) !== undefined));
    fs.rmSync(marker, { force: true });
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
    logs.createLogs(name, partitionsUpTo(total).slice(current.partitions), grown.settings.log, grown.topicId);
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

/** 0, 1, ..., count - 1. */
function partitionsUpTo(count: number): number[] {
  return Array.from({ length: count }, (_, p) => p);
}

function metadataOf(topic: TopicMetadata): TopicMetadata {
  const { name, topicId, partitions, configs, createdAtMs } = topic;
  return { name, topicId, partitions, configs, createdAtMs };
}

/** Reads a topic file; anything unreadable throws the one-line refusal to start. */
function readTopicFileSync(file: string, name: string, dir: string): TopicMetadata {
  try {
    const metadata = parseTopicFile(fs.readFileSync(file, 'utf8'));
    if (metadata.name !== name) throw new Error(`it names topic "${metadata.name}"`);
    return metadata;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
    throw new RunnelError(
      'STORAGE_ERROR',
      `cannot start: topic metadata ${file} is unreadable (${reason}); restore it from a backup, or move it out of ${dir} to drop topic "${name}" (its logs are then kept offline as -stray directories)`,
      { file, topic: name },
    );
  }
}

function parseTopicFile(text: string): TopicMetadata {
  const raw = JSON.parse(text) as Partial<TopicMetadata> & { version?: number };
  if (raw.version !== FORMAT_VERSION) throw new Error(`unsupported topic metadata version ${String(raw.version)}`);
  const { name, topicId, partitions, configs, createdAtMs } = raw;
  validateTopicName(name);
  if (typeof topicId !== 'string' || typeof partitions !== 'number' || typeof createdAtMs !== 'number' || typeof configs !== 'object' || configs === null) {
    throw new Error('topic metadata is missing fields');
  }
  if (!isValidTopicId(topicId)) throw new Error(`bad topic id "${topicId}"`);
  return { name, topicId, partitions, configs, createdAtMs };
}
