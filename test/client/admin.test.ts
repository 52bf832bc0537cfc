/**
 * The Admin client against a real broker (in this process, port 0): topics, configs, offsets,
 * delete records, cluster, and how each error reaches the caller (batch calls per item, single
 * calls thrown).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin/admin.js';
import { Connection } from '../../src/client/connection.js';
import { RunnelError } from '../../src/common/errors.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker } from '../broker/helpers.js';

const T0 = 1_700_000_000_000;
const connections: Connection[] = [];

afterEach(() => {
  for (const c of connections.splice(0)) c.close();
});

async function setup(): Promise<{ admin: Admin; connection: Connection; port: number }> {
  const { running } = await startTestBroker();
  const connection = new Connection({ brokers: [`127.0.0.1:${running.port}`], requestTimeoutMs: 10_000 });
  connections.push(connection);
  return { admin: new Admin(connection), connection, port: running.port };
}

async function produce(connection: Connection, topic: string, partition: number, batch: Buffer): Promise<void> {
  const res = await connection.unary<any>('broker', 'produce', { correlationId: 1, acks: 'ACKS_ALL', topics: [{ topic, partitions: [{ partition, records: batch }] }] });
  expect(res.topics[0].partitions[0].error).toBeNull();
}

/** The RunnelError a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<RunnelError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunnelError);
  return err as RunnelError;
}

describe('Admin topics', () => {
  it('creates, lists, describes and deletes topics', async () => {
    const { admin } = await setup();
    await admin.createTopic('orders', { partitions: 3, configs: { retentionMs: 60_000, cleanupPolicy: 'delete' } });
    await admin.createTopic('audit');
    expect(await admin.listTopics()).toEqual([
      { name: 'audit', partitions: 1, internal: false },
      { name: 'orders', partitions: 3, internal: false },
    ]);
    const orders = await admin.describeTopic('orders');
    expect(orders.error).toBeNull();
    expect(orders.configs.retentionMs).toBe('60000');
    expect(orders.configs.cleanupPolicy).toBe('delete');
    expect(orders.configs.segmentBytes).toMatch(/^\d+$/);
    expect(orders.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    expect(orders.partitions[0]).toMatchObject({ logStartOffset: 0, highWatermark: 0, logEndOffset: 0, segments: 1, leaderId: 0 });
    expect(orders.createdAtMs).toBeGreaterThan(T0);

    expect(await admin.deleteTopics(['audit', 'nope'])).toEqual([
      { name: 'audit', error: null },
      { name: 'nope', error: expect.objectContaining({ code: 'UNKNOWN_TOPIC', context: { topic: 'nope' } }) },
    ]);
    await admin.deleteTopic('orders');
    expect(await admin.listTopics()).toEqual([]);
    expect((await rejection(admin.deleteTopic('orders'))).code).toBe('UNKNOWN_TOPIC');
  });

  it('answers batch calls per item and throws from single-item calls', async () => {
    const { admin } = await setup();
    const outcomes = await admin.createTopics([{ name: 'a', partitions: 2 }, { name: 'bad name!' }, { name: 'c', configs: { bogus: 1 } }, { name: 'a' }]);
    expect(outcomes.map((o) => [o.name, o.error?.code ?? null])).toEqual([
      ['a', null],
      ['bad name!', 'INVALID_TOPIC_NAME'],
      ['c', 'INVALID_CONFIG'],
      ['a', 'TOPIC_ALREADY_EXISTS'],
    ]);
    expect(outcomes[3].error).toBeInstanceOf(RunnelError);
    expect(outcomes[3].error!.retriable).toBe(false);

    const exists = await rejection(admin.createTopic('a'));
    expect(exists.code).toBe('TOPIC_ALREADY_EXISTS');
    expect(exists.context.topic).toBe('a');
    expect((await rejection(admin.createTopic('x', { configs: { retentionMs: 'soon' } }))).code).toBe('INVALID_CONFIG');

    const described = await admin.describeTopics(['a', 'missing']);
    expect(described[0].error).toBeNull();
    expect(described[1]).toEqual({ name: 'missing', error: expect.objectContaining({ code: 'UNKNOWN_TOPIC' }) });
    expect((await rejection(admin.describeTopic('missing'))).code).toBe('UNKNOWN_TOPIC');
  });

  it('validates only when asked, and checks arguments before sending', async () => {
    const { admin } = await setup();
    await admin.createTopic('dry', { partitions: 2, validateOnly: true });
    expect(await admin.listTopics()).toEqual([]);
    expect((await rejection(admin.createTopic('t', { partitions: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(admin.deleteRecords('t', '1' as any, 0))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(admin.listOffsets([{ topic: 't', partition: 0, spec: 'first' as any }]))).code).toBe('INVALID_ARGUMENT');
    expect(await admin.createTopics([])).toEqual([]);
  });

  it('alters configs and reports bad ones', async () => {
    const { admin } = await setup();
    await admin.createTopic('t', { configs: { retentionMs: 1000 } });
    const configs = await admin.alterConfigs('t', { retentionMs: 7_200_000, durability: 'all' });
    expect(configs).toMatchObject({ retentionMs: '7200000', durability: 'all' });
    expect((await admin.describeTopic('t')).configs).toMatchObject({ retentionMs: '7200000', durability: 'all' });
    const dry = await admin.alterConfigs('t', { retentionMs: 5 }, { validateOnly: true });
    expect(dry.retentionMs).toBe('5');
    expect((await admin.describeTopic('t')).configs.retentionMs).toBe('7200000');
    expect((await rejection(admin.alterConfigs('t', { durability: 'sometimes' }))).code).toBe('INVALID_CONFIG');
    expect((await rejection(admin.alterConfigs('nope', { retentionMs: 1 }))).code).toBe('UNKNOWN_TOPIC');
  });
});

describe('Admin offsets', () => {
  it('lists earliest, latest and by-time offsets, per partition and per topic', async () => {
    const { admin, connection } = await setup();
    await admin.createTopic('t', { partitions: 2 });
    // Partition 0: offsets 0..9 stamped T0, T0+1000, ... T0+9000.
    await produce(connection, 't', 0, makeBatch({ timestamps: Array.from({ length: 10 }, (_, i) => T0 + i * 1000) }));
    const results = await admin.listOffsets([
      { topic: 't', partition: 0, spec: 'earliest' },
      { topic: 't', partition: 0, spec: 'latest' },
      { topic: 't', partition: 0, spec: { timestampMs: T0 + 4500 } },
      { topic: 't', partition: 0, spec: { timestampMs: T0 + 99_000 } },
      { topic: 't', partition: 7, spec: 'latest' },
      { topic: 'nope', partition: 0, spec: 'latest' },
    ]);
    expect(results[0]).toEqual({ topic: 't', partition: 0, error: null, offset: 0, timestampMs: null, logStartOffset: 0, highWatermark: 10, logEndOffset: 10 });
    expect(results[1]).toMatchObject({ offset: 10, timestampMs: null });
    expect(results[2]).toMatchObject({ offset: 5, timestampMs: T0 + 5000 });
    expect(results[3]).toMatchObject({ offset: 10, timestampMs: null });
    expect(results[4].error?.code).toBe('UNKNOWN_PARTITION');
    expect(results[4].error?.context).toMatchObject({ topic: 't', partition: 7 });
    expect(results[5].error?.code).toBe('UNKNOWN_TOPIC');

    expect((await admin.offsets('t')).map((o) => [o.partition, o.offset])).toEqual([
      [0, 10],
      [1, 0],
    ]);
    expect((await admin.offsets('t', { timestampMs: T0 + 2000 })).map((o) => o.offset)).toEqual([2, 0]);
    expect((await rejection(admin.offsets('nope'))).code).toBe('UNKNOWN_TOPIC');
  });

  it('deletes records below an offset and refuses offsets past the end', async () => {
    const { admin, connection } = await setup();
    await admin.createTopic('t');
    await produce(connection, 't', 0, makeBatch({ records: 10 }));
    await produce(connection, 't', 0, makeBatch({ records: 10 }));
    expect(await admin.deleteRecords('t', 0, 10)).toBe(10);
    expect((await admin.describeTopic('t')).partitions[0]).toMatchObject({ logStartOffset: 10, highWatermark: 20 });
    expect((await admin.offsets('t', 'earliest'))[0].offset).toBe(10);
    const past = await rejection(admin.deleteRecords('t', 0, 21));
    expect(past.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(past.context).toMatchObject({ topic: 't', partition: 0 });
    expect((await rejection(admin.deleteRecords('t', 3, 0))).code).toBe('UNKNOWN_PARTITION');
    expect(await admin.deleteRecords('t', 0, 'latest')).toBe(20);
  });
});

describe('Admin cluster and lifecycle', () => {
  it('describes the cluster', async () => {
    const { admin, port } = await setup();
    const cluster = await admin.describeCluster();
    expect(cluster.clusterId).toBeTruthy();
    expect(cluster.brokers).toEqual([{ brokerId: cluster.controllerId, host: '127.0.0.1', port, version: expect.any(String) }]);
  });

  it('closes idempotently; later calls fail with CLIENT_CLOSED', async () => {
    const { admin } = await setup();
    await admin.close();
    await admin.close();
    expect((await rejection(admin.listTopics())).code).toBe('CLIENT_CLOSED');
    expect((await rejection(admin.listOffsets([]))).code).toBe('CLIENT_CLOSED');
  });

  it('reports an unreachable broker as a retriable RunnelError', async () => {
    const connection = new Connection({ brokers: ['127.0.0.1:1'], requestTimeoutMs: 300 });
    connections.push(connection);
    const err = await rejection(new Admin(connection).listTopics());
    expect(['BROKER_UNAVAILABLE', 'REQUEST_TIMED_OUT']).toContain(err.code);
    expect(err.retriable).toBe(true);
  });

  it('refuses unknown options', () => {
    const connection = new Connection({ brokers: ['127.0.0.1:1'] });
    connections.push(connection);
    expect(() => new Admin(connection, { timeout: 5 } as any)).toThrow(/unknown admin option timeout/);
  });
});
