/**
 * Per-connection shares of the broker-wide limits (issue 11, finding 3): one client connection
 * may hold at most limits.maxParkedFetchesPerConnection parked fetches and
 * limits.maxSubscribeStreamsPerConnection subscribe streams, so it cannot take the broker's
 * whole allowance (limits.maxParkedFetches, limits.maxSubscribeStreams) from everyone else.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPackageDefinition } from '../../src/common/proto.js';
import { startTestBroker } from './helpers.js';

const opened: { cancel(): void }[] = [];
const channels: grpc.Client[] = [];
afterEach(() => {
  for (const call of opened.splice(0)) call.cancel();
  for (const client of channels.splice(0)) client.close();
});

/** A Broker client on a connection of its own (grpc-js otherwise shares one per target). */
function ownConnection(port: number): any {
  const pkg = grpc.loadPackageDefinition(loadPackageDefinition()) as any;
  const client = new pkg.runnel.v1.Broker(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  channels.push(client);
  return client;
}

/** A fetch that parks (nothing to read, min_bytes 1); resolves with its error code, or null when answered. */
function park(client: any): Promise<string | null> {
  return new Promise((resolve) => {
    const call = client.fetch(
      { maxWaitMs: 20_000, minBytes: 1, maxBytes: 0, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] },
      { deadline: Date.now() + 30_000 },
      (err: grpc.ServiceError | null) => resolve(err === null ? null : (err.metadata.get('runnel-error-code')[0] as string) ?? grpc.status[err.code]),
    );
    opened.push(call);
  });
}

/** A subscribe stream; resolves with its error code when it fails. */
function subscribe(client: any): { failed: Promise<string> } {
  const call = client.subscribe({ partitions: [{ topic: 't', partition: 0, startOffset: -1 }], maxBytes: 0 });
  opened.push(call);
  return { failed: new Promise((resolve) => call.on('error', (err: grpc.ServiceError) => resolve((err.metadata.get('runnel-error-code')[0] as string) ?? grpc.status[err.code]))) };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('broker: per-connection shares', () => {
  it('parked fetches: the third on one connection gets LIMIT_EXCEEDED, another connection still parks', async () => {
    const { running, clients } = await startTestBroker({ set: ['limits.maxParkedFetchesPerConnection=2'] });
    expect((await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] })).topics[0].error).toBeNull();
    const greedy = ownConnection(running.port);
    const other = ownConnection(running.port);
    void park(greedy);
    void park(greedy);
    await until('two parked fetches', () => running.broker.parkedFetches === 2);
    expect(await park(greedy)).toBe('LIMIT_EXCEEDED');
    void park(other);
    await until('a third parked fetch, from the other connection', () => running.broker.parkedFetches === 3);
  });

  it('subscribe streams: the third on one connection gets LIMIT_EXCEEDED, another connection still subscribes', async () => {
    const { running, clients } = await startTestBroker({ set: ['limits.maxSubscribeStreamsPerConnection=2'] });
    expect((await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] })).topics[0].error).toBeNull();
    const greedy = ownConnection(running.port);
    const other = ownConnection(running.port);
    subscribe(greedy);
    subscribe(greedy);
    await until('two subscribe streams', () => running.broker.openSubscriptions === 2);
    expect(await subscribe(greedy).failed).toBe('LIMIT_EXCEEDED');
    subscribe(other);
    await until('a third stream, from the other connection', () => running.broker.openSubscriptions === 3);
  });
});
