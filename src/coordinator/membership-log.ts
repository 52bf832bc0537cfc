/**
 * When group membership records (group-records.ts) are written, and what a heartbeat answer
 * waits for. The rule: a member is told nothing that is not durable. Every change that matters
 * for ownership (a join, a leave or expiry, an epoch bump, an assignment moving, a target
 * recomputed) is appended, then the answer that tells the member about it waits until that
 * append is fsync'd. Otherwise a crash after the answer and before the write would lose what
 * the member was told, and the restarted coordinator could give its partitions to another.
 *
 * Why replay then gives a state the members agree with: `write()` runs synchronously right
 * after each change of the in-memory group, and every record of a group goes to one partition
 * of the offsets topic in call order (OffsetStore.appendRecords). A crash keeps a prefix of that
 * partition, so a replay rebuilds the group as it was at some moment, never a mix; and that
 * moment is no earlier than any answer sent, since answers wait for durability. A partition
 * handed from A to B was released by A in an earlier record than the one that gives it to B.
 *
 * Cost: the coordinator calls `write()` only after something changed (a heartbeat that changes
 * nothing writes nothing); it encodes the records of the members the group marked as changed
 * (Group.takeChanged) and appends those whose bytes differ from the last written (usually one or
 * two members' assignment records). The appends are group-committed with every other write of
 * the partition (offset commits too).
 *
 * Failure: an append that fails leaves the log behind the memory. The group is then marked, and
 * the next answer for it first appends the whole group again (and tombstones for what is gone)
 * and waits for that; until then answers fail with a retriable STORAGE_ERROR.
 */
import { RunnelError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { RecordInput } from '../format/record-batch.js';
import type { Group } from './group.js';
import { groupMetadataRecord, groupRecords, memberRecords, recordId, recordsChanged, type StoredRecord } from './group-records.js';

/** Appends a group's records to its partition of the offsets topic, in call order; resolves once durable. */
export type AppendGroupRecords = (groupId: string, records: RecordInput[]) => Promise<void>;

interface GroupView {
  /** What the log holds (or will, once the appends in flight are durable), by record id. */
  records: Map<string, StoredRecord>;
  /**
   * Keys whose newest record in the log may not be a tombstone: every key written with a value,
   * until a tombstone of it is durable. A rewrite after a failure tombstones those not in `records`.
   */
  live: Map<string, Buffer>;
  /** Settles once every append issued so far is durable; rejects if one of them failed. */
  written: Promise<void>;
  /** An append failed: the whole group must be written again before anything is answered. */
  failed: boolean;
}

export class MembershipLog {
  private readonly views = new Map<string, GroupView>();

  constructor(
    private readonly append: AppendGroupRecords,
    private readonly logger: Logger,
  ) {}

  /** What the replayed log holds for a group, so the first write appends only differences. */
  seed(groupId: string, records: Map<string, StoredRecord>): void {
    if (records.size > 0) this.views.set(groupId, { records, live: new Map([...records].map(([id, r]) => [id, r.key])), written: Promise.resolve(), failed: false });
  }

  /** Appends what changed in the group since the last write (nothing when nothing did). */
  write(group: Group): void {
    const view = this.views.get(group.groupId) ?? { records: new Map<string, StoredRecord>(), live: new Map<string, Buffer>(), written: Promise.resolve(), failed: false };
    const changedMembers = group.takeChanged();
    const records = view.failed ? rewriteAll(view, group) : changedRecords(view, group, changedMembers);
    if (records.length === 0 && !view.failed) return;
    for (const record of records) if (record.value !== null) view.live.set(recordId(record.key!), record.key!);
    const appended = this.append(group.groupId, records);
    const tombstoned = records.filter((r) => r.value === null).map((r) => recordId(r.key!));
    appended.then(
      () => {
        for (const id of tombstoned) if (!view.records.has(id)) view.live.delete(id);
      },
      () => undefined,
    );
    view.written = view.failed ? appended : Promise.all([view.written, appended]).then(() => undefined);
    view.failed = false;
    this.views.set(group.groupId, view);
    const written = view.written;
    written.then(
      () => {
        if (view.live.size === 0 && view.written === written && this.views.get(group.groupId) === view) this.views.delete(group.groupId);
      },
      (err: unknown) => {
        if (view.written !== written) return;
        view.failed = true;
        this.logger.warn({ err, groupId: group.groupId }, 'could not store group membership; it is written again before the next answer');
      },
    );
  }

  /**
   * Resolves once everything written for the group so far is durable (at once when nothing is
   * in flight: the hot heartbeat path). After a failed append the group is written again first.
   */
  async durable(group: Group): Promise<void> {
    const view = this.views.get(group.groupId);
    if (view === undefined) return;
    if (view.failed) this.write(group);
    try {
      await view.written;
    } catch (err) {
      throw err instanceof RunnelError && err.retriable ? err : new RunnelError('STORAGE_ERROR', `group "${group.groupId}": its membership could not be stored (${err instanceof Error ? err.message : String(err)}); retry`);
    }
  }
}

/** The records of the group metadata and of the changed members whose bytes differ from the view; the view follows. */
function changedRecords(view: GroupView, group: Group, memberIds: readonly string[]): RecordInput[] {
  const timestampMs = Date.now();
  const out: RecordInput[] = [];
  for (const [id, record] of [...groupMetadataRecord(group), ...memberIds.flatMap((memberId) => memberRecords(group, memberId))]) {
    const previous = view.records.get(id);
    if (record === null) {
      if (previous === undefined) continue;
      out.push({ key: previous.key, value: null, timestampMs });
      view.records.delete(id);
    } else if (previous === undefined || !previous.value.equals(record.value)) {
      out.push({ key: record.key, value: record.value, timestampMs });
      view.records.set(id, record);
    }
  }
  return out;
}

/** After a failure the log may lack any record, or hold any written since: every record again, a tombstone for every other key. */
function rewriteAll(view: GroupView, group: Group): RecordInput[] {
  const now = groupRecords(group);
  const before = new Map([...view.live].map(([id, key]) => [id, { key, value: Buffer.alloc(0) }]));
  view.records = now;
  return recordsChanged(before, now, Date.now());
}
