/**
 * The gRPC service of the suite's raw relay (relay-server.ts), with Buffer passthrough
 * serialization: what the relay server and the relay's client jobs (client.ts) share, apart from
 * the server, so a client job loads no broker code.
 */
import * as grpc from '@grpc/grpc-js';

const passthrough = (b: Buffer): Buffer => b;

function method(name: string, requestStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `/runnel.bench.Relay/${name}`, requestStream, responseStream: true, requestSerialize: passthrough, requestDeserialize: passthrough, responseSerialize: passthrough, responseDeserialize: passthrough };
}

/** push: bidirectional, an 8-byte answer per message. tail: server stream of every pushed message. */
export const RELAY_SERVICE = { push: method('Push', true), tail: method('Tail', false) } satisfies grpc.ServiceDefinition;

export interface RelayClient extends grpc.Client {
  push(): grpc.ClientDuplexStream<Buffer, Buffer>;
  tail(request: Buffer): grpc.ClientReadableStream<Buffer>;
}

export const RelayClientConstructor = grpc.makeGenericClientConstructor(RELAY_SERVICE, 'Relay') as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => RelayClient;
