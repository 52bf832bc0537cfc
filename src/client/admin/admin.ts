/**
 * The Admin client: topics (create, delete, list, describe, alter configs, add partitions),
 * offsets (list, delete records), consumer groups (group-admin.ts) and the cluster
 * description, over the Admin, Broker and Groups services.
 *
 * Errors (see types.ts): batch calls return one item per input with `error` null or a
 * RunnelError carrying the topic (and partition); single-item calls throw that RunnelError. A
 * request that fails as a whole (broker unreachable, deadline, limits) always throws.
 *
 * The Connection belongs to the caller (the `Runnel` facade): `close()` only stops this client
 * from sending more requests.
 */
import { RunnelError } from '../../common/errors.js';
import { errorFromMessage, type Connection } from '../connection.js';
import { invalidArgument, requireArray, requireInt, requireOffsetSpec, requireTopic } from './arguments.js';
import {
  deleteGroup,
  describeGroup,
  fetchGroupOffsets,
  listGroups,
  resetGroupOffsets,
  type CommittedGroupOffset,
  type GroupDescription,
  type GroupListing,
  type GroupOffsetReset,
  type GroupOffsetTarget,
} from './group-admin.js';
import { listOffsets } from './list-offsets.js';
import { resolveAdminOptions, type AdminOptions, type ResolvedAdminOptions } from './options.js';
import type {
  ClusterDescription,
  NewTopic,
  OffsetQuery,
  OffsetResult,
  OffsetSpec,
  PartitionOffset,
  TopicConfigs,
  TopicConfigsInput,
  TopicDescription,
  TopicDescriptionResult,
  TopicOutcome,
  TopicSummary,
  ValidateOnlyOption,
} from './types.js';
import type { WireClusterDescription, WireConfigEntry, WireDeleteRecordsResponse, WireTopicDescription, WireTopicResult } from './wire.js';

function toEntries(configs: TopicConfigsInput | undefined, what: string): WireConfigEntry[] {
  if (configs === undefined) return [];
  if (typeof configs !== 'object' || configs === null) throw invalidArgument(`${what} must be an object of name: value`);
  return Object.entries(configs).map(([name, value]) => {
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw invalidArgument(`${what}.${name} must be a string, number or boolean`);
    return { name, value: String(value) };
  });
}

function fromEntries(entries: readonly WireConfigEntry[]): TopicConfigs {
  const configs: TopicConfigs = {};
  for (const { name, value } of entries) configs[name] = value;
  return configs;
}

function outcomes(results: readonly WireTopicResult[]): TopicOutcome[] {
  return results.map((r) => ({ name: r.name, error: errorFromMessage(r.error, { topic: r.name }) }));
}

/** The single item of a batch answer, its error thrown. */
function only<T extends { error: RunnelError | null }>(results: readonly T[], what: string): T & { error: null } {
  const result = results[0];
  if (result === undefined) throw new RunnelError('INTERNAL', `${what}: the broker answered with no result`);
  if (result.error !== null) throw result.error;
  return result as T & { error: null };
}

function describeResult(t: WireTopicDescription): TopicDescriptionResult {
  const error = errorFromMessage(t.error, { topic: t.name });
  if (error !== null) return { name: t.name, error };
  const partitions = t.partitions
    .map((p) => ({ partition: p.partition, ...(p.offsets ?? { logStartOffset: -1, highWatermark: -1, logEndOffset: -1 }), sizeBytes: p.sizeBytes, segments: p.segments, leaderId: p.leaderId, leaderEpoch: p.leaderEpoch }))
    .sort((a, b) => a.partition - b.partition);
  return { name: t.name, error: null, internal: t.internal, createdAtMs: t.createdAtMs, configs: fromEntries(t.configs), partitions };
}

export class Admin {
  readonly options: ResolvedAdminOptions;
  private closed = false;

