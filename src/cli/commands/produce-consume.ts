/**
 * `runnel produce TOPIC` (one record per stdin line) and `runnel consume TOPIC` (one record per
 * stdout line). Produce keeps at most PENDING_SENDS_MAX sends unanswered, so memory stays
 * bounded however long stdin is; it exits 0 only after every line is acknowledged. Consume
 * ends on --max-messages, on --timeout-ms without a record, on SIGINT, or when stdout closes
 * (`| head`), always without a stack trace. With --group it is a member of a consumer group: a
 * record counts as processed once written, and what was processed is committed on the way out,
 * before the member leaves the group.
 */
import readline from 'node:readline';
import type { Command } from 'commander';
import { RunnelError } from '../../common/errors.js';
import type { ProducerMessage } from '../../client/index.js';
import { parseTime, withClient } from './topics.js';

const PENDING_SENDS_MAX = 1024;

interface ProduceFlags {
  keySeparator?: string;
  partition?: string;
  acks: string;
  compression: string;
  format: string;
}

function lineToMessage(line: string, flags: ProduceFlags, lineNumber: number): ProducerMessage {
  const partition = flags.partition === undefined ? undefined : Number(flags.partition);
  if (flags.format === 'json') {
    let parsed: { key?: unknown; value?: unknown; headers?: Record<string, string>; partition?: number };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      throw new RunnelError('INVALID_ARGUMENT', `line ${lineNumber} is not JSON`);
    }
    const value = typeof parsed.value === 'string' || parsed.value === null ? parsed.value : JSON.stringify(parsed.value);
    const key = parsed.key === undefined || parsed.key === null ? null : typeof parsed.key === 'string' ? parsed.key : JSON.stringify(parsed.key);
    return { key, value: value ?? null, headers: parsed.headers, partition: parsed.partition ?? partition };
  }
  if (flags.keySeparator !== undefined) {
    const at = line.indexOf(flags.keySeparator);
    if (at >= 0) return { key: line.slice(0, at), value: line.slice(at + flags.keySeparator.length), partition };
  }
  return { key: null, value: line, partition };
}

async function produce(program: Command, topic: string, flags: ProduceFlags): Promise<void> {
  const startedMs = Date.now();
  let records = 0;
  let bytes = 0;
  await withClient(program, async (runnel) => {
    const producer = runnel.producer({ acks: flags.acks as 'all', compression: flags.compression as 'none' });
    const pending = new Set<Promise<unknown>>();
    const failures: Error[] = [];
    let lineNumber = 0;
    for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      lineNumber++;
      if (line === '' && flags.format === 'json') continue;
      const sent = producer.send({ topic, messages: [lineToMessage(line, flags, lineNumber)] }).catch((err: unknown) => failures.push(err instanceof Error ? err : new Error(String(err))));
      pending.add(sent);
      void sent.finally(() => pending.delete(sent));
      records++;
      bytes += Buffer.byteLength(line);
      if (pending.size >= PENDING_SENDS_MAX) await Promise.race(pending);
      if (failures.length > 0) break;
    }
    await Promise.all(pending);
    await producer.close();
    if (failures[0] !== undefined) throw failures[0];
  });
  const seconds = Math.max((Date.now() - startedMs) / 1000, 0.001);
  process.stderr.write(`produced ${records} records, ${bytes} bytes in ${seconds.toFixed(2)} s (${Math.round(records / seconds)} records/s)\n`);
}

interface ConsumeFlags {
  group?: string;
  instanceId?: string;
  fromBeginning?: boolean;
  offset?: string;
  partition?: string;
  fromTime?: string;
  maxMessages?: string;
  timeoutMs?: string;
  format: string;
  printKey?: boolean;
  printOffset?: boolean;
}

type PrintedMessage = Parameters<typeof formatMessage>[0];

function startOf(flags: ConsumeFlags): number | 'earliest' | 'latest' | { timestampMs: number } {
  if (flags.offset !== undefined) return Number(flags.offset);
  if (flags.fromTime !== undefined) return { timestampMs: parseTime(flags.fromTime) };
  return flags.fromBeginning === true ? 'earliest' : 'latest';
}

/** A group keeps its own positions: flags that pick one are refused with it. */
function checkGroupFlags(flags: ConsumeFlags): void {
  if (flags.group === undefined) {
    if (flags.instanceId !== undefined) throw new RunnelError('INVALID_ARGUMENT', '--instance-id needs --group');
    return;
  }
  const clashing = (['offset', 'partition', 'fromTime'] as const).filter((name) => flags[name] !== undefined);
  if (clashing.length === 0) return;
  const names = clashing.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
  throw new RunnelError('INVALID_ARGUMENT', `${names} cannot be combined with --group: use \`runnel groups reset-offsets\` to move a group`);
}

