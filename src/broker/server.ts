/**
 * The broker process's gRPC server: the Broker, Admin and Groups services, gRPC health
 * (grpc.health.v1) and server reflection, plus the Prometheus endpoint.
 *
 * Shutdown (`close`): health turns NOT_SERVING, new requests get BROKER_SHUTTING_DOWN, parked
 * fetches answer and subscribe streams end; in-flight requests finish (up to
 * `shutdownTimeoutMs`, then calls are cancelled); then the broker flushes, snapshots producer
 * state and closes its logs cleanly (checkpoints, clean-shutdown marker).
 */
import type http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { createLogger, type Logger } from '../common/logger.js';
import { loadPackageDefinition } from '../common/proto.js';
import { Broker } from './broker.js';
import type { BrokerConfig } from './config.js';
import { adminHandlers } from './handlers/admin.js';
import { fetchHandler } from './handlers/fetch.js';
import { groupsHandlers } from './handlers/groups.js';
import { initProducerIdHandler } from './handlers/init-producer-id.js';
import { listOffsetsHandler } from './handlers/list-offsets.js';
import { produceHandler, produceStreamHandler } from './handlers/produce.js';
import { subscribeHandler } from './handlers/subscribe.js';
import { Http2Admission } from './http2-admission.js';
import { onHttp2Sessions, widenReceiveWindows } from './http2-window.js';
import { RequestBudget } from './request-budget.js';

/** Room for the gRPC frame and the response fields around the records of a fetch. */
const RESPONSE_OVERHEAD_BYTES = 1024 * 1024;

export interface RunningBroker {
  broker: Broker;
  host: string;
  port: number;
  metricsPort: number | null;
  close(): Promise<void>;
}

interface ServiceClient {
  service: grpc.ServiceDefinition;
}

export async function startBroker(config: BrokerConfig, logger: Logger = createLogger(config.logLevel)): Promise<RunningBroker> {
  const broker = await Broker.open(config, logger);
  const packageDefinition = loadPackageDefinition();
  const runnel = (grpc.loadPackageDefinition(packageDefinition) as unknown as { runnel: { v1: Record<string, ServiceClient> } }).runnel.v1;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.limits.maxRequestBytes,
    'grpc.max_concurrent_streams': config.limits.maxStreamsPerConnection,
    'grpc.max_send_message_length': Math.max(config.limits.fetchMaxBytes, config.limits.subscribeMaxBytes) + RESPONSE_OVERHEAD_BYTES,
  });
  widenReceiveWindows(server, config.limits.http2WindowBytes, logger);
  const { maxConnections, maxConnectionsPerAddress, maxRequestBytes, maxRequestBytesInFlight } = config.limits;
  const budget = new RequestBudget(maxRequestBytesInFlight);
  const admission = new Http2Admission({ maxConnections, maxConnectionsPerAddress, maxRequestBytes }, budget, { refusedConnections: () => broker.metrics.refusedConnections.inc() }, logger);
  broker.metrics.watchAdmission(admission, budget);
  if (!onHttp2Sessions(server, (session) => admission.admit(session))) {
    logger.warn('this grpc-js has no createHttp2Server hook: connections and request bytes in flight are not bounded');
  }
  server.addService(runnel.Broker!.service, {
    Produce: produceHandler(broker),
    ProduceStream: produceStreamHandler(broker),
    Fetch: fetchHandler(broker),
    Subscribe: subscribeHandler(broker),
    ListOffsets: listOffsetsHandler(broker),
    InitProducerId: initProducerIdHandler(broker),
  });
  server.addService(runnel.Admin!.service, adminHandlers(broker));
  server.addService(runnel.Groups!.service, groupsHandlers(broker));
  const health = new HealthImplementation({ '': 'SERVING', 'runnel.v1.Broker': 'SERVING', 'runnel.v1.Admin': 'SERVING', 'runnel.v1.Groups': 'SERVING' });
  health.addToServer(server);
  new ReflectionService(packageDefinition).addToServer(server);
  let port: number;
  try {
    port = await bind(server, config.listen.host, config.listen.port);
  } catch (err) {
    await broker.close();
    throw err;
  }
  broker.boundPort = port;
  let metricsServer: http.Server | null = null;
  let metricsPort: number | null = null;
  if (config.metricsListen !== null) ({ server: metricsServer, port: metricsPort } = await broker.metrics.serve(config.metricsListen));
  logger.info({ host: config.listen.host, port, metricsPort, dataDir: config.dataDir }, 'broker started');
  const close = once(async () => {
    health.setStatus('', 'NOT_SERVING');
    broker.beginShutdown();
    await shutdownServer(server, config.shutdownTimeoutMs);
    metricsServer?.close();
    await broker.close();
    logger.info('broker stopped');
  });
  return { broker, host: config.listen.host, port, metricsPort, close };
}

function bind(server: grpc.Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
  });
}

/** Lets in-flight calls finish, up to `timeoutMs`; then cancels what is left. */
function shutdownServer(server: grpc.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