  constructor(
    private readonly connection: Connection,
    options: AdminOptions = {},
  ) {
    this.options = resolveAdminOptions(options);
  }

  /** Creates topics; one outcome per topic, in order. */
  async createTopics(topics: readonly NewTopic[], options: ValidateOnlyOption = {}): Promise<TopicOutcome[]> {
    requireArray(topics, 'topics');
    const wire = topics.map((t, i) => ({
      name: requireTopic(t.name, `topics[${i}].name`),
      partitions: requireInt(t.partitions ?? 1, `topics[${i}].partitions`, 1),
      configs: toEntries(t.configs, `topics[${i}].configs`),
    }));
    if (wire.length === 0) return [];
    const response = await this.call<{ topics: WireTopicResult[] }>('admin', 'createTopics', { topics: wire, validateOnly: options.validateOnly === true });
    return outcomes(response.topics);
  }

  /** Creates one topic; throws TOPIC_ALREADY_EXISTS, INVALID_CONFIG, INVALID_TOPIC_NAME... */
  async createTopic(name: string, options: Omit<NewTopic, 'name'> & ValidateOnlyOption = {}): Promise<void> {
    const { validateOnly, ...topic } = options;
    only(await this.createTopics([{ name, ...topic }], { validateOnly }), 'createTopic');
  }

  async deleteTopics(names: readonly string[]): Promise<TopicOutcome[]> {
    requireArray(names, 'names').forEach((name, i) => requireTopic(name, `names[${i}]`));
    if (names.length === 0) return [];
    const response = await this.call<{ topics: WireTopicResult[] }>('admin', 'deleteTopics', { names });
    return outcomes(response.topics);
  }

  /** Deletes one topic; throws UNKNOWN_TOPIC when there is none. */
  async deleteTopic(name: string): Promise<void> {
    only(await this.deleteTopics([name]), 'deleteTopic');
  }

