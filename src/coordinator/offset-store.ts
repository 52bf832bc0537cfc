/**
 * Committed offsets: kept in memory for reads, and stored in the internal compacted topic
 * `__consumer_offsets` for durability, as Kafka does. A group's records all go to one
 * partition of that topic (murmur2 of the group id), so one group's commits stay in order.
 *
 * Record layout (msgpack, both versioned by their first element, so a later version can be
 * told apart and an unknown one skipped):
 *   key    [1, groupId, topic, partition]
 *   value  [1, offset, metadata, commitTimestampMs]   or null: a tombstone (offset removed)
 * Compaction keeps the newest record per key and, after deleteRetentionMs, drops tombstones.
 *
 * A commit answers only once its batch is fsync'd (acks all, group-committed with the others);
 * its offsets become visible to FetchOffsets at the same time. Concurrent commits of one
 * partition are applied in append order: each carries the sequence of its append, and an
 * older one never overwrites a newer one that finished first.
 *
 * At start-up `load()` replays every partition of the topic; a record that does not decode is
 * logged and skipped (it cannot be produced by clients: the topic is closed to them). Every batch
 * is CRC-checked and walked first (the topic is small): a damaged one (bit rot in a sealed
 * segment, which recovery does not re-validate) is skipped with one error line naming its
 * segment file and offset, and the groups in it keep what the other records say; a partition
 * that cannot be read to its end (offline: a lost or damaged segment found by storage) is loaded
 * up to there, with one error line. Neither stops the broker.
 */
import { pack, unpack } from 'msgpackr';
import type { Logger } from '../common/logger.js';
import { toPositive, murmur2 } from '../format/murmur2.js';
import { BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES, readBaseOffset, readBatchSize } from '../format/batch-header.js';
import { decodeRecordBatch, encodeRecordBatch, type RecordInput } from '../format/record-batch.js';
import { checkBatchStructure } from '../format/record-walk.js';
import { parseTpKey, tpKey, type TpKey } from './topic-partition.js';

export const OFFSETS_TOPIC = '__consumer_offsets';
const RECORD_VERSION = 1;

/**
 * Records of the offsets topic that are not offsets (group membership, group-records.ts): load()
 * hands every record to it first; it answers true for the records it owns.
 */
export interface OtherRecordReplay {
  replay(key: Buffer | null, value: Buffer | null): boolean;
  /** A batch of the partition was skipped at load (damaged): its groups' other records cannot be trusted. */
  partitionDamaged?(partition: number): void;
}

/** The internal topic as the coordinator needs it; the broker implements it over its logs. */
export interface OffsetLog {
  /** Partitions of the topic, or null while it does not exist. */
  partitionCount(): number | null;
  /** Creates the topic (compacted, durable) unless it exists; resolves to its partition count. */
  create(partitions: number): Promise<number>;
  /** Appends one batch; resolves once it is fsync'd. */
  appendDurable(partition: number, batch: Buffer): Promise<void>;
  /** Every stored batch of a partition, oldest first, as chunks of whole batches. */
  read(partition: number): AsyncIterable<Buffer>;
  /** The segment file holding `offset` of a partition (for reports). */
  fileOf(partition: number, offset: number): string;
}

/** What load() found. */
export interface LoadReport {
  records: number;
  groups: number;
  /** Records that did not decode as offset records. */
  skipped: number;
  /** Batches that failed their CRC or record walk. */
  skippedBatches: number;
  /** Partitions that could not be read to their end. */
  unreadablePartitions: number;
}

export interface CommittedOffset {
  offset: number;
  metadata: string;
  commitTimestampMs: number;
}

export interface OffsetToCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
}

interface StoredOffset extends CommittedOffset {
  /** Order of the append that wrote it. */
  sequence: number;
}

export class OffsetStore {
  private readonly groups = new Map<string, Map<TpKey, StoredOffset>>();
  /** Per group with appends in flight: the sequence at which each key was last removed. */
  private readonly removedAt = new Map<string, Map<TpKey, number>>();
  private readonly inFlight = new Map<string, number>();
  private sequence = 0;
  private topicPartitions: number | null;
  /** The topic's creation by appendRecords, shared so that their appends keep call order. */
  private creating: Promise<number> | null = null;

  constructor(
    private readonly log: OffsetLog,
    /** Partitions to create the topic with (an existing topic keeps its own count). */
    private readonly partitionsWanted: number,
    private readonly logger: Logger,
    /** Where records that are not offsets go at load(). */
    private readonly otherRecords: OtherRecordReplay | null = null,
  ) {
    this.topicPartitions = log.partitionCount();
  }

