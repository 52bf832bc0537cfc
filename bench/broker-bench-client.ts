/**
 * The broker benchmark's client (a child process of broker-bench.ts, so client and server are
 * two processes). It runs one job, given as JSON in argv[2] (see Job in broker-bench-common.ts),
 * and prints JSON lines on stdout: `{"event":"begin"}` right before its timer starts and
 * `{"event":"end"}` right after it stops (the orchestrator samples the server's CPU time at
 * both), then `{"event":"result", ...}` (or `{"event":"error", ...}`). Everything it sends is built before the timer starts:
 * the batches (encodeRecordBatch), the gRPC channel (connected by the warm-up), the proto
 * definitions. A warm-up of `warmupBytes` runs the same path first, untimed.
 *
 * Jobs: rawUpload (client stream, as fast as flow control allows), rawUploadAck (bidirectional,
 * `window` payloads in flight, an 8-byte answer each), rawUploadAppend (the same, the server
 * appending each payload to a file before it answers), produceStream (ProduceStream, `window`
 * requests in flight), produceUnary (`window` concurrent unary Produce calls), fetch (Fetch
 * loop following nextOffset), subscribe (Subscribe from the log start), rawGet (unary loop of
 * chunkBytes answers), rawDownload (server stream of chunkBytes messages).
 *
 * Usage: node dist/bench/broker-bench-client.js '<job JSON>'
 */
import * as grpc from '@grpc/grpc-js';
import { serviceConstructors } from '../src/client/connection.js';
import {
  RAW_SERVICE,
  buildBatchPool,
  countRecords,
  percentile,
  type Acks,
  type BatchPool,
  type ClientEvent,
  type DownloadJob,
  type Job,
  type JobResult,
  type RawClient,
  type UploadJob,
} from './broker-bench-common.js';

// ---------------------------------------------------------------------------------------------
// The Broker service, as a plain proto-loader client sees it

interface ErrorMessage {
  code: string;
  message: string;
}

interface ProduceRequest {
  correlationId: number;
  acks: Acks;
  topics: { topic: string; partitions: { partition: number; records: Buffer }[] }[];
}

interface ProduceResponse {
  correlationId: number;
  topics: { topic: string; partitions: { partition: number; error: ErrorMessage | null; baseOffset: number; lastOffset: number }[] }[];
}

interface FetchRequest {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  topics: { topic: string; partitions: { partition: number; fetchOffset: number; maxBytes: number }[] }[];
}

interface FetchResponse {
  topics: { topic: string; partitions: { partition: number; error: ErrorMessage | null; records: Buffer; nextOffset: number }[] }[];
}

interface SubscribeRequest {
  partitions: { topic: string; partition: number; startOffset: number }[];
  maxBytes: number;
}

interface SubscribeResponse {
  topic: string;
  partition: number;
  records: Buffer;
  nextOffset: number;
  error: ErrorMessage | null;
}

interface BrokerClient extends grpc.Client {
  produce(request: ProduceRequest, callback: grpc.requestCallback<ProduceResponse>): grpc.ClientUnaryCall;
  produceStream(): grpc.ClientDuplexStream<ProduceRequest, ProduceResponse>;
  fetch(request: FetchRequest, callback: grpc.requestCallback<FetchResponse>): grpc.ClientUnaryCall;
  subscribe(request: SubscribeRequest): grpc.ClientReadableStream<SubscribeResponse>;
}

type ClientConstructor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

/** The SDK's stub (proto-loader, with the SDK's own ProduceRequest encoder): what applications use. */
function brokerClient(job: Job): BrokerClient {
  const Broker = serviceConstructors().broker as unknown as ClientConstructor;
  return new Broker(job.target, grpc.credentials.createInsecure(), job.channelOptions) as BrokerClient;
}

function rawClient(job: Job): RawClient {
  const Raw = grpc.makeGenericClientConstructor(RAW_SERVICE, 'Raw') as unknown as ClientConstructor;
  return new Raw(job.target, grpc.credentials.createInsecure(), job.channelOptions) as RawClient;
}

/** SubscribePartition.start_offset meaning "the log start" (see broker.proto). */
const START_EARLIEST = -2;

// ---------------------------------------------------------------------------------------------
// Output

