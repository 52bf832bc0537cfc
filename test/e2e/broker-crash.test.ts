/**
 * Acknowledged produce survives broker crashes: a real broker process (the CLI on dist/, data in
 * a temp directory) is SIGKILLed, by its PID, while two pipelined ProduceStreams with
 * `acks: ACKS_ALL` run against it, after a seeded random number of acknowledgements; it is
 * restarted on the same data directory (on a new port, read from its `listening on` line) and
 * checked, many times over.
 *
 * The topic has 2 partitions, one per producer, so each partition has exactly one writer and its
 * content is fully predictable (strict order, exact offsets, exact bytes), and recovery runs on
 * two logs with different histories:
 *
 *   partition 0: a plain producer (no producer id). It never re-sends. After each restart the
 *     partition holds what earlier checks saw, unchanged, then a prefix of the batches the last
 *     broker was sent, covering every acknowledged one at its acknowledged offsets; no record
 *     appears twice, ever.
 *   partition 1: an idempotent producer (one InitProducerId at the start; at most 5 batches in
 *     flight, as Kafka requires for idempotence, since a broker keeps the last 5 batches per
 *     producer for duplicate detection). After each kill it re-sends, to the restarted broker,
 *     every batch it has not seen acknowledged (same sequence numbers, same bytes), then goes on
 *     with new ones. A re-sent batch that the log already holds must be answered as a duplicate
 *     with its original offsets; one it does not hold must be appended. At the end the partition
 *     holds every batch exactly once, in sequence order, with no gap.
 *
 * After every restart: the broker logged that it opened the data directory after an unclean
 * shutdown (`--log-level info`: at `warn` it only logs when recovery truncated something), the
 * topic, its partitions, creation time and configs survived (DescribeTopics), the log start is 0
 * and the log end covers every acknowledgement, and a full Fetch from offset 0 returns exactly the
 * bytes that were sent, baseOffset stamped. The run ends with a clean stop (SIGTERM, exit 0) and
 * a restart that sees the clean shutdown and still detects a re-sent batch as a duplicate.
 *
 * The seed is in the test name; RUNNEL_BROKER_CRASH_SEED=<seed> replays the kill points and the
 * batch contents (the broker's timing is the machine's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { Codec, readBatchHeader, writeBaseOffset } from '../../src/format/batch-header.js';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.js';
import { connect, type Clients } from '../broker/helpers.js';
import { rng, tempDir } from '../storage/helpers.js';
import { Hub } from './event-waits.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const SEED = Number(process.env.RUNNEL_BROKER_CRASH_SEED ?? Math.floor(Math.random() * 1e9));
const KILLS = 12;
/** Bound of every single wait (a line, an acknowledgement, an exit, a stream end). */
const WAIT_MS = 20_000;
const TOPIC = 'broker-crash';
const PLAIN_PARTITION = 0;
const IDEMPOTENT_PARTITION = 1;
const PLAIN_WINDOW = 16;
/** Kafka's max.in.flight for idempotence: what the broker's 5 retained batches can de-duplicate. */
const IDEMPOTENT_WINDOW = 5;
/** New batches each producer sends in the final, uninterrupted round. */
const FINAL_BATCHES = 20;
/** Non-default configs, so a config that did not survive a crash shows. */
const TOPIC_CONFIGS: Record<string, string> = {
  retentionMs: '-1',
  segmentBytes: String(64 * 1024),
  maxMessageBytes: String(32 * 1024),
  durability: 'leader',
  cleanupPolicy: 'delete',
};
const FETCH_MAX_BYTES = 16 * 1024 * 1024;

const live = new Set<BrokerProcess>();

afterEach(async () => {
  // A failed test must not leave a broker writing into a directory being removed.
  for (const broker of [...live]) {
    broker.kill('SIGKILL');
    await broker.exited.catch(() => undefined);
  }
});

