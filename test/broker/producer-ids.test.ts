/**
 * InitProducerId (issue 11, finding 5). A non-transactional InitProducerId always allocates a
 * fresh id: naming an existing id is refused (KIP-360's "present your epoch" belongs to
 * transactional ids), because any client could otherwise bump a real producer's epoch and fence
 * it. Fresh ids are bounded per connection (KIP-936), since every fresh id can take a slot in a
 * partition's bounded producer table.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadPackageDefinition } from '../../src/common/proto.js';
import { Pos } from '../../src/format/batch-header.js';
import { fixCrc } from '../format/helpers.js';
import { makeBatch } from '../storage/helpers.js';
import { connect, startTestBroker, type Clients } from './helpers.js';

function idempotentBatch(producerId: number, producerEpoch: number, baseSequence: number): Buffer {
  const batch = makeBatch({ records: 1, timestampMs: Date.now() });
  batch.writeBigInt64BE(BigInt(producerId), Pos.producerId);
  batch.writeInt16BE(producerEpoch, Pos.producerEpoch);
  batch.writeInt32BE(baseSequence, Pos.baseSequence);
  return fixCrc(batch);
}

async function produce(c: Clients, records: Buffer): Promise<any> {
  const res = await c.call('broker', 'produce', { correlationId: 0, acks: 'ACKS_ALL', topics: [{ topic: 'ids', partitions: [{ partition: 0, records }] }] });
  return res.topics[0].partitions[0];
}

/** A client on a connection of its own (grpc-js otherwise shares one per target and options). */
function ownConnection(port: number): { initProducerId(request: object): Promise<any>; close(): void } {
  const pkg = grpc.loadPackageDefinition(loadPackageDefinition()) as any;
  const client = new pkg.runnel.v1.Broker(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  return {
    initProducerId: (request) =>
      new Promise((resolve, reject) => client.initProducerId(request, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)))),
    close: () => client.close(),
  };
}

describe('broker: InitProducerId', () => {
  it('naming an existing producer id is refused, and its owner is not fenced', async () => {
    const { running, clients: owner } = await startTestBroker();
    expect((await owner.call('admin', 'createTopics', { topics: [{ name: 'ids', partitions: 1, configs: [] }] })).topics[0].error).toBeNull();
    const mine = await owner.call('broker', 'initProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 });
    expect(mine.error).toBeNull();
    expect((await produce(owner, idempotentBatch(Number(mine.producerId), mine.producerEpoch, 0))).error).toBeNull();

    const intruder = connect(`127.0.0.1:${running.port}`);
    try {
      for (const producerEpoch of [0, mine.producerEpoch, 100, -1]) {
        const err = await intruder.call('broker', 'initProducerId', { transactionalId: '', producerId: mine.producerId, producerEpoch }).then(
          () => null,
          (e: grpc.ServiceError) => e,
        );
        expect(err?.metadata.get('runnel-error-code')).toEqual(['INVALID_ARGUMENT']);
      }
    } finally {
      intruder.close();
    }
    // The owner goes on with its epoch and next sequence.
    expect((await produce(owner, idempotentBatch(Number(mine.producerId), mine.producerEpoch, 1))).error).toBeNull();
  });

  it('fresh ids are bounded per connection (limits.producerIdsPerConnectionPerMinute): LIMIT_EXCEEDED, other connections served', async () => {
    const { running } = await startTestBroker({ set: ['limits.producerIdsPerConnectionPerMinute=5'] });
    const greedy = ownConnection(running.port);
    const other = ownConnection(running.port);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const res = await greedy.initProducerId({ transactionalId: '', producerId: 0, producerEpoch: 0 });
        expect(res.error).toBeNull();
        ids.add(String(res.producerId));
      }
      expect(ids.size).toBe(5);
      const refused = await greedy.initProducerId({ transactionalId: '', producerId: 0, producerEpoch: 0 }).then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
      expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refused?.metadata.get('runnel-error-code')).toEqual(['LIMIT_EXCEEDED']);
      expect((await other.initProducerId({ transactionalId: '', producerId: 0, producerEpoch: 0 })).error).toBeNull();
    } finally {
      greedy.close();
      other.close();
    }
  });
});
