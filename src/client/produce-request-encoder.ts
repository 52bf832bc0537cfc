/**
 * The SDK's encoder of `ProduceRequest` (proto/runnel/v1/broker.proto), used by grpc-js as the
 * request serializer of Produce and ProduceStream in place of protobufjs's. The message is
 * almost all record bytes, so what matters is to size it once, allocate once and copy each
 * batch once: protobufjs builds a list of write operations per field, and its
 * fork()/ldelim() pass re-walks them, which the profile of the produce benchmark showed as a
 * large share of the client's CPU (with the garbage it leaves) for 64 KiB requests.
 *
 * Wire layout (protobuf, field numbers from broker.proto; proto3 zero values are left out, as
 * protobufjs does; decoders treat a missing field as zero):
 *
 *   ProduceRequest        1: correlation_id varint   2: acks varint   3: TopicProduceData, repeated
 *   TopicProduceData      1: topic string            2: PartitionProduceData, repeated
 *   PartitionProduceData  1: partition varint        2: records bytes
 *
 * Decoded by the broker with proto-loader, like any other client's request: the contract is
 * the .proto file, and test/client/produce-request-encoder.test.ts checks the two agree.
 */
import { assert } from '../common/assert.js';
import { RunnelError } from '../common/errors.js';

export interface ProduceRequestMessage {
  correlationId: number;
  acks: 'ACKS_UNSPECIFIED' | 'ACKS_NONE' | 'ACKS_LEADER' | 'ACKS_ALL';
  topics: { topic: string; partitions: { partition: number; records: Buffer }[] }[];
}

const ACKS_NUMBERS: Readonly<Record<ProduceRequestMessage['acks'], number>> = {
  ACKS_UNSPECIFIED: 0,
  ACKS_NONE: 1,
  ACKS_LEADER: 2,
  ACKS_ALL: 3,
};

/** Wire type 0 (varint) and 2 (length-delimited) tags: (field << 3) | type. */
const TAG = {
  correlationId: 0x08,
  acks: 0x10,
  topics: 0x1a,
  topicName: 0x0a,
  partitions: 0x12,
  partition: 0x08,
  records: 0x12,
} as const;

/** Bytes of an unsigned varint; `value` is a safe non-negative integer. */
function sizeOfUvarint(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeUvarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/** Tag + length prefix + `bytes` bytes. */
const delimitedSize = (bytes: number): number => 1 + sizeOfUvarint(bytes) + bytes;

function checkUint(value: number, what: string, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new RunnelError('INVALID_ARGUMENT', `${what} must be an integer from 0 to ${max}, got ${String(value)}`);
}

function partitionSize(partition: number, records: Buffer): number {
  return (partition === 0 ? 0 : 1 + sizeOfUvarint(partition)) + (records.length === 0 ? 0 : delimitedSize(records.length));
}

export function encodeProduceRequest(request: ProduceRequestMessage): Buffer {
  const acks = ACKS_NUMBERS[request.acks];
  if (acks === undefined) throw new RunnelError('INVALID_ARGUMENT', `unknown acks ${String(request.acks)}`);
  checkUint(request.correlationId, 'correlationId', Number.MAX_SAFE_INTEGER);
  // First pass: every nested length, in visiting order, so the second pass only writes.
  const lengths: number[] = [];
  let total = (request.correlationId === 0 ? 0 : 1 + sizeOfUvarint(request.correlationId)) + (acks === 0 ? 0 : 2);
  for (const { topic, partitions } of request.topics) {
    const slot = lengths.push(0) - 1;
    let topicBytes = topic.length === 0 ? 0 : delimitedSize(Buffer.byteLength(topic));
    for (const { partition, records } of partitions) {
      checkUint(partition, 'partition', 0xffffffff);
      const bytes = partitionSize(partition, records);
      lengths.push(bytes);
      topicBytes += delimitedSize(bytes);
    }
    lengths[slot] = topicBytes;
    total += delimitedSize(topicBytes);
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  if (request.correlationId !== 0) {
    out[pos++] = TAG.correlationId;
    pos = writeUvarint(out, pos, request.correlationId);
  }
  if (acks !== 0) {
    out[pos++] = TAG.acks;
    pos = writeUvarint(out, pos, acks);
  }
  let next = 0;
  for (const { topic, partitions } of request.topics) {
    out[pos++] = TAG.topics;
    pos = writeUvarint(out, pos, lengths[next++]!);
    if (topic.length > 0) {
      out[pos++] = TAG.topicName;
      const nameBytes = Buffer.byteLength(topic);
      pos = writeUvarint(out, pos, nameBytes);
      pos += out.write(topic, pos, nameBytes, 'utf8');
    }
    for (const { partition, records } of partitions) {
      out[pos++] = TAG.partitions;
      pos = writeUvarint(out, pos, lengths[next++]!);
      if (partition !== 0) {
        out[pos++] = TAG.partition;
        pos = writeUvarint(out, pos, partition);
      }
      if (records.length > 0) {
        out[pos++] = TAG.records;
        pos = writeUvarint(out, pos, records.length);
        pos += records.copy(out, pos);
      }
    }
  }
  assert(pos === total, 'the ProduceRequest encoder writes exactly the bytes it sized');
  return out;
}
