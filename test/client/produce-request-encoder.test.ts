/**
 * The SDK's ProduceRequest encoder against the contract: whatever it writes, proto-loader (the
 * broker's decoder) reads back as the same request; and it refuses what protobuf cannot carry.
 */
import fc from 'fast-check';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { encodeProduceRequest, type ProduceRequestMessage } from '../../src/client/produce-request-encoder.js';
import { loadPackageDefinition } from '../../src/common/proto.js';

const method = (loadPackageDefinition()['runnel.v1.Broker'] as grpc.ServiceDefinition).ProduceStream;
const decode = (bytes: Buffer): ProduceRequestMessage => method.requestDeserialize(bytes) as ProduceRequestMessage;

const request = fc.record({
  correlationId: fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat()),
  acks: fc.constantFrom<ProduceRequestMessage['acks'][]>('ACKS_UNSPECIFIED', 'ACKS_NONE', 'ACKS_LEADER', 'ACKS_ALL'),
  topics: fc.array(
    fc.record({
      topic: fc.string({ unit: 'binary', maxLength: 300 }),
      partitions: fc.array(
        fc.record({
          partition: fc.oneof(fc.constantFrom(0, 127, 128, 0xffffffff), fc.nat()),
          records: fc.uint8Array({ maxLength: 20_000 }).map((bytes) => Buffer.from(bytes)),
        }),
        { maxLength: 5 },
      ),
    }),
    { maxLength: 4 },
  ),
});

describe('encodeProduceRequest', () => {
  it('writes what proto-loader decodes back to the same request', () => {
    fc.assert(
      fc.property(request, (req) => {
        expect(decode(encodeProduceRequest(req))).toEqual(req);
      }),
      { numRuns: 300 },
    );
  });

  it('is as long as protobufjs encodes it with zero values left out', () => {
    const req: ProduceRequestMessage = { correlationId: 300, acks: 'ACKS_LEADER', topics: [{ topic: 'orders', partitions: [{ partition: 2, records: Buffer.alloc(65_447, 1) }] }] };
    const bytes = encodeProduceRequest(req);
    expect(bytes).toEqual(method.requestSerialize(req));
    // correlation id (1 + 2) + acks (2) + topic (1 + 3 + 1 + 1 + 6 + partition (1 + 3 + 2 + 1 + 3 + 65,447)).
    expect(bytes.length).toBe(3 + 2 + 1 + 3 + 8 + 1 + 3 + 2 + 4 + 65_447);
  });

  it('refuses values protobuf cannot carry, with INVALID_ARGUMENT', () => {
    const base: ProduceRequestMessage = { correlationId: 1, acks: 'ACKS_ALL', topics: [{ topic: 't', partitions: [{ partition: 0, records: Buffer.alloc(1) }] }] };
    const bad: ProduceRequestMessage[] = [
      { ...base, correlationId: -1 },
      { ...base, correlationId: 1.5 },
      { ...base, correlationId: 2 ** 53 },
      { ...base, acks: 'ACKS_SOME' as ProduceRequestMessage['acks'] },
      { ...base, topics: [{ topic: 't', partitions: [{ partition: -1, records: Buffer.alloc(1) }] }] },
      { ...base, topics: [{ topic: 't', partitions: [{ partition: 2 ** 32, records: Buffer.alloc(1) }] }] },
    ];
    for (const req of bad) expect(() => encodeProduceRequest(req)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
