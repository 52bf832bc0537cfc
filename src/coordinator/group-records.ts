/**
 * Group membership as records of `__consumer_offsets`, as KIP-848 stores it, so a restarted
 * coordinator knows every member, its epoch and what it owns, and goes on where it stopped
 * (issue 11, finding 17). This file owns the bytes: the encoding of a group's state as records,
 * and their replay at start-up. `membership-log.ts` decides when they are written.
 *
 * Record layout (msgpack arrays). The key's first element is its type, the value's first its
 * version; type 1 is the committed offset of offset-store.ts, and the types below are Kafka's key
 * versions of the same KIP-848 records, so an unknown type or version can be told apart:
 *   3  group metadata       key [3, groupId]            value [1, groupEpoch]
 *   5  member metadata      key [5, groupId, memberId]  value [1, instanceId | null, clientId, subscribedTopics,
 *                                                               sessionTimeoutMs, rebalanceTimeoutMs, assignor]
 *   7  target assignment    key [7, groupId, memberId]  value [1, partitions]
 *   8  current assignment   key [8, groupId, memberId]  value [1, epoch, ackedEpoch, revocationEpoch, owned, announced]
 * where partitions, owned and announced are [[topic, [partition, ...]], ...], topics and
 * partitions ascending. A null value is a tombstone: the member left, or the group has no
 * members any more (then all of its records are tombstoned, group metadata included).
 *
 * Not stored: times. A member's session and rebalance clocks are on the coordinator's monotonic
 * clock, which does not survive the process; a replayed member's session starts at the replay.
 */
import { pack, unpack } from 'msgpackr';
import type { RecordInput } from '../format/record-batch.js';
import { ASSIGNOR_NAMES, type AssignorName } from './assignors/index.js';
import type { Group, MemberSpec } from './group.js';
import { fromTopicPartitionLists, toTopicPartitionLists, type TpKey } from './topic-partition.js';

const VALUE_VERSION = 1;
const GROUP_METADATA = 3;
const MEMBER_METADATA = 5;
const TARGET_ASSIGNMENT = 7;
const CURRENT_ASSIGNMENT = 8;

/** A member's assignment state as stored (record type 8). */
export interface StoredAssignment {
  epoch: number;
  ackedEpoch: number;
  revocationEpoch: number;
  owned: Set<TpKey>;
  announced: Set<TpKey>;
}

/** A member as replayed: whichever of its records were found. */
export interface ReplayedMember {
  spec?: Omit<MemberSpec, 'memberId'>;
  target?: Set<TpKey>;
  assignment?: StoredAssignment;
}

export interface ReplayedGroup {
  groupEpoch: number;
  members: Map<string, ReplayedMember>;
  /** The live records, by key (latin1 of the key bytes): what the log says now. */
  records: Map<string, StoredRecord>;
}

export interface StoredRecord {
  key: Buffer;
  value: Buffer;
}

/** A map key for record keys: latin1 maps each byte to one character, so it is exact and cheap. */
export function recordId(key: Buffer): string {
  return key.toString('latin1');
}

/** Every record describing the group now, by record id; none for a group without members. */
export function groupRecords(group: Group): Map<string, StoredRecord> {
  const out = new Map<string, StoredRecord>();
  for (const [id, record] of [...groupMetadataRecord(group), ...[...group.members.keys()].flatMap((memberId) => memberRecords(group, memberId))]) {
    if (record !== null) out.set(id, record);
  }
  return out;
}

/** The group metadata record (keyed by its id, value null once the group has no members). */
export function groupMetadataRecord(group: Group): [string, StoredRecord | null][] {
  const key = pack([GROUP_METADATA, group.groupId]);
  return [[recordId(key), group.members.size === 0 ? null : { key, value: pack([VALUE_VERSION, group.groupEpoch]) }]];
}

/** A member's three records (keyed by id; values null when it is no member: tombstones). */
export function memberRecords(group: Group, memberId: string): [string, StoredRecord | null][] {
  const keys = [MEMBER_METADATA, TARGET_ASSIGNMENT, CURRENT_ASSIGNMENT].map((type) => pack([type, group.groupId, memberId]));
  const member = group.members.get(memberId);
  if (member === undefined) return keys.map((key) => [recordId(key), null]);
  const { spec } = member;
  const values: unknown[][] = [
    [spec.instanceId, spec.clientId, spec.subscribedTopics, spec.sessionTimeoutMs, spec.rebalanceTimeoutMs, spec.assignor],
    [lists(group.targetOf(memberId))],
    [member.epoch, member.ackedEpoch, member.revocationEpoch, lists(member.owned), lists(member.announced)],
  ];
  return keys.map((key, i) => [recordId(key), { key, value: pack([VALUE_VERSION, ...values[i]!]) }]);
}

/** The records to append to go from `before` to `now`: changed or new ones, tombstones for the gone. */
export function recordsChanged(before: ReadonlyMap<string, StoredRecord>, now: ReadonlyMap<string, StoredRecord>, timestampMs: number): RecordInput[] {
  const out: RecordInput[] = [];
  for (const [id, record] of now) {
    const previous = before.get(id);
    if (previous === undefined || !previous.value.equals(record.value)) out.push({ key: record.key, value: record.value, timestampMs });
  }
  for (const [id, record] of before) if (!now.has(id)) out.push({ key: record.key, value: null, timestampMs });
  return out;
}

function lists(keys: ReadonlySet<TpKey>): [string, number[]][] {
  return toTopicPartitionLists(keys).map(({ topic, partitions }) => [topic, partitions]);
}

