/**
 * Broker tests talk to a real broker (in this process, on port 0) with a plain grpc-js client
 * loaded from the .proto files: no SDK, no mocks.
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { loadPackageDefinition } from '../../src/common/proto.js';
import { loadBrokerConfig, type BrokerConfig } from '../../src/broker/config.js';
import { startBroker, type RunningBroker } from '../../src/broker/server.js';
import { tempDir } from '../storage/helpers.js';

type Method = (request: unknown, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: unknown) => void) => grpc.ClientUnaryCall;

export interface Clients {
  broker: grpc.Client & Record<string, unknown>;
  admin: grpc.Client & Record<string, unknown>;
  groups: grpc.Client & Record<string, unknown>;
  call<T = any>(client: 'broker' | 'admin' | 'groups', method: string, request: unknown, deadlineMs?: number): Promise<T>;
  close(): void;
}

const running: { broker: RunningBroker; clients: Clients[] }[] = [];

afterEach(async () => {
  for (const entry of running.splice(0)) {
    for (const c of entry.clients) c.close();
    await entry.broker.close();
  }
});

export function testConfig(dataDir: string, set: string[] = []): BrokerConfig {
  return loadBrokerConfig({ flags: { data: dataDir, listen: '127.0.0.1:0', metricsListen: 'off', logLevel: 'silent', set }, env: {} });
}

/** Starts a broker on port 0 in a fresh data directory; stopped after the test. */
export async function startTestBroker(options: { dataDir?: string; set?: string[] } = {}): Promise<{ running: RunningBroker; clients: Clients; dataDir: string }> {
  const dataDir = options.dataDir ?? tempDir('runnel-broker-');
  const broker = await startBroker(testConfig(dataDir, options.set), silentLogger);
  const clients = connect(`127.0.0.1:${broker.port}`);
  running.push({ broker, clients: [clients] });
  return { running: broker, clients, dataDir };
}

/** Stops a broker started by startTestBroker before the test ends (for restarts). */
export async function stopTestBroker(broker: RunningBroker): Promise<void> {
  const index = running.findIndex((r) => r.broker === broker);
  if (index >= 0) {
    const [entry] = running.splice(index, 1);
    for (const c of entry.clients) c.close();
  }
  await broker.close();
}

export function connect(address: string): Clients {
  const pkg = grpc.loadPackageDefinition(loadPackageDefinition()) as any;
  const options = { 'grpc.max_receive_message_length': 128 * 1024 * 1024, 'grpc.max_send_message_length': 128 * 1024 * 1024 };
  const broker = new pkg.runnel.v1.Broker(address, grpc.credentials.createInsecure(), options);
  const admin = new pkg.runnel.v1.Admin(address, grpc.credentials.createInsecure(), options);
  const groups = new pkg.runnel.v1.Groups(address, grpc.credentials.createInsecure(), options);
  return {
    broker,
    admin,
    groups,
    call(client, method, request, deadlineMs = 10_000) {
      const target = client === 'broker' ? broker : client === 'admin' ? admin : groups;
      return new Promise((resolve, reject) => {
        (target[method] as Method).call(target, request, { deadline: Date.now() + deadlineMs }, (err, response) => (err ? reject(err) : resolve(response as any)));
      });
    },
    close() {
      broker.close();
      admin.close();
      groups.close();
    },
  };
}

/** A port free on 127.0.0.1 right now (for a broker that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = (server.address() as net.AddressInfo);
      server.close(() => resolve(port));
    });
  });
}