  /** Topics sorted by name; internal ones (the names Runnel reserves, e.g. __consumer_offsets) only when asked. */
  async listTopics(options: { includeInternal?: boolean } = {}): Promise<TopicSummary[]> {
    const response = await this.call<{ topics: TopicSummary[] }>('admin', 'listTopics', { includeInternal: options.includeInternal === true });
    return response.topics.map(({ name, partitions, internal }) => ({ name, partitions, internal })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async describeTopics(names: readonly string[]): Promise<TopicDescriptionResult[]> {
    requireArray(names, 'names').forEach((name, i) => requireTopic(name, `names[${i}]`));
    if (names.length === 0) return [];
    const response = await this.call<{ topics: WireTopicDescription[] }>('admin', 'describeTopics', { names });
    return response.topics.map(describeResult);
  }

  /** Describes one topic; throws UNKNOWN_TOPIC when there is none. */
  async describeTopic(name: string): Promise<TopicDescription> {
    return only(await this.describeTopics([name]), 'describeTopic');
  }

  /** Changes some configs of a topic (the others keep their value); returns every effective config. */
  async alterConfigs(name: string, configs: TopicConfigsInput, options: ValidateOnlyOption = {}): Promise<TopicConfigs> {
    const request = { name: requireTopic(name, 'name'), configs: toEntries(configs, 'configs'), validateOnly: options.validateOnly === true };
    const response = await this.call<{ error: WireTopicResult['error']; configs: WireConfigEntry[] }>('admin', 'alterTopicConfigs', request);
    const error = errorFromMessage(response.error, { topic: name });
    if (error !== null) throw error;
    return fromEntries(response.configs);
  }

  /** Offsets of several partitions; one result per query, in order. */
  async listOffsets(queries: readonly OffsetQuery[]): Promise<OffsetResult[]> {
    this.checkOpen();
    return listOffsets(this.connection, requireArray(queries, 'queries'), this.options.requestTimeoutMs);
  }

  /** The offset `spec` names on every partition of a topic, sorted by partition; throws on any error. */
  async offsets(topic: string, spec: OffsetSpec = 'latest'): Promise<PartitionOffset[]> {
    requireOffsetSpec(spec);
    const { partitions } = await this.describeTopic(topic);
    const results = await this.listOffsets(partitions.map(({ partition }) => ({ topic, partition, spec })));
    return results.map((r) => {
      if (r.error !== null) throw r.error;
      return r;
    });
  }

  /**
   * Deletes the records of a partition below `beforeOffset` ('latest' = all of them up to the
   * high watermark) by moving its log start offset; returns the new log start offset.
   */
  async deleteRecords(topic: string, partition: number, beforeOffset: number | 'latest'): Promise<number> {
    const before = beforeOffset === 'latest' ? -1 : requireInt(beforeOffset, 'beforeOffset');
    const request = { partitions: [{ topic: requireTopic(topic), partition: requireInt(partition, 'partition'), beforeOffset: before }] };
    const response = await this.call<WireDeleteRecordsResponse>('admin', 'deleteRecords', request);
    const results = response.partitions.map((p) => ({ logStartOffset: p.logStartOffset, error: errorFromMessage(p.error, { topic: p.topic, partition: p.partition }) }));
    return only(results, 'deleteRecords').logStartOffset;
  }

  /** Grows a topic to `totalPartitions` (never shrinks); groups subscribed to it are reassigned. */
  async createPartitions(name: string, totalPartitions: number, options: ValidateOnlyOption = {}): Promise<void> {
    const request = { topics: [{ name: requireTopic(name), totalPartitions: requireInt(totalPartitions, 'totalPartitions', 1) }], validateOnly: options.validateOnly === true };
    const response = await this.call<{ topics: WireTopicResult[] }>('admin', 'createPartitions', request);
    only(outcomes(response.topics), 'createPartitions');
  }

  listGroups(): Promise<GroupListing[]> {
    return listGroups(this.groupsCall);
  }

  /** State, members and their partitions, committed offset, high watermark and lag per partition. */
  describeGroup(groupId: string): Promise<GroupDescription> {
    return describeGroup(this.groupsCall, groupId);
  }

  /** Deletes a group without members and its committed offsets (GROUP_NOT_EMPTY otherwise). */
  deleteGroup(groupId: string): Promise<void> {
    return deleteGroup(this.groupsCall, groupId);
  }

  fetchGroupOffsets(groupId: string, partitions?: readonly { topic: string; partition: number }[]): Promise<CommittedGroupOffset[]> {
    return fetchGroupOffsets(this.groupsCall, groupId, partitions);
  }

  /** Moves a group's committed offsets for replay; refused (GROUP_NOT_EMPTY) while it has members. */
  resetGroupOffsets(groupId: string, topic: string, target: GroupOffsetTarget, options?: { partitions?: readonly number[]; dryRun?: boolean }): Promise<GroupOffsetReset[]> {
    return resetGroupOffsets(this.groupsCall, groupId, topic, target, options);
  }

  async describeCluster(): Promise<ClusterDescription> {
    const { clusterId, controllerId, brokers } = await this.call<WireClusterDescription>('admin', 'describeCluster', {});
    return { clusterId, controllerId, brokers: brokers.map(({ brokerId, host, port, version }) => ({ brokerId, host, port, version })) };
  }

  /** Idempotent; later calls fail with CLIENT_CLOSED. The connection stays open (it is not ours). */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private checkOpen(): void {
    if (this.closed) throw new RunnelError('CLIENT_CLOSED', 'the admin client is closed');
  }

  private readonly groupsCall = <Res>(method: string, request: unknown): Promise<Res> => this.call<Res>('groups', method, request);

  private call<Res>(service: 'admin' | 'broker' | 'groups', method: string, request: unknown): Promise<Res> {
    this.checkOpen();
    return this.connection.unary<Res>(service, method, request, this.options.requestTimeoutMs);
  }
}