async function consume(program: Command, topic: string, flags: ConsumeFlags): Promise<void> {
  checkGroupFlags(flags);
  await withClient(program, async (runnel) => {
    // Fails fast on a topic name typo, with or without a group.
    const description = await runnel.admin().describeTopic(topic);
    if (flags.group !== undefined) {
      const instanceId = flags.instanceId === undefined ? {} : { instanceId: flags.instanceId };
      const consumer = runnel.consumer({ groupId: flags.group, topics: [topic], autoCommit: true, autoOffsetReset: flags.fromBeginning === true ? 'earliest' : 'latest', ...instanceId });
      try {
        // Marked processed once written: a stop after N messages commits exactly those N.
        await printMessages(consumer.messages(), flags, (m) => consumer.markProcessed(m));
        await consumer.commit();
      } finally {
        await consumer.close();
      }
      return;
    }
    const partitions = flags.partition === undefined ? description.partitions.map((p) => p.partition) : [Number(flags.partition)];
    const consumer = runnel.consumer();
    await consumer.assign(partitions.map((partition) => ({ topic, partition, from: startOf(flags) })));
    try {
      await printMessages(consumer.messages(), flags, () => undefined);
    } finally {
      await consumer.close();
    }
  });
}

/**
 * Prints messages until --max-messages, --timeout-ms without a message, SIGINT or a closed
 * stdout; `printed` is called right after each message was written.
 */
async function printMessages<M extends PrintedMessage>(messages: AsyncIterator<M, undefined>, flags: ConsumeFlags, printed: (m: M) => void): Promise<void> {
  const maxMessages = flags.maxMessages === undefined ? Infinity : Number(flags.maxMessages);
  const timeoutMs = flags.timeoutMs === undefined ? null : Number(flags.timeoutMs);
  // A stop ends the wait for the next message at once. Each wait gets a promise of its own (a
  // race against one long-lived promise would pile a reaction onto it per message).
  let stopped = false;
  let wake: ((result: null) => void) | null = null;
  const stop = (): void => {
    stopped = true;
    wake?.(null);
  };
  let stdoutClosed = false;
  // Kept to the end: an EPIPE of the last write may be reported after the loop is over.
  process.stdout.on('error', () => {
    stdoutClosed = true;
    stop();
  });
  process.once('SIGINT', stop);
  let timer: NodeJS.Timeout | undefined = undefined;
  const arm = (): void => {
    clearTimeout(timer);
    if (timeoutMs !== null) timer = setTimeout(stop, timeoutMs);
  };
  try {
    arm();
    for (let count = 0; count < maxMessages && !stopped; count++) {
      const next = await new Promise<IteratorResult<M, undefined> | null>((resolve, reject) => {
        wake = resolve;
        messages.next().then(resolve, reject);
      });
      wake = null;
      if (next === null || next.done === true || stopped) return;
      arm();
      process.stdout.write(`${formatMessage(next.value, flags)}\n`);
      if (!stdoutClosed) printed(next.value);
    }
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    // Releases a group consumer's message in hand (it was marked processed, or not printed).
    await messages.return?.();
  }
}

function formatMessage(m: { topic: string; partition: number; offset: number; timestampMs: number; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | null> }, flags: ConsumeFlags): string {
  if (flags.format === 'json') {
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, v?.toString('utf8') ?? null]));
    return JSON.stringify({ topic: m.topic, partition: m.partition, offset: m.offset, timestampMs: m.timestampMs, key: m.key?.toString('utf8') ?? null, value: m.value?.toString('utf8') ?? null, headers });
  }
  const parts: string[] = [];
  if (flags.printOffset === true) parts.push(`${m.partition}:${m.offset}`);
  if (flags.printKey === true) parts.push(m.key?.toString('utf8') ?? '');
  parts.push(m.value?.toString('utf8') ?? '');
  return parts.join('\t');
}

export function registerProduceConsumeCommands(program: Command): void {
  program
    .command('produce <topic>')
    .description('produce one record per stdin line')
    .option('--key-separator <sep>', 'split each line into key and value at the first <sep>')
    .option('--partition <p>', 'send every record to this partition')
    .option('--acks <acks>', 'none, leader or all', 'all')
    .option('--compression <codec>', 'none or lz4', 'none')
    .option('--format <format>', 'text, or json for lines {key, value, headers, partition}', 'text')
    .action((topic: string, flags: ProduceFlags) => produce(program, topic, flags));
  program
    .command('consume <topic>')
    .description('print one record value per line (default: new records only)')
    .option('--group <group>', 'consume as a member of this consumer group: its members share the partitions, printed records are committed, a restart goes on after them (not with --offset, --partition, --from-time: move a group with `runnel groups reset-offsets`)')
    .option('--instance-id <id>', 'with --group: static membership (a restart with the same id within the session timeout keeps the partitions; on exit the member stays in the group until then)')
    .option('--from-beginning', 'start at the earliest offset (with --group: for partitions without a committed offset; without this flag they start at the latest)')
    .option('--offset <n>', 'start at offset n (with --partition, or on every partition)')
    .option('--partition <p>', 'read only this partition')
    .option('--from-time <iso-8601|epoch-ms>', 'start at the first record at or after this time')
    .option('--max-messages <n>', 'stop after n records')
    .option('--timeout-ms <ms>', 'stop when no record arrives for ms')
    .option('--format <format>', 'text, or json lines {topic, partition, offset, timestampMs, key, value, headers}', 'text')
    .option('--print-key', 'print the key before the value (tab-separated)')
    .option('--print-offset', 'print partition:offset first (tab-separated)')
    .action((topic: string, flags: ConsumeFlags) => consume(program, topic, flags));
}