  /** Rebuilds every group's offsets from the topic; damaged batches and partitions are reported, never fatal. */
  async load(): Promise<LoadReport> {
    const partitions = this.log.partitionCount();
    this.topicPartitions = partitions;
    const report: LoadReport = { records: 0, groups: 0, skipped: 0, skippedBatches: 0, unreadablePartitions: 0 };
    for (let p = 0; p < (partitions ?? 0); p++) {
      try {
        for await (const chunk of this.log.read(p)) this.replayChunk(p, chunk, report);
      } catch (err) {
        report.unreadablePartitions++;
        this.otherRecords?.partitionDamaged?.(p);
        this.logger.error({ err, partition: p }, `${OFFSETS_TOPIC}-${p} could not be read to its end: offsets committed after that point are not loaded`);
      }
    }
    if (report.skipped > 0) this.logger.warn({ skipped: report.skipped }, `skipped undecodable records of ${OFFSETS_TOPIC}`);
    report.groups = this.groups.size;
    return report;
  }

  /** Replays the whole batches of a chunk, skipping (and reporting) each one that fails its check. */
  private replayChunk(partition: number, chunk: Buffer, report: LoadReport): void {
    let at = 0;
    while (at + BATCH_LENGTH_PREFIX_BYTES <= chunk.length) {
      const checked = checkBatchStructure(chunk, at, chunk.length, { denseOffsets: false });
      const sizeBytes = readBatchSize(chunk, at);
      if ('problem' in checked) {
        const offset = readBaseOffset(chunk, at);
        report.skippedBatches++;
        // It may have held membership records (group-records.ts): those groups are distrusted.
        this.otherRecords?.partitionDamaged?.(partition);
        this.logger.error(
          { file: this.log.fileOf(partition, offset), offset, partition, problem: checked.problem },
          `skipped a corrupt batch of ${OFFSETS_TOPIC}: the groups in it keep what the other records say`,
        );
        // A length that does not lead to the next batch leaves the rest of the chunk unreadable.
        if (sizeBytes < BATCH_HEADER_BYTES || at + sizeBytes > chunk.length) return;
        at += sizeBytes;
        continue;
      }
      for (const record of decodeRecordBatch(chunk, at).records) {
        report.records++;
        if (!this.replay(record.key, record.value)) report.skipped++;
      }
      at += checked.sizeBytes;
    }
  }

  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  offsetsOf(groupId: string): ReadonlyMap<TpKey, CommittedOffset> {
    return this.groups.get(groupId) ?? new Map();
  }

  /** The newest commit time among the group's offsets, or -1. */
  newestCommitMs(groupId: string): number {
    let newest = -1;
    for (const stored of this.groups.get(groupId)?.values() ?? []) newest = Math.max(newest, stored.commitTimestampMs);
    return newest;
  }

  /** Stores the offsets durably, then makes them visible. */
  async commit(groupId: string, offsets: readonly OffsetToCommit[], nowMs: number): Promise<void> {
    if (offsets.length === 0) return;
    const records: RecordInput[] = offsets.map(({ topic, partition, offset, metadata }) => ({
      key: keyBytes(groupId, topic, partition),
      value: pack([RECORD_VERSION, offset, metadata, nowMs]),
      timestampMs: nowMs,
    }));
    await this.append(groupId, records, (sequence) => {
      let group = this.groups.get(groupId);
      if (group === undefined) this.groups.set(groupId, (group = new Map<TpKey, StoredOffset>()));
      const removed = this.removedAt.get(groupId);
      for (const { topic, partition, offset, metadata } of offsets) {
        const key = tpKey(topic, partition);
        if ((removed?.get(key) ?? -1) > sequence) continue;
        const current = group.get(key);
        // <=: a key repeated in one commit ends with its last value, as a replay of the batch would.
        if (current === undefined || current.sequence <= sequence) group.set(key, { offset, metadata, commitTimestampMs: nowMs, sequence });
      }
      if (group.size === 0) this.groups.delete(groupId);
    });
  }

