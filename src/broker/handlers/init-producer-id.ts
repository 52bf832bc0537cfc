/** InitProducerId: a new producer id, or the next epoch of an existing one (fencing older instances). */
import type * as grpc from '@grpc/grpc-js';
import { RunnelError } from '../../common/errors.js';
import type { Broker } from '../broker.js';
import { unary } from './rpc.js';

interface InitProducerIdRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

const EPOCH_MAX = 32_767;

export function initProducerIdHandler(broker: Broker): grpc.handleUnaryCall<InitProducerIdRequest, unknown> {
  return unary(broker, 'InitProducerId', (request: InitProducerIdRequest) => {
    if (request.transactionalId !== '') throw new RunnelError('INVALID_ARGUMENT', 'transactions are not supported yet');
    const { producerId, producerEpoch } = request;
    // proto3 cannot tell an unset producer_id from 0, so ids start at 1 and 0 or -1 mean "new".
    if (producerId <= 0) return fresh(broker);
    if (!broker.producerIds.isKnown(producerId)) throw new RunnelError('UNKNOWN_PRODUCER_ID', `producer id ${producerId} was never allocated`);
    // The next epoch after both the caller's and the latest handed out, so two instances
    // re-initialising the same id fence each other.
    const next = Math.max(producerEpoch, broker.producerIds.currentEpoch(producerId)) + 1;
    // Epoch exhausted: a fresh id, as Kafka does.
    if (producerEpoch < 0 || next > EPOCH_MAX) return fresh(broker);
    return { error: null, producerId, producerEpoch: broker.producerIds.noteEpoch(producerId, next) };
  });
}

function fresh(broker: Broker): { error: null; producerId: number; producerEpoch: number } {
  const producerId = broker.producerIds.allocate();
  return { error: null, producerId, producerEpoch: broker.producerIds.noteEpoch(producerId, 0) };
}
