/**
 * `runnel topics create|list|describe|alter|delete` and `runnel offsets`: thin wrappers over the
 * SDK's Admin client. Output is plain text, one line per item, so it pipes into other tools.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { RunnelError } from '../../common/errors.js';
import { connect, type Runnel } from '../../client/index.js';

export const DEFAULT_BROKERS = '127.0.0.1:9400';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `key=value` pairs into an object; a pair without `=` is a usage error. */
export function parseConfigs(pairs: string[]): Record<string, string> {
  const configs: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new RunnelError('INVALID_ARGUMENT', `--config takes key=value, got "${pair}"`);
    configs[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return configs;
}

/** The brokers from --brokers, else RUNNEL_BROKERS, else the default. */
export function brokersOf(program: Command): string[] {
  const flag = program.opts<{ brokers?: string }>().brokers;
  return (flag ?? process.env.RUNNEL_BROKERS ?? DEFAULT_BROKERS).split(',').map((b) => b.trim()).filter((b) => b !== '');
}

/** Runs `fn` with a client that fails fast when no broker answers, and closes it after. */
export async function withClient<T>(program: Command, fn: (runnel: Runnel) => Promise<T>): Promise<T> {
  // The client id shows in `groups describe`, so members on one host can be told apart.
  const clientId = `runnel-cli@${os.hostname()}:${process.pid}`.slice(0, 249);
  const runnel = connect({ brokers: brokersOf(program), requestTimeoutMs: 10_000, clientId });
  try {
    return await fn(runnel);
  } finally {
    await runnel.close();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** ISO-8601 or epoch milliseconds. */
export function parseTime(text: string): number {
  const asNumber = Number(text);
  const ms = /^\d+$/.test(text) ? asNumber : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RunnelError('INVALID_ARGUMENT', `"${text}" is neither ISO-8601 nor epoch milliseconds`);
  return ms;
}

/** A whole number (negative allowed), for flags like --to-offset and --shift-by. */
export function parseInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new RunnelError('INVALID_ARGUMENT', `${flag} takes an integer, got "${text}"`);
  return n;
}

export function registerTopicsCommands(program: Command): void {
  const topics = program.command('topics').description('create, list, describe, alter and delete topics');
  topics
    .command('create <name>')
    .option('--partitions <n>', 'number of partitions', '1')
    .option('--config <key=value>', 'topic config, e.g. retentionMs=3600000 (repeatable)', collect, [])
    .action((name: string, flags: { partitions: string; config: string[] }) =>
      withClient(program, async (runnel) => {
        await runnel.admin().createTopic(name, { partitions: Number(flags.partitions), configs: parseConfigs(flags.config) });
        out(`created topic ${name}`);
      }),
    );
  topics
    .command('list')
    .option('--internal', 'include internal topics')
    .action((flags: { internal?: boolean }) =>
      withClient(program, async (runnel) => {
        for (const t of await runnel.admin().listTopics({ includeInternal: flags.internal === true })) out(`${t.name}\t${t.partitions}`);
      }),
    );
  topics.command('describe <name>').action((name: string) =>
    withClient(program, async (runnel) => {
      const d = await runnel.admin().describeTopic(name);
      out(`topic ${d.name}\tpartitions ${d.partitions.length}\t${Object.entries(d.configs).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
      out('partition\tlogStartOffset\thighWatermark\tsizeBytes\tsegments');
      for (const p of d.partitions) out(`${p.partition}\t${p.logStartOffset}\t${p.highWatermark}\t${p.sizeBytes}\t${p.segments}`);
    }),
  );
  topics
    .command('alter <name>')
    .description('grow a topic to --partitions n (never shrinks; first), and/or change configs')
    .option('--partitions <n>', 'new total number of partitions (more than now)')
    .option('--config <key=value>', 'topic config to change (repeatable)', collect, [])
    .action((name: string, flags: { partitions?: string; config: string[] }) => {
      const partitions = flags.partitions === undefined ? undefined : parseInteger(flags.partitions, '--partitions');
      const changes = parseConfigs(flags.config);
      return withClient(program, async (runnel) => {
        const admin = runnel.admin();
        if (partitions !== undefined) {
          // A bad config is refused before the topic grows, not after.
          if (flags.config.length > 0) await admin.alterConfigs(name, changes, { validateOnly: true });
          await admin.createPartitions(name, partitions);
          out(`altered topic ${name}: partitions ${partitions}`);
          if (flags.config.length === 0) return;
        }
        const configs = await admin.alterConfigs(name, changes);
        out(`altered topic ${name}: ${Object.entries(configs).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
      });
    });
  topics.command('delete <name>').action((name: string) =>
    withClient(program, async (runnel) => {
      await runnel.admin().deleteTopic(name);
      out(`deleted topic ${name}`);
    }),
  );
  program
    .command('offsets <topic>')
    .description('per partition: earliest and latest offsets, or the offset for a time')
    .option('--time <iso-8601|epoch-ms>', 'the first offset at or after this time')
    .action((topic: string, flags: { time?: string }) =>
      withClient(program, async (runnel) => {
        const admin = runnel.admin();
        if (flags.time !== undefined) {
          for (const p of await admin.offsets(topic, { timestampMs: parseTime(flags.time) })) out(`${p.partition}\t${p.offset}`);
          return;
        }
        const earliest = await admin.offsets(topic, 'earliest');
        const latest = await admin.offsets(topic, 'latest');
        out('partition\tearliest\tlatest');
        earliest.forEach((p, i) => out(`${p.partition}\t${p.offset}\t${latest[i]?.offset ?? ''}`));
      }),
    );
}
