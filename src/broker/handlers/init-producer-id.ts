/**
 * InitProducerId: a fresh producer id (epoch 0) for an idempotent producer.
 *
 * Naming an existing id is refused. KIP-360's "present the current epoch and get the next one"
 * belongs to transactional ids, whose owner a transaction coordinator knows; for an idempotent
 * producer it let any client bump a real producer's epoch and have its owner PRODUCER_FENCED.
 * Idempotent producers bump epochs locally (and the SDK always asks for a fresh id), so nothing
 * legitimate needs it. Fresh ids are bounded per connection (`limits.
 * producerIdsPerConnectionPerMinute`, Kafka's KIP-936), since each can take a slot in a
 * partition's bounded producer table.
 */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import type { Broker } from '../broker.js';
import { ConnectionRate } from '../connection-rate.js';
import { unary } from './rpc.js';

interface InitProducerIdRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

const MINUTE_MS = 60_000;

export function initProducerIdHandler(broker: Broker): grpc.handleUnaryCall<InitProducerIdRequest, unknown> {
  const perConnection = new ConnectionRate(broker.config.limits.producerIdsPerConnectionPerMinute, MINUTE_MS);
  return unary(broker, 'InitProducerId', (request: InitProducerIdRequest, call) => {
    if (request.transactionalId !== '') throw new RunnelError('INVALID_ARGUMENT', 'transactions are not supported yet');
    // proto3 cannot tell an unset producer_id from 0, so ids start at 1 and 0 or -1 mean "new".
    if (request.producerId > 0) {
      throw new RunnelError('INVALID_ARGUMENT', `producer_id ${request.producerId}: an idempotent producer gets a fresh id (send 0); naming an id is reserved for transactional ids`);
    }
    if (!perConnection.tryTake(call.getPeer())) {
      throw new RunnelError('LIMIT_EXCEEDED', `more than ${broker.config.limits.producerIdsPerConnectionPerMinute} producer ids asked for on one connection in a minute (limits.producerIdsPerConnectionPerMinute)`);
    }
    return { error: null, producerId: broker.producerIds.allocate(), producerEpoch: 0 };
  });
}