/**
 * Collects the membership records met while the offsets topic is replayed (OffsetStore hands
 * over every record whose key is not an offset's). The newest record per key wins, as after
 * compaction. Records of a known type that do not decode are counted and ignored.
 */
export class GroupRecordReplay {
  readonly groups = new Map<string, ReplayedGroup>();
  undecodable = 0;
  /** Partitions of the offsets topic where load() skipped a batch: the membership of their groups is distrusted. */
  readonly damagedPartitions = new Set<number>();

  partitionDamaged(partition: number): void {
    this.damagedPartitions.add(partition);
  }

  /** True when the key is a membership record's (whatever its value), false for anything else. */
  replay(key: Buffer | null, value: Buffer | null): boolean {
    const parsed = key === null ? null : parseKey(key);
    if (parsed === null) return false;
    const { type, groupId, memberId } = parsed;
    let group = this.groups.get(groupId);
    if (group === undefined) this.groups.set(groupId, (group = { groupEpoch: 0, members: new Map(), records: new Map() }));
    const id = recordId(key!);
    if (value === null) {
      group.records.delete(id);
      if (type === GROUP_METADATA) group.groupEpoch = 0;
      else this.setField(group, memberId!, type, undefined);
      return true;
    }
    const decoded = decodeValue(type, value);
    if (decoded === null) {
      this.undecodable++;
      return true;
    }
    group.records.set(id, { key: key!, value });
    if (type === GROUP_METADATA) group.groupEpoch = decoded as number;
    else this.setField(group, memberId!, type, decoded);
    return true;
  }

  private setField(group: ReplayedGroup, memberId: string, type: number, decoded: unknown): void {
    let member = group.members.get(memberId);
    if (member === undefined) group.members.set(memberId, (member = {}));
    if (type === MEMBER_METADATA) member.spec = decoded as ReplayedMember['spec'];
    else if (type === TARGET_ASSIGNMENT) member.target = decoded as Set<TpKey> | undefined;
    else member.assignment = decoded as StoredAssignment | undefined;
    if (member.spec === undefined && member.target === undefined && member.assignment === undefined) group.members.delete(memberId);
  }
}

function parseKey(key: Buffer): { type: number; groupId: string; memberId: string | null } | null {
  const decoded = safeUnpack(key);
  if (!Array.isArray(decoded) || typeof decoded[1] !== 'string') return null;
  const [type, groupId, memberId] = decoded as unknown[];
  if (type === GROUP_METADATA && decoded.length === 2) return { type, groupId: groupId as string, memberId: null };
  if ((type === MEMBER_METADATA || type === TARGET_ASSIGNMENT || type === CURRENT_ASSIGNMENT) && decoded.length === 3 && typeof memberId === 'string') {
    return { type, groupId: groupId as string, memberId };
  }
  return null;
}

function decodeValue(type: number, value: Buffer): unknown {
  const decoded = safeUnpack(value);
  if (!Array.isArray(decoded) || decoded[0] !== VALUE_VERSION) return null;
  const fields = decoded.slice(1) as unknown[];
  if (type === GROUP_METADATA) return fields.length === 1 && isCount(fields[0]) ? fields[0] : null;
  if (type === MEMBER_METADATA) return decodeSpec(fields);
  if (type === TARGET_ASSIGNMENT) return fields.length === 1 ? decodeLists(fields[0]) : null;
  return decodeAssignment(fields);
}

function decodeSpec(fields: unknown[]): Omit<MemberSpec, 'memberId'> | null {
  if (fields.length !== 6) return null;
  const [instanceId, clientId, subscribedTopics, sessionTimeoutMs, rebalanceTimeoutMs, assignor] = fields;
  if (instanceId !== null && typeof instanceId !== 'string') return null;
  if (typeof clientId !== 'string' || !Array.isArray(subscribedTopics) || !subscribedTopics.every((t) => typeof t === 'string')) return null;
  if (!isCount(sessionTimeoutMs) || !isCount(rebalanceTimeoutMs) || !(ASSIGNOR_NAMES as readonly unknown[]).includes(assignor)) return null;
  return { instanceId, clientId, subscribedTopics: [...subscribedTopics].sort(), sessionTimeoutMs, rebalanceTimeoutMs, assignor: assignor as AssignorName };
}

function decodeAssignment(fields: unknown[]): StoredAssignment | null {
  if (fields.length !== 5) return null;
  const [epoch, ackedEpoch, revocationEpoch, ownedLists, announcedLists] = fields;
  const owned = decodeLists(ownedLists);
  const announced = decodeLists(announcedLists);
  if (!isCount(epoch) || !isCount(ackedEpoch) || !isCount(revocationEpoch) || epoch < 1 || owned === null || announced === null) return null;
  return { epoch, ackedEpoch: Math.min(ackedEpoch, epoch), revocationEpoch: Math.min(revocationEpoch, epoch), owned, announced };
}

function decodeLists(value: unknown): Set<TpKey> | null {
  if (!Array.isArray(value)) return null;
  const lists: { topic: string; partitions: number[] }[] = [];
  for (const entry of value as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) return null;
    const [topic, partitions] = entry as unknown[];
    if (typeof topic !== 'string' || !Array.isArray(partitions) || !partitions.every(isCount)) return null;
    lists.push({ topic, partitions: partitions });
  }
  return fromTopicPartitionLists(lists);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function safeUnpack(bytes: Buffer): unknown {
  try {
    return unpack(bytes);
  } catch {
    return undefined;
  }
}
