/**
 * The Admin service: each RPC decodes, validates, calls topics.ts / the registry, and encodes.
 * Multi-topic requests answer per topic.
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import type { Broker } from '../broker.js';
import { alterTopicConfigs, createPartitions, createTopic, deleteRecords, deleteTopic, describeTopic } from '../topics.js';
import { describeTopicSettings } from '../topic-config.js';
import { asRunnelError, errorMessage, unary } from './rpc.js';

interface ConfigEntry {
  name: string;
  value: string;
}

function configsOf(entries: ConfigEntry[]): Record<string, string> {
  const configs: Record<string, string> = {};
  for (const { name, value } of entries) {
    if (name in configs) throw new RunnelError('INVALID_CONFIG', `config ${name} is given twice`, { key: name });
    configs[name] = value;
  }
  return configs;
}

function entriesOf(configs: Record<string, string>): ConfigEntry[] {
  return Object.entries(configs).map(([name, value]) => ({ name, value }));
}

function checkCount(broker: Broker, count: number): void {
  const max = broker.config.limits.maxPartitionsPerRequest;
  if (count > max) throw new RunnelError('LIMIT_EXCEEDED', `${count} items in one request; at most ${max}`);
}

/** Runs `each` per item, turning its RunnelError into that item's `error`. */
async function perItem<T>(broker: Broker, rpc: string, items: T[], each: (item: T) => Promise<object> | object, name: (item: T) => object): Promise<object[]> {
  checkCount(broker, items.length);
  const results: object[] = [];
  for (const item of items) {
    try {
      results.push({ ...name(item), error: null, ...(await each(item)) });
    } catch (err) {
      results.push({ ...name(item), error: errorMessage(asRunnelError(broker, err, rpc)) });
    }
  }
  return results;
}

export function adminHandlers(broker: Broker): grpc.UntypedServiceImplementation {
  type CreateReq = { topics: { name: string; partitions: number; configs: ConfigEntry[] }[]; validateOnly: boolean };
  type Names = { names: string[] };
  type AlterReq = { name: string; configs: ConfigEntry[]; validateOnly: boolean };
  type DeleteRecordsReq = { partitions: { topic: string; partition: number; beforeOffset: number }[] };
  return {
    createTopics: unary(broker, 'CreateTopics', async (req: CreateReq) => ({
      topics: await perItem(broker, 'CreateTopics', req.topics, async (t) => (await createTopic(broker, t.name, t.partitions, configsOf(t.configs), req.validateOnly), {}), (t) => ({ name: t.name })),
    })),
    deleteTopics: unary(broker, 'DeleteTopics', async (req: Names) => ({
      topics: await perItem(broker, 'DeleteTopics', req.names, async (name) => (await deleteTopic(broker, name), {}), (name) => ({ name })),
    })),
    listTopics: unary(broker, 'ListTopics', (req: { includeInternal: boolean }) => ({
      topics: broker.topics
        .list()
        .filter((t) => req.includeInternal || !t.internal)
        .map((t) => ({ name: t.name, partitions: t.partitions, internal: t.internal })),
    })),
    describeTopics: unary(broker, 'DescribeTopics', async (req: Names) => ({
      topics: await perItem(broker, 'DescribeTopics', req.names, (name) => describe(broker, name), (name) => ({ name })),
    })),
    alterTopicConfigs: unary(broker, 'AlterTopicConfigs', (req: AlterReq) => {
      const topic = alterTopicConfigs(broker, req.name, configsOf(req.configs), req.validateOnly);
      return { error: null, configs: entriesOf(describeTopicSettings(topic.settings)) };
    }),
    deleteRecords: unary(broker, 'DeleteRecords', async (req: DeleteRecordsReq) => ({
      partitions: await perItem(
        broker,
        'DeleteRecords',
        req.partitions,
        (p) => ({ logStartOffset: deleteRecords(broker, p.topic, p.partition, p.beforeOffset) }),
        (p) => ({ topic: p.topic, partition: p.partition }),
      ),
    })),
    createPartitions: unary(broker, 'CreatePartitions', async (req: { topics: { name: string; totalPartitions: number }[]; validateOnly: boolean }) => ({
      topics: await perItem(broker, 'CreatePartitions', req.topics, async (t) => (await createPartitions(broker, t.name, t.totalPartitions, req.validateOnly), {}), (t) => ({ name: t.name })),
    })),
    describeCluster: unary(broker, 'DescribeCluster', () => ({
      clusterId: 'runnel-single',
      controllerId: broker.config.brokerId,
      brokers: [{ brokerId: broker.config.brokerId, host: broker.config.listen.host, port: broker.boundPort, version: '0.1.0' }],
    })),
  };
}

function describe(broker: Broker, name: string): object {
  const { topic, configs, partitions } = describeTopic(broker, name);
  return {
    internal: topic.internal,
    createdAtMs: topic.createdAtMs,
    configs: entriesOf(configs),
    partitions: partitions.map((p) => ({
      partition: p.partition,
      offsets: { logStartOffset: p.logStartOffset, highWatermark: p.highWatermark, durableHighWatermark: p.durableHighWatermark, logEndOffset: p.logEndOffset },
      sizeBytes: p.sizeBytes,
      segments: p.segments,
      leaderId: broker.config.brokerId,
      leaderEpoch: 0,
    })),
  };
}