  /** Removes offsets (all of the group's when `keys` is omitted) with tombstones. */
  async remove(groupId: string, keys?: readonly TpKey[]): Promise<void> {
    const group = this.groups.get(groupId);
    const doomed = keys ?? [...(group?.keys() ?? [])];
    if (doomed.length === 0) return;
    const nowMs = Date.now();
    const records: RecordInput[] = doomed.map((key) => {
      const { topic, partition } = parseTpKey(key);
      return { key: keyBytes(groupId, topic, partition), value: null, timestampMs: nowMs };
    });
    await this.append(groupId, records, (sequence) => {
      let removed = this.removedAt.get(groupId);
      if (removed === undefined) this.removedAt.set(groupId, (removed = new Map<TpKey, number>()));
      for (const key of doomed) removed.set(key, Math.max(sequence, removed.get(key) ?? -1));
      const current = this.groups.get(groupId);
      if (current === undefined) return;
      for (const key of doomed) if ((current.get(key)?.sequence ?? -1) < sequence) current.delete(key);
      if (current.size === 0) this.groups.delete(groupId);
    });
  }

  /**
   * Appends other records of a group (membership, group-records.ts) to the group's partition;
   * resolves once they are durable. Calls reach the log in call order, also while the topic is
   * being created, so that a crash keeps a prefix of them.
   */
  async appendRecords(groupId: string, records: RecordInput[]): Promise<void> {
    if (this.topicPartitions === null) {
      this.creating ??= this.log.create(this.partitionsWanted).then(
        (partitions) => (this.topicPartitions = partitions),
        (err: unknown) => {
          this.creating = null;
          throw err;
        },
      );
      await this.creating;
    }
    await this.append(groupId, records, () => undefined);
  }

  /**
   * Appends one batch; once it is durable, `apply` runs with the append's sequence. Removal
   * sequences are remembered while the group has appends in flight, so an older commit that
   * becomes durable after a newer tombstone cannot bring the offset back.
   */
  private async append(groupId: string, records: RecordInput[], apply: (sequence: number) => void): Promise<void> {
    const partitions = (this.topicPartitions ??= await this.log.create(this.partitionsWanted));
    const sequence = ++this.sequence;
    this.inFlight.set(groupId, (this.inFlight.get(groupId) ?? 0) + 1);
    try {
      await this.log.appendDurable(partitionFor(groupId, partitions), encodeRecordBatch({ records }));
      apply(sequence);
    } finally {
      const left = (this.inFlight.get(groupId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(groupId, left);
      else {
        this.inFlight.delete(groupId);
        this.removedAt.delete(groupId);
      }
    }
  }

  private replay(key: Buffer | null, value: Buffer | null): boolean {
    if (this.otherRecords?.replay(key, value) === true) return true;
    const parsed = parseKey(key);
    if (parsed === null) return false;
    const { groupId, topic, partition } = parsed;
    const tp = tpKey(topic, partition);
    if (value === null) {
      const group = this.groups.get(groupId);
      group?.delete(tp);
      if (group?.size === 0) this.groups.delete(groupId);
      return true;
    }
    const stored = parseValue(value);
    if (stored === null) return false;
    let group = this.groups.get(groupId);
    if (group === undefined) this.groups.set(groupId, (group = new Map<TpKey, StoredOffset>()));
    group.set(tp, { ...stored, sequence: ++this.sequence });
    return true;
  }
}

/** The partition of the offsets topic holding a group's records. */
export function partitionFor(groupId: string, partitions: number): number {
  return toPositive(murmur2(Buffer.from(groupId, 'utf8'))) % partitions;
}

function keyBytes(groupId: string, topic: string, partition: number): Buffer {
  return pack([RECORD_VERSION, groupId, topic, partition]);
}

function parseKey(key: Buffer | null): { groupId: string; topic: string; partition: number } | null {
  if (key === null) return null;
  const decoded = safeUnpack(key);
  if (!Array.isArray(decoded) || decoded.length !== 4 || decoded[0] !== RECORD_VERSION) return null;
  const [, groupId, topic, partition] = decoded as unknown[];
  if (typeof groupId !== 'string' || typeof topic !== 'string' || !Number.isInteger(partition) || (partition as number) < 0) return null;
  return { groupId, topic, partition: partition as number };
}

function parseValue(value: Buffer): CommittedOffset | null {
  const decoded = safeUnpack(value);
  if (!Array.isArray(decoded) || decoded.length !== 4 || decoded[0] !== RECORD_VERSION) return null;
  const [, offset, metadata, commitTimestampMs] = decoded as unknown[];
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || typeof metadata !== 'string' || !Number.isSafeInteger(commitTimestampMs)) return null;
  return { offset: offset as number, metadata, commitTimestampMs: commitTimestampMs as number };
}

function safeUnpack(bytes: Buffer): unknown {
  try {
    return unpack(bytes);
  } catch {
    return undefined;
  }
}
