/**
 * Prometheus metrics (prom-client), served over HTTP at /metrics on `metricsListen`. One
 * registry per broker, so brokers in one process (tests) do not share counters. Per-partition
 * gauges are computed when scraped, not on the hot path.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HostPort } from './config.js';
import { BACKGROUND_TASKS, type LogManager } from '../storage/log-manager.js';

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly bytesIn = new Counter({ name: 'runnel_bytes_in_total', help: 'Record batch bytes appended', labelNames: ['topic'], registers: [this.registry] });
  readonly recordsIn = new Counter({ name: 'runnel_records_in_total', help: 'Records appended', labelNames: ['topic'], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'runnel_bytes_out_total', help: 'Record batch bytes sent to fetches and subscribers', labelNames: ['topic'], registers: [this.registry] });
  readonly batchesOut = new Counter({ name: 'runnel_batches_out_total', help: 'Record batches sent to fetches and subscribers', labelNames: ['topic'], registers: [this.registry] });
  readonly requests = new Counter({ name: 'runnel_requests_total', help: 'Requests by RPC and error code', labelNames: ['rpc', 'code'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'runnel_request_duration_seconds',
    help: 'Request latency by RPC and error code',
    labelNames: ['rpc', 'code'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly subscribeStreams = new Gauge({ name: 'runnel_subscribe_streams', help: 'Open Subscribe streams', registers: [this.registry] });
  readonly parkedFetches = new Gauge({ name: 'runnel_parked_fetches', help: 'Fetches waiting for data (long poll)', registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'runnel_idempotent_duplicates_total', help: 'Retried batches answered from producer state', registers: [this.registry] });
  readonly refusedConnections = new Counter({ name: 'runnel_connections_refused_total', help: 'Connections refused by limits.maxConnections or maxConnectionsPerAddress', registers: [this.registry] });

  /** Gauges of what the HTTP/2 admission holds, read when scraped. */
  watchAdmission(admission: { connectionCount: number }, budget: { inFlightBytes: number; waitingCount: number }): void {
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect(this: Gauge) {
          this.set(value());
        },
      });
    };
    gauge('runnel_connections', 'Open client connections', () => admission.connectionCount);
    gauge('runnel_request_bytes_in_flight', 'Request bytes reserved by messages being received (limits.maxRequestBytesInFlight)', () => budget.inFlightBytes);
    gauge('runnel_request_streams_waiting', 'Streams not read while they wait for request bytes', () => budget.waitingCount);
  }

  constructor(logs: () => LogManager | undefined) {
    collectDefaultMetrics({ register: this.registry, prefix: 'runnel_' });
    const perPartition = (name: string, help: string, value: (log: ReturnType<LogManager['allLogs']>[number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'],
        registers: [this.registry],
        collect(this: Gauge) {
          this.reset();
          for (const log of logs()?.allLogs() ?? []) this.set({ topic: log.topic, partition: String(log.partition) }, value(log));
        },
      });
    };
    perPartition('runnel_partition_log_end_offset', 'Log end offset', (log) => log.logEndOffset);
    perPartition('runnel_partition_log_start_offset', 'Log start offset', (log) => log.logStartOffset);
    perPartition('runnel_partition_size_bytes', 'Bytes of all segments', (log) => log.sizeBytes);
    perPartition('runnel_partition_failed', '1 when the log refuses appends after a write, fsync or roll error (until the broker restarts and recovers it)', (log) => (log.failed === null ? 0 : 1));
    new Gauge({
      name: 'runnel_background_task_failures',
      help: 'Failed rounds of each background storage task since start (each is logged at error)',
      labelNames: ['task'],
      registers: [this.registry],
      collect(this: Gauge) {
        this.reset();
        for (const task of BACKGROUND_TASKS) {
          const state = logs()?.backgroundState(task);
          if (state !== undefined) this.set({ task }, state.failures);
        }
      },
    });
    const scrubCounter = (name: string, help: string, value: (stats: LogManager['scrubStats']) => number): void => {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect(this: Counter) {
          this.reset();
          this.inc(value(logs()?.scrubStats ?? { bytesScrubbed: 0, damagedSegments: 0 }));
        },
      });
    };
    scrubCounter('runnel_scrub_bytes_total', 'Bytes of sealed segments re-checked by the background scrub', (stats) => stats.bytesScrubbed);
    scrubCounter('runnel_scrub_damaged_segments_total', 'Damaged segments the scrub found (each takes its partition offline)', (stats) => stats.damagedSegments);
    new Gauge({
      name: 'runnel_log_fsync_rounds',
      help: 'Group-commit fsync rounds since start, all partitions',
      registers: [this.registry],
      collect(this: Gauge) {
        this.set((logs()?.allLogs() ?? []).reduce((sum, log) => sum + log.fsyncCount, 0));
      },
    });
  }

  /** Serves /metrics; resolves with the bound address (port 0 picks a free port). */
  serve(listen: HostPort): Promise<{ server: http.Server; port: number }> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve({ server, port: (server.address() as AddressInfo).port }));
    });
  }
}