function emit(event: ClientEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Runs `timed` between a begin event and the result, measuring wall and CPU time. */
async function measure(timed: () => Promise<Omit<JobResult, 'event' | 'durationMs' | 'clientCpuMs'>>): Promise<JobResult> {
  emit({ event: 'begin' });
  const cpu = process.cpuUsage();
  const start = performance.now();
  const figures = await timed();
  const durationMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  emit({ event: 'end' });
  return { event: 'result', ...figures, durationMs, clientCpuMs: (used.user + used.system) / 1000 };
}

function unaryCall<Req, Res>(fn: (request: Req, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(request, (err, response) => (err !== null ? reject(err) : response === undefined ? reject(new Error('empty answer')) : resolve(response)));
  });
}

// ---------------------------------------------------------------------------------------------
// Uploads

/**
 * Keeps `window` requests unanswered on a bidirectional stream (and honours write()'s
 * back-pressure) until `count` are answered; answers come in request order.
 */
function windowedStream<Req, Res>(
  call: grpc.ClientDuplexStream<Req, Res>,
  window: number,
  count: number,
  request: (i: number) => Req,
  check: (response: Res) => void,
  latencies: number[],
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sentAt = new Float64Array(count);
    let sent = 0;
    let answered = 0;
    let waitingForDrain = false;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      call.cancel();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const pump = (): void => {
      while (!failed && !waitingForDrain && sent < count && sent - answered < window) {
        sentAt[sent] = performance.now();
        const more = call.write(request(sent++));
        if (!more) {
          waitingForDrain = true;
          call.once('drain', () => {
            waitingForDrain = false;
            pump();
          });
        }
      }
    };
    call.on('data', (response: Res) => {
      try {
        check(response);
      } catch (err) {
        fail(err);
        return;
      }
      latencies.push(performance.now() - sentAt[answered]!);
      if (++answered === count) call.end();
      else pump();
    });
    call.on('error', fail);
    call.on('end', () => {
      if (answered === count) resolve();
      else fail(new Error(`stream ended after ${answered} of ${count} answers`));
    });
    pump();
  });
}

function messagesFor(bytes: number, pool: BatchPool): number {
  return bytes <= 0 ? 0 : Math.max(1, Math.round(bytes / pool.batchBytes));
}

function latencyFigures(latencies: number[]): { latencyP50Ms?: number; latencyP99Ms?: number } {
  if (latencies.length === 0) return {};
  const sorted = [...latencies].sort((a, b) => a - b);
  return { latencyP50Ms: percentile(sorted, 0.5), latencyP99Ms: percentile(sorted, 0.99) };
}