/** One broker process: its stdout lines (pino JSON and the `listening on` line), exit, PID. */
class BrokerProcess {
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(
    dataDir: string,
    private readonly hub: Hub,
  ) {
    const args = [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info'];
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      hub.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.exit ??= { code, signal };
        live.delete(this);
        hub.notify();
        resolve();
      };
      // 'close' comes after the exit and after stdout ended: every printed line has been seen.
      this.child.on('close', done);
      this.child.on('error', (err) => {
        this.stderr += String(err);
        done(null, null);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  describe(): string {
    const exit = this.exit === null ? `pid ${this.child.pid} running` : `exit code ${this.exit.code}, signal ${this.exit.signal}`;
    return `broker ${exit}; last lines: ${JSON.stringify(this.lines.slice(-3))}; stderr: ${this.stderr.slice(-2000)}`;
  }

  /** Waits for the `listening on HOST:PORT` line; returns the address. */
  async address(what: string): Promise<string> {
    const find = (): RegExpExecArray | null => {
      for (const line of this.lines) {
        const match = /listening on (\S+):(\d+)\s*$/.exec(line);
        if (match !== null) return match;
      }
      return null;
    };
    await this.hub.until(() => find() !== null || this.exit !== null, `${what}: broker start`, () => this.describe());
    const match = find();
    if (match === null) throw new Error(`${what}: the broker ended before listening (${this.describe()})`);
    return `${match[1]}:${match[2]}`;
  }

  /** The JSON log lines with this `msg`. */
  logged(msg: string): Record<string, unknown>[] {
    return this.lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === msg);
  }

  /** Sends a signal to this process by its PID (never by name); a no-op once it has exited. */
  kill(signal: NodeJS.Signals): void {
    if (this.exit !== null) return;
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  async ended(what: string): Promise<void> {
    await this.hub.until(() => this.exit !== null, `${what}: broker exit`, () => this.describe());
    await this.exited;
  }
}

interface OutBatch {
  index: number;
  /** As sent: baseOffset 0. Re-sends send this very buffer. */
  bytes: Buffer;
  records: number;
  baseSequence: number;
  /** Cycle whose stream first sent it (-1: not sent yet). */
  cycle: number;
}

interface Ack {
  baseOffset: number;
  lastOffset: number;
  duplicate: boolean;
}

/** A batch found in a partition by a full read. */
interface Found {
  index: number;
  baseOffset: number;
  lastOffset: number;
}

/** Batch content: 1-4 records whose keys name the producer, batch and record; a third lz4. */
function makeBatch(random: () => number, prefix: string, index: number, producer: { producerId: number; producerEpoch: number; baseSequence: number } | null): { bytes: Buffer; records: number } {
  const count = 1 + Math.floor(random() * 4);
  const records = Array.from({ length: count }, (_, i) => {
    const size = 16 + Math.floor(random() * 1500);
    const value = Buffer.alloc(size);
    const fill = Math.floor(random() * 256);
    for (let b = 0; b < size; b++) value[b] = random() < 0.5 ? fill : Math.floor(random() * 256);
    return { key: Buffer.from(`${prefix}:${index}:${i}`), value, headers: i === 0 ? [{ key: 'batch', value: Buffer.from(String(index)) }] : [] };
  });
  const bytes = encodeRecordBatch({ records, codec: random() < 0.33 ? Codec.Lz4 : Codec.None, ...(producer ?? {}) });
  return { bytes, records: count };
}

/**
 * One producer on one partition: a ProduceStream per broker lifetime, at most `window` requests in
 * flight, one batch per request. Answers come in request order, so the acknowledged batches of a
 * stream are a prefix of what it sent.
 */
class Producer {
  readonly batches: OutBatch[] = [];
  readonly acks = new Map<number, Ack>();
  /** Batches that may exist; the final round makes it finite. */
  limit = Infinity;
  stopped = true;
  private stream: grpc.ClientDuplexStream<any, any> | null = null;
  private streamDone = true;
  private next = 0;
  private inflight: { correlationId: number; index: number }[] = [];
  private correlationId = 0;
  private cycle = -1;
  /** Batches sent again to a later broker (idempotent only). */
  resent = 0;
  /** Checks an acknowledgement against what the last full read found (idempotent duplicates). */
  onAck: (batch: OutBatch, ack: Ack) => void = () => undefined;

  constructor(
    readonly name: string,
    readonly partition: number,
    private readonly window: number,
    private readonly prefix: string,
    private readonly random: () => number,
    private readonly hub: Hub,
    private readonly idempotent: { producerId: number; producerEpoch: number } | null,
  ) {}

  get producerId(): number {
    return this.idempotent?.producerId ?? -1;
  }

  /** Opens a stream and starts sending from `from` (the first unacknowledged batch, or the next new one). */
  start(clients: Clients, cycle: number, from: number): void {
    this.cycle = cycle;
    this.next = from;
    this.inflight = [];
    this.stopped = false;
    this.streamDone = false;
    const stream = (clients.broker as any).ProduceStream() as grpc.ClientDuplexStream<any, any>;
    this.stream = stream;
    // A late answer on a stream already given up is not counted: it only makes the check weaker.
    stream.on('data', (response: any) => {
      if (this.stream === stream) this.answer(response);
    });
    const done = (err?: Error): void => {
      if (this.stream !== stream) return;
      if (err !== undefined && !this.stopped) this.hub.fail(new Error(`${this.name}: stream failed while the broker ran: ${err.message}`));
      this.streamDone = true;
      this.hub.notify();
    };
    stream.on('error', (err: Error) => done(err));
    stream.on('end', () => done());
    stream.on('close', () => done());
    this.pump();
  }

  /** No more writes (the broker is being killed); answers already on their way still count. */
  stop(): void {
    this.stopped = true;
  }

  /** Half-closes the stream; the broker answers what is in flight, then ends it. */
  end(): void {
    this.stopped = true;
    this.stream?.end();
  }

  get isStreamDone(): boolean {
    return this.streamDone;
  }

  /** Every batch allowed is sent and answered. */
  get idle(): boolean {
    return this.inflight.length === 0 && this.next >= this.batches.length && this.batches.length >= this.limit;
  }

  /** Length of the acknowledged prefix (idempotent: all of them; plain: up to the first lost one). */
  get ackedPrefix(): number {
    let n = 0;
    while (this.acks.has(n)) n++;
    return n;
  }

  describe(): string {
    return `${this.name}: ${this.batches.length} batches, ${this.acks.size} acked, ${this.inflight.length} in flight, next ${this.next}`;
  }

  private pump(): void {
    while (!this.stopped && this.inflight.length < this.window) {
      if (this.next >= this.batches.length) {
        if (this.batches.length >= this.limit) return;
        this.create();
      }
      const batch = this.batches[this.next++];
      if (batch.cycle < 0) batch.cycle = this.cycle;
      else this.resent++;
      const correlationId = ++this.correlationId;
      this.inflight.push({ correlationId, index: batch.index });
      this.stream!.write({ correlationId, acks: 'ACKS_ALL', topics: [{ topic: TOPIC, partitions: [{ partition: this.partition, records: batch.bytes }] }] });
    }
  }

  private create(): void {
    const index = this.batches.length;
    const last = this.batches[index - 1];
    const baseSequence = this.idempotent === null ? -1 : last === undefined ? 0 : last.baseSequence + last.records;
    const producer = this.idempotent === null ? null : { ...this.idempotent, baseSequence };
    const { bytes, records } = makeBatch(this.random, this.prefix, index, producer);
    this.batches.push({ index, bytes, records, baseSequence, cycle: -1 });
  }

  private answer(response: any): void {
    const head = this.inflight.shift();
    try {
      if (head === undefined) throw new Error(`answer with correlation id ${response.correlationId} and nothing in flight`);
      if (response.correlationId !== head.correlationId) throw new Error(`answer ${response.correlationId} where ${head.correlationId} was next`);
      const result = response.topics?.[0]?.partitions?.[0];
      if (response.topics.length !== 1 || response.topics[0].topic !== TOPIC || response.topics[0].partitions.length !== 1 || result.partition !== this.partition) {
        throw new Error(`answer ${head.correlationId} names the wrong partition: ${JSON.stringify(response.topics)}`);
      }
      if (result.error !== null) throw new Error(`batch ${head.index} refused: ${result.error.code} ${result.error.message}`);
      const batch = this.batches[head.index];
      const ack: Ack = { baseOffset: result.baseOffset, lastOffset: result.lastOffset, duplicate: result.duplicate };
      if (ack.lastOffset - ack.baseOffset !== batch.records - 1) throw new Error(`batch ${head.index} of ${batch.records} records acknowledged at ${ack.baseOffset}..${ack.lastOffset}`);
      if (this.acks.has(head.index)) throw new Error(`batch ${head.index} acknowledged twice`);
      this.acks.set(head.index, ack);
      this.onAck(batch, ack);
    } catch (err) {
      this.hub.fail(new Error(`${this.name}: ${(err as Error).message}`));
      return;
    }
    this.hub.notify();
    this.pump();
  }
}

/** Reads a partition from offset 0 to its high watermark, as stored batches. */
async function readPartition(clients: Clients, partition: number, where: string): Promise<{ bytes: Buffer; baseOffset: number; lastOffset: number }[]> {
  const batches: { bytes: Buffer; baseOffset: number; lastOffset: number }[] = [];
  let offset = 0;
  for (;;) {
    const response = await clients.call('broker', 'Fetch', {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: FETCH_MAX_BYTES,
      topics: [{ topic: TOPIC, partitions: [{ partition, fetchOffset: offset, maxBytes: FETCH_MAX_BYTES }] }],
    });
    const result = response.topics[0].partitions[0];
    expect(result.error, `${where}: fetch of partition ${partition} at ${offset}`).toBeNull();
    const records: Buffer = result.records;
    for (let pos = 0; pos < records.length; ) {
      const header = readBatchHeader(records, pos);
      batches.push({ bytes: records.subarray(pos, pos + header.sizeBytes), baseOffset: header.baseOffset, lastOffset: header.baseOffset + header.lastOffsetDelta });
      pos += header.sizeBytes;
    }
    if (offset >= result.offsets.highWatermark) break;
    expect(result.nextOffset, `${where}: fetch progress of partition ${partition} at ${offset}`).toBeGreaterThan(offset);
    offset = result.nextOffset;
  }
  return batches;
}

/**
 * Matches a full read against a producer's batches: dense offsets from 0, every batch one of the
 * producer's, byte for byte (baseOffset stamped), every record key unique.
 */
function identify(read: { bytes: Buffer; baseOffset: number; lastOffset: number }[], producer: Producer, where: string): Found[] {
  const found: Found[] = [];
  const keys = new Set<string>();
  let next = 0;
  for (const stored of read) {
    expect(stored.baseOffset, `${where}: ${producer.name} batches are dense`).toBe(next);
    next = stored.lastOffset + 1;
    const decoded = decodeRecordBatch(stored.bytes);
    expect(decoded.producerId, `${where}: producer id of the batch at ${stored.baseOffset}`).toBe(producer.producerId);
    const key = decoded.records[0]?.key?.toString() ?? '';
    const match = /^([a-z]+):(\d+):0$/.exec(key);
    expect(match?.[1], `${where}: first key "${key}" of the batch at ${stored.baseOffset} in ${producer.name}'s partition`).toBe(producer.name === 'plain' ? 'p' : 'i');
    const index = Number(match![2]);
    const batch = producer.batches[index];
    expect(batch, `${where}: ${producer.name} batch ${index} at ${stored.baseOffset} was sent`).toBeDefined();
    expect(batch.cycle, `${where}: ${producer.name} batch ${index} at ${stored.baseOffset} was sent`).toBeGreaterThanOrEqual(0);
    const expected = Buffer.from(batch.bytes);
    writeBaseOffset(expected, stored.baseOffset);
    if (!stored.bytes.equals(expected)) expect.fail(`${where}: ${producer.name} batch ${index} at ${stored.baseOffset}: stored bytes differ from the bytes sent`);
    for (const record of decoded.records) {
      const recordKey = record.key!.toString();
      if (keys.has(recordKey)) expect.fail(`${where}: record ${recordKey} appears twice in ${producer.name}'s partition`);
      keys.add(recordKey);
    }
    found.push({ index, baseOffset: stored.baseOffset, lastOffset: stored.lastOffset });
  }
  return found;
}

/** What the last full read of each partition found. */
interface Model {
  plain: Found[];
  idempotent: Found[];
  configs: { name: string; value: string }[];
  createdAtMs: number;
}

function highestAcked(producer: Producer): number {
  let highest = -1;
  for (const ack of producer.acks.values()) highest = Math.max(highest, ack.lastOffset);
  return highest;
}

/** DescribeTopics, then a full read of both partitions, checked against what was sent and acknowledged. */
async function verify(clients: Clients, plain: Producer, idempotent: Producer, model: Model, where: string): Promise<void> {
  const described = await clients.call('admin', 'DescribeTopics', { names: [TOPIC] });
  expect(described.topics.length, `${where}: described topics`).toBe(1);
  const topic = described.topics[0];
  expect(topic.error, `${where}: DescribeTopics`).toBeNull();
  expect(topic.createdAtMs, `${where}: topic creation time`).toBe(model.createdAtMs);
  expect(sortConfigs(topic.configs), `${where}: topic configs`).toEqual(model.configs);
  expect(topic.partitions.map((p: any) => p.partition), `${where}: partitions`).toEqual([0, 1]);
  const ends = new Map<number, number>();
  for (const [producer, p] of [
    [plain, PLAIN_PARTITION],
    [idempotent, IDEMPOTENT_PARTITION],
  ] as const) {
    const { offsets } = topic.partitions[p];
    expect(offsets.logStartOffset, `${where}: log start of partition ${p}`).toBe(0);
    expect(offsets.highWatermark, `${where}: high watermark of partition ${p}`).toBe(offsets.logEndOffset);
    expect(offsets.logEndOffset, `${where}: log end of partition ${p} covers the highest acknowledged offset`).toBeGreaterThanOrEqual(highestAcked(producer) + 1);
    ends.set(p, offsets.logEndOffset);
  }

  // Plain: earlier reads unchanged, then a prefix of what the last broker was sent (its own
  // cycle's batches, in order), covering every acknowledgement.
  const plainFound = identify(await readPartition(clients, PLAIN_PARTITION, where), plain, where);
  expect(plainFound.slice(0, model.plain.length), `${where}: plain batches earlier reads found`).toEqual(model.plain);
  const fresh = plainFound.slice(model.plain.length).map((f) => f.index);
  if (fresh.length > 0) {
    // Only the broker since the last read can have appended; it got the last cycle's batches.
    const cycle = plain.batches.at(-1)!.cycle;
    const sentInCycle = plain.batches.filter((b) => b.cycle === cycle).map((b) => b.index);
    expect(fresh, `${where}: new plain batches are a prefix of what cycle ${cycle} sent`).toEqual(sentInCycle.slice(0, fresh.length));
  }
  checkAcks(plain, plainFound, where);
  expect(plainFound.at(-1)?.lastOffset ?? -1, `${where}: plain log end`).toBe(ends.get(PLAIN_PARTITION)! - 1);

  // Idempotent: batches 0..m-1 exactly, m at least the acknowledged ones.
  const idemFound = identify(await readPartition(clients, IDEMPOTENT_PARTITION, where), idempotent, where);
  expect(
    idemFound.map((f) => f.index),
    `${where}: idempotent batches are in sequence order with no gap`,
  ).toEqual(idemFound.map((_, i) => i));
  expect(idemFound.slice(0, model.idempotent.length), `${where}: idempotent batches earlier reads found`).toEqual(model.idempotent);
  expect(idemFound.length, `${where}: idempotent batches stored vs acknowledged`).toBeGreaterThanOrEqual(idempotent.acks.size);
  checkAcks(idempotent, idemFound, where);
  expect(idemFound.at(-1)?.lastOffset ?? -1, `${where}: idempotent log end`).toBe(ends.get(IDEMPOTENT_PARTITION)! - 1);

  model.plain = plainFound;
  model.idempotent = idemFound;
}

/** Every acknowledged batch is stored at its acknowledged offsets. */
function checkAcks(producer: Producer, found: Found[], where: string): void {
  const byIndex = new Map(found.map((f) => [f.index, f]));
  for (const [index, ack] of producer.acks) {
    expect(byIndex.get(index), `${where}: acknowledged ${producer.name} batch ${index}`).toEqual({ index, baseOffset: ack.baseOffset, lastOffset: ack.lastOffset });
  }
}

function sortConfigs(configs: { name: string; value: string }[]): { name: string; value: string }[] {
  return configs.map(({ name, value }) => ({ name, value })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Acknowledgements (both producers together) before the kill: sometimes none, mostly dozens. */
function killPoint(random: () => number): number {
  const r = random();
  if (r < 0.1) return 0;
  if (r < 0.35) return 1 + Math.floor(random() * 8);
  return 9 + Math.floor(random() * 90);
}

describe('broker crash consistency of acknowledged produce', () => {
  it(`keeps every ACKS_ALL acknowledgement through ${KILLS} SIGKILLs of a broker, seed ${SEED}`, async () => {
    const choices = rng(SEED);
    const hub = new Hub(WAIT_MS);
    const dataDir = tempDir('runnel-broker-crash-');
    const plain = new Producer('plain', PLAIN_PARTITION, PLAIN_WINDOW, 'p', rng(SEED ^ 0x51ed27), hub, null);
    const timings: string[] = [];
    const started = Date.now();
    expect(fs.existsSync(CLI), `${CLI} exists (build first: npx tsc -p tsconfig.build.json)`).toBe(true);
    let broker = new BrokerProcess(dataDir, hub);
    let clients = connect(await broker.address('first start'));
    try {
      const created = await clients.call('admin', 'CreateTopics', {
        topics: [{ name: TOPIC, partitions: 2, configs: Object.entries(TOPIC_CONFIGS).map(([name, value]) => ({ name, value })) }],
        validateOnly: false,
      });
      expect(created.topics[0].error, 'CreateTopics').toBeNull();
      const initial = (await clients.call('admin', 'DescribeTopics', { names: [TOPIC] })).topics[0];
      const model: Model = { plain: [], idempotent: [], configs: sortConfigs(initial.configs), createdAtMs: initial.createdAtMs };
      for (const [name, value] of Object.entries(TOPIC_CONFIGS)) expect(model.configs, `config ${name}`).toContainEqual({ name, value });
      const init = await clients.call('broker', 'InitProducerId', { transactionalId: '', producerId: 0, producerEpoch: 0 });
      expect(init.error, 'InitProducerId').toBeNull();
      expect(init.producerId, 'producer id').toBeGreaterThan(0);
      const idempotent = new Producer('idempotent', IDEMPOTENT_PARTITION, IDEMPOTENT_WINDOW, 'i', rng(SEED ^ 0x1de3), hub, {
        producerId: init.producerId,
        producerEpoch: init.producerEpoch,
      });
      // A re-sent batch the log holds is a duplicate with its original offsets; any other is appended.
      let duplicates = 0;
      idempotent.onAck = (batch, ack) => {
        if (ack.duplicate) duplicates++;
        const stored = model.idempotent[batch.index];
        if (stored !== undefined && (!ack.duplicate || ack.baseOffset !== stored.baseOffset)) {
          throw new Error(`re-sent batch ${batch.index}, stored at ${stored.baseOffset}, answered ${JSON.stringify(ack)}`);
        }
        if (stored === undefined && ack.duplicate) throw new Error(`batch ${batch.index}, not in the log at the last read, answered as a duplicate ${JSON.stringify(ack)}`);
      };
      plain.onAck = (batch, ack) => {
        if (ack.duplicate) throw new Error(`plain batch ${batch.index} answered as a duplicate`);
      };
      const context = (): string => `${broker.describe()}; ${plain.describe()}; ${idempotent.describe()}`;
      let repairs = 0;

      /** Runs both producers on the current broker until `target` acknowledgements, then SIGKILLs it. */
      const runAndKill = async (cycle: number, target: number, where: string): Promise<void> => {
        const before = plain.acks.size + idempotent.acks.size;
        const acked = (): number => plain.acks.size + idempotent.acks.size - before;
        const kill = (): void => {
          if (broker.exit !== null || plain.stopped) return;
          plain.stop();
          idempotent.stop();
          broker.kill('SIGKILL');
        };
        const onAck = { plain: plain.onAck, idempotent: idempotent.onAck };
        plain.onAck = (b, a) => {
          onAck.plain(b, a);
          if (acked() >= target) kill();
        };
        idempotent.onAck = (b, a) => {
          onAck.idempotent(b, a);
          if (acked() >= target) kill();
        };
        try {
          plain.start(clients, cycle, plain.batches.length);
          idempotent.start(clients, cycle, idempotent.ackedPrefix);
          if (target === 0) kill();
          await hub.until(() => acked() >= target || broker.exit !== null, `${where}: ${target} acknowledgements`, context);
          expect(acked(), `${where}: acknowledgements before the broker ended (${broker.describe()})`).toBeGreaterThanOrEqual(target);
          kill();
          await broker.ended(where);
          expect(broker.exit, `${where}: the broker died of the kill`).toEqual({ code: null, signal: 'SIGKILL' });
          await hub.until(() => plain.isStreamDone && idempotent.isStreamDone, `${where}: streams end after the kill`, context);
        } finally {
          plain.onAck = onAck.plain;
          idempotent.onAck = onAck.idempotent;
        }
        expect(idempotent.acks.size, `${where}: idempotent acknowledgements are a prefix`).toBe(idempotent.ackedPrefix);
        clients.close();
      };

      /** Starts a broker on the data directory and checks what it recovered. */
      const restart = async (where: string, clean: boolean): Promise<void> => {
        broker = new BrokerProcess(dataDir, hub);
        clients = connect(await broker.address(where));
        await hub.until(() => broker.logged('opened data directory').length > 0, `${where}: log line "opened data directory"`, () => broker.describe());
        const opened = broker.logged('opened data directory');
        expect(opened.length, `${where}: the broker logs opening the data directory`).toBe(1);
        expect(opened[0].cleanShutdown, `${where}: the broker saw ${clean ? 'a clean' : 'an unclean'} shutdown`).toBe(clean);
        repairs += Number(opened[0].repairs);
        await verify(clients, plain, idempotent, model, where);
      };

      for (let cycle = 0; cycle < KILLS; cycle++) {
        const cycleStart = Date.now();
        const target = killPoint(choices);
        const where = `seed ${SEED}, cycle ${cycle} (kill after ${target} acks)`;
        await runAndKill(cycle, target, where);
        await restart(`${where}, after restart`, false);
        timings.push(`${Date.now() - cycleStart}`);
      }

      // Final round, uninterrupted: the idempotent producer re-sends what the last kill left
      // unacknowledged, both send a few new batches, and everything is acknowledged.
      const where = `seed ${SEED}, final round`;
      plain.limit = plain.batches.length + FINAL_BATCHES;
      idempotent.limit = idempotent.batches.length + FINAL_BATCHES;
      plain.start(clients, KILLS, plain.batches.length);
      idempotent.start(clients, KILLS, idempotent.ackedPrefix);
      await hub.until(() => plain.idle && idempotent.idle, `${where}: all acknowledged`, context);
      plain.end();
      idempotent.end();
      await hub.until(() => plain.isStreamDone && idempotent.isStreamDone, `${where}: streams end`, context);
      await verify(clients, plain, idempotent, model, where);
      expect(
        model.idempotent.map((f) => f.index),
        `${where}: every idempotent batch exactly once, in sequence order`,
      ).toEqual(idempotent.batches.map((b) => b.index));
      expect(idempotent.acks.size, `${where}: every idempotent batch acknowledged`).toBe(idempotent.batches.length);
      // Stored batches equal the sent bytes (verify), so their headers carry these sequences: each continues the last.
      let expectedSequence = 0;
      for (const f of model.idempotent) {
        expect(f.lastOffset - f.baseOffset + 1, `${where}: records of idempotent batch ${f.index}`).toBe(idempotent.batches[f.index].records);
        expect(idempotent.batches[f.index].baseSequence, `${where}: sequence of idempotent batch ${f.index}`).toBe(expectedSequence);
        expectedSequence += idempotent.batches[f.index].records;
      }

      // A clean stop by PID, then a restart that sees it and still knows the idempotent producer.
      clients.close();
      broker.kill('SIGTERM');
      await broker.ended(`${where}: SIGTERM`);
      expect(broker.exit, `${where}: clean stop`).toEqual({ code: 0, signal: null });
      await restart(`${where}, after a clean stop`, true);
      const last = idempotent.batches.at(-1)!;
      const again = await clients.call('broker', 'Produce', {
        correlationId: 1,
        acks: 'ACKS_ALL',
        topics: [{ topic: TOPIC, partitions: [{ partition: IDEMPOTENT_PARTITION, records: last.bytes }] }],
      });
      const result = again.topics[0].partitions[0];
      expect(result.error, `${where}: re-sent last batch after a clean restart`).toBeNull();
      expect({ duplicate: result.duplicate, baseOffset: result.baseOffset }, `${where}: re-sent last batch after a clean restart`).toEqual({
        duplicate: true,
        baseOffset: idempotent.acks.get(last.index)!.baseOffset,
      });
      await verify(clients, plain, idempotent, model, `${where}, after the duplicate`);
      clients.close();
      broker.kill('SIGTERM');
      await broker.ended(`${where}: last SIGTERM`);
      expect(broker.exit, `${where}: last clean stop`).toEqual({ code: 0, signal: null });

      const lost = plain.batches.length - plain.acks.size;
      console.info(
        `seed ${SEED}: ${KILLS} kills in ${Date.now() - started} ms (cycles ms: ${timings.join(' ')}); plain ${plain.acks.size} acked of ${plain.batches.length} sent ` +
          `(${model.plain.length} stored, ${lost} never acknowledged); idempotent ${idempotent.batches.length} batches, ${idempotent.resent} re-sent, ${duplicates} answered as duplicates; recovery repairs logged: ${repairs}`,
      );
    } finally {
      clients.close();
      broker.kill('SIGKILL');
      await broker.exited;
    }
  }, 120_000);
});