async function rawUpload(client: RawClient, pool: BatchPool, count: number): Promise<void> {
  let received = -1;
  await new Promise<void>((resolve, reject) => {
    const call = client.upload((err, answer) => {
      if (err !== null) return reject(err);
      received = Number(answer!.readBigUInt64BE(0));
      resolve();
    });
    let i = 0;
    const pump = (): void => {
      while (i < count) {
        if (!call.write(pool.batches[i++ % pool.batches.length]!)) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
  if (received !== count * pool.batchBytes) throw new Error(`raw server received ${received} bytes, ${count * pool.batchBytes} sent`);
}

async function rawUploadAck(call: grpc.ClientDuplexStream<Buffer, Buffer>, pool: BatchPool, count: number, window: number, latencies: number[]): Promise<void> {
  let expected = 0;
  const check = (answer: Buffer): void => {
    if (Number(answer.readBigUInt64BE(0)) !== expected++) throw new Error('raw answers out of order');
  };
  await windowedStream(call, window, count, (i) => pool.batches[i % pool.batches.length]!, check, latencies);
}

/** Produces batches `first`..`first + count - 1` of the pool, one batch per request, partitions round robin. */
class Producer {
  /** Per partition: the last answer's lastOffset. */
  readonly lastOffsets: number[];
  private correlationId = 0;

  constructor(
    private readonly client: BrokerClient,
    private readonly job: UploadJob,
    private readonly pool: BatchPool,
  ) {
    this.lastOffsets = Array.from({ length: job.partitions }, () => -1);
  }

  request(i: number, acks: Acks = this.job.acks): ProduceRequest {
    const partition = i % this.job.partitions;
    return {
      correlationId: ++this.correlationId,
      acks,
      topics: [{ topic: this.job.topic, partitions: [{ partition, records: this.pool.batches[i % this.pool.batches.length]! }] }],
    };
  }

  readonly check = (response: ProduceResponse): void => {
    for (const topic of response.topics) {
      for (const p of topic.partitions) {
        if (p.error) throw new Error(`produce to ${topic.topic}/${p.partition} failed: ${p.error.code}: ${p.error.message}`);
        if (p.lastOffset <= (this.lastOffsets[p.partition] ?? Infinity)) throw new Error(`offsets went backwards on partition ${p.partition}`);
        this.lastOffsets[p.partition] = p.lastOffset;
      }
    }
  };

  stream(first: number, count: number, latencies: number[]): Promise<void> {
    return windowedStream(this.client.produceStream(), this.job.window, count, (i) => this.request(first + i), this.check, latencies);
  }

  async unary(first: number, count: number, latencies: number[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const request = this.request(first + next++);
        const start = performance.now();
        this.check(await unaryCall(this.client.produce.bind(this.client), request));
        latencies.push(performance.now() - start);
      }
    };
    await Promise.all(Array.from({ length: this.job.window }, worker));
  }

  /** One ACKS_ALL request per partition: its fsync covers everything appended before. */
  async flush(first: number): Promise<void> {
    for (let p = 0; p < this.job.partitions; p++) {
      this.check(await unaryCall(this.client.produce.bind(this.client), this.request(first + p, 'ACKS_ALL')));
    }
  }
}

async function runUpload(job: UploadJob, pool: BatchPool): Promise<JobResult> {
  const warmup = messagesFor(job.warmupBytes, pool);
  const count = messagesFor(job.bytes, pool);
  const latencies: number[] = [];
  const timedFigures = { bytes: count * pool.batchBytes, records: count * pool.recordsPerBatch, messages: count };
  if (job.kind === 'rawUpload' || job.kind === 'rawUploadAck' || job.kind === 'rawUploadAppend') {
    const client = rawClient(job);
    try {
      const run = (n: number, lat: number[]): Promise<void> =>
        job.kind === 'rawUpload' ? rawUpload(client, pool, n) : rawUploadAck(job.kind === 'rawUploadAck' ? client.uploadAck() : client.uploadAppend(), pool, n, job.window, lat);
      if (warmup > 0) await run(warmup, []);
      const result = await measure(async () => {
        await run(count, latencies);
        return timedFigures;
      });
      return { ...result, ...latencyFigures(latencies) };
    } finally {
      client.close();
    }
  }
  const client = brokerClient(job);
  try {
    const producer = new Producer(client, job, pool);
    const run = (first: number, n: number, lat: number[]): Promise<void> => (job.kind === 'produceStream' ? producer.stream(first, n, lat) : producer.unary(first, n, lat));
    if (warmup > 0) await run(0, warmup, []);
    const result = await measure(async () => {
      await run(warmup, count, latencies);
      return timedFigures;
    });
    let sent = warmup + count;
    if (job.finalFlush) {
      await producer.flush(sent);
      sent += job.partitions;
    }
    const endOffset = Math.max(...producer.lastOffsets) + 1;
    const expectedRecords = sent * pool.recordsPerBatch;
    if (job.partitions === 1 && endOffset !== expectedRecords) throw new Error(`log end offset ${endOffset}, expected ${expectedRecords}`);
    return { ...result, ...latencyFigures(latencies), endOffset, totalBytesSent: sent * pool.batchBytes };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Downloads

interface Tally {
  bytes: number;
  records: number;
  messages: number;
}

/** Fetch loop from offset 0 until `job.endOffset`, or until `limitBytes` when given (warm-up). */
async function fetchLoop(client: BrokerClient, job: DownloadJob, limitBytes: number): Promise<Tally> {
  const tally: Tally = { bytes: 0, records: 0, messages: 0 };
  let offset = 0;
  while (offset < job.endOffset && tally.bytes < limitBytes) {
    const request: FetchRequest = {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: job.chunkBytes,
      topics: [{ topic: job.topic, partitions: [{ partition: 0, fetchOffset: offset, maxBytes: job.chunkBytes }] }],
    };
    const response = await unaryCall(client.fetch.bind(client), request);
    const p = response.topics[0]?.partitions[0];
    if (p === undefined) throw new Error('fetch answer without the partition');
    if (p.error) throw new Error(`fetch failed: ${p.error.code}: ${p.error.message}`);
    if (p.nextOffset <= offset) throw new Error(`fetch made no progress at offset ${offset}`);
    tally.bytes += p.records.length;
    tally.records += countRecords(p.records);
    tally.messages++;
    offset = p.nextOffset;
  }
  return tally;
}

/** Subscribe from the log start until `job.endOffset` (or `limitBytes`), then cancel. */
function subscribeUntil(client: BrokerClient, job: DownloadJob, limitBytes: number): Promise<Tally> {
  return new Promise((resolve, reject) => {
    const tally: Tally = { bytes: 0, records: 0, messages: 0 };
    let done = false;
    const call = client.subscribe({ partitions: [{ topic: job.topic, partition: 0, startOffset: START_EARLIEST }], maxBytes: job.chunkBytes });
    call.on('data', (m: SubscribeResponse) => {
      if (done) return;
      if (m.error) {
        done = true;
        call.cancel();
        reject(new Error(`subscribe failed: ${m.error.code}: ${m.error.message}`));
        return;
      }
      tally.bytes += m.records.length;
      tally.records += countRecords(m.records);
      tally.messages++;
      if (m.nextOffset >= job.endOffset || tally.bytes >= limitBytes) {
        done = true;
        call.cancel();
        resolve(tally);
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (!done || err.code !== grpc.status.CANCELLED) reject(err);
      done = true;
    });
    call.on('end', () => {
      if (!done) reject(new Error(`subscribe ended at ${tally.bytes} bytes`));
    });
  });
}

async function rawGetLoop(client: RawClient, chunkBytes: number, totalBytes: number): Promise<Tally> {
  const tally: Tally = { bytes: 0, records: 0, messages: 0 };
  while (tally.bytes < totalBytes) {
    const request = Buffer.from(JSON.stringify({ bytes: Math.min(chunkBytes, totalBytes - tally.bytes) }));
    const answer = await unaryCall(client.get.bind(client), request);
    tally.bytes += answer.length;
    tally.messages++;
  }
  return tally;
}

function rawDownload(client: RawClient, chunkBytes: number, totalBytes: number): Promise<Tally> {
  return new Promise((resolve, reject) => {
    const tally: Tally = { bytes: 0, records: 0, messages: 0 };
    const call = client.download(Buffer.from(JSON.stringify({ totalBytes, chunkBytes })));
    call.on('data', (chunk: Buffer) => {
      tally.bytes += chunk.length;
      tally.messages++;
    });
    call.on('error', reject);
    call.on('end', () => (tally.bytes === totalBytes ? resolve(tally) : reject(new Error(`raw download got ${tally.bytes} of ${totalBytes} bytes`))));
  });
}

async function runDownload(job: DownloadJob): Promise<JobResult> {
  const isRaw = job.kind === 'rawGet' || job.kind === 'rawDownload';
  const client = isRaw ? rawClient(job) : brokerClient(job);
  try {
    const run = (limitBytes: number): Promise<Tally> => {
      switch (job.kind) {
        case 'fetch':
          return fetchLoop(client as BrokerClient, job, limitBytes);
        case 'subscribe':
          return subscribeUntil(client as BrokerClient, job, limitBytes);
        case 'rawGet':
          return rawGetLoop(client as RawClient, job.chunkBytes, Math.min(limitBytes, job.bytes));
        case 'rawDownload':
          return rawDownload(client as RawClient, job.chunkBytes, Math.min(limitBytes, job.bytes));
      }
    };
    if (job.warmupBytes > 0) await run(job.warmupBytes);
    const result = await measure(() => run(Infinity));
    if (!isRaw && result.bytes !== job.bytes) throw new Error(`${job.kind} read ${result.bytes} bytes; the log holds ${job.bytes}`);
    return result;
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------

function isDownload(job: Job): job is DownloadJob {
  return job.kind === 'fetch' || job.kind === 'subscribe' || job.kind === 'rawGet' || job.kind === 'rawDownload';
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error("usage: node dist/bench/broker-bench-client.js '<job JSON>'");
  const job = JSON.parse(raw) as Job;
  // The parent went away: nothing left to report to.
  process.stdin.on('end', () => process.exit(2));
  process.stdin.resume();
  const result = isDownload(job) ? await runDownload(job) : await runUpload(job, buildBatchPool());
  emit(result);
}

main().then(
  () => process.stdout.write('', () => process.exit(0)),
  (err: unknown) => {
    emit({ event: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.stdout.write('', () => process.exit(1));
  },
);
