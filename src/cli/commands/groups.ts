/**
 * `runnel groups list|describe|delete|reset-offsets`: consumer-group administration over the
 * SDK's Admin client. Text output is tab-separated, one line per item (`-` where there is no
 * value: no committed offset, no owner, no instance id); `describe --format json` prints the
 * SDK's GroupDescription. Deleting a group and resetting its offsets are refused by the broker
 * (GROUP_NOT_EMPTY) while the group has members, as in Kafka.
 */
import { Option, type Command } from 'commander';
import { RunnelError } from '../../common/errors.js';
import type { GroupDescription, GroupOffsetTarget } from '../../client/index.js';
import { parseInteger, parseTime, withClient } from './topics.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** -1 (none) as `-`. */
function offsetText(offset: number): string {
  return offset < 0 ? '-' : String(offset);
}

function partitionsText(lists: readonly { topic: string; partitions: readonly number[] }[]): string {
  const text = lists.map(({ topic, partitions }) => `${topic}:${partitions.join(',')}`).join(' ');
  return text === '' ? '-' : text;
}

function printDescription(d: GroupDescription): void {
  out(`group ${d.groupId}\tstate ${d.state}\tepoch ${d.groupEpoch}\tassignor ${d.assignor}\tmembers ${d.members.length}`);
  if (d.members.length > 0) {
    out('member\tinstanceId\tclientId\tepoch\tpartitions');
    for (const m of d.members) out(`${m.memberId}\t${m.instanceId ?? '-'}\t${m.clientId}\t${m.memberEpoch}\t${partitionsText(m.assignment)}`);
  }
  out('topic\tpartition\tcommitted\thighWatermark\tlag\tmember');
  for (const o of d.offsets) out(`${o.topic}\t${o.partition}\t${offsetText(o.committedOffset)}\t${offsetText(o.highWatermark)}\t${o.lag}\t${o.memberId ?? '-'}`);
}

interface ResetFlags {
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: string;
  toTime?: string;
  shiftBy?: string;
  partition: string[];
  dryRun?: boolean;
}

/** Exactly one of the --to-* / --shift-by flags, as the SDK's target. */
export function resetTargetOf(flags: ResetFlags): GroupOffsetTarget {
  const targets: [string, () => GroupOffsetTarget][] = [];
  if (flags.toEarliest === true) targets.push(['--to-earliest', () => 'earliest']);
  if (flags.toLatest === true) targets.push(['--to-latest', () => 'latest']);
  if (flags.toOffset !== undefined) targets.push(['--to-offset', () => ({ offset: parseInteger(flags.toOffset!, '--to-offset') })]);
  if (flags.toTime !== undefined) targets.push(['--to-time', () => ({ timestampMs: parseTime(flags.toTime!) })]);
  if (flags.shiftBy !== undefined) targets.push(['--shift-by', () => ({ shiftBy: parseInteger(flags.shiftBy!, '--shift-by') })]);
  const [only] = targets;
  if (only === undefined || targets.length > 1) {
    const given = targets.length === 0 ? 'none' : targets.map(([name]) => name).join(' and ');
    throw new RunnelError('INVALID_ARGUMENT', `reset-offsets takes exactly one of --to-earliest, --to-latest, --to-offset, --to-time, --shift-by; got ${given}`);
  }
  return only[1]();
}

export function registerGroupsCommands(program: Command): void {
  const groups = program.command('groups').description('list, describe and delete consumer groups, and reset their offsets');
  groups
    .command('list')
    .description('one line per group: group, state, members')
    .action(() =>
      withClient(program, async (runnel) => {
        for (const g of await runnel.admin().listGroups()) out(`${g.groupId}\t${g.state}\t${g.members}`);
      }),
    );
  groups
    .command('describe <group>')
    .description('state, members and per partition: committed offset, high watermark, lag, owner')
    .addOption(new Option('--format <format>', 'text, or json (the SDK\'s GroupDescription)').choices(['text', 'json']).default('text'))
    .action((group: string, flags: { format: 'text' | 'json' }) =>
      withClient(program, async (runnel) => {
        const description = await runnel.admin().describeGroup(group);
        if (flags.format === 'json') out(JSON.stringify(description, null, 2));
        else printDescription(description);
      }),
    );
  groups
    .command('delete <group>')
    .description('delete a group without members and its committed offsets')
    .action((group: string) =>
      withClient(program, async (runnel) => {
        await runnel.admin().deleteGroup(group);
        out(`deleted group ${group}`);
      }),
    );
  groups
    .command('reset-offsets <group>')
    .description('move the committed offsets of a group without members (for replay); prints partition, previous, new')
    .requiredOption('--topic <topic>', 'the topic whose offsets move')
    .option('--to-earliest', 'to the log start')
    .option('--to-latest', 'to the log end (skip everything)')
    .option('--to-offset <n>', 'to offset n (clamped to the log)')
    .option('--to-time <iso-8601|epoch-ms>', 'to the first record at or after this time')
    .option('--shift-by <n>', 'by n from the committed offset (negative: back)')
    .addOption(new Option('--partition <p>', 'only this partition (repeatable)').argParser(collect).default([], 'every partition'))
    .option('--dry-run', 'print the new offsets, change nothing')
    .action((group: string, flags: ResetFlags) => {
      const target = resetTargetOf(flags);
      const partitions = flags.partition.map((p) => parseInteger(p, '--partition'));
      return withClient(program, async (runnel) => {
        const results = await runnel.admin().resetGroupOffsets(group, flags.topic, target, { partitions, dryRun: flags.dryRun === true });
        out('partition\tprevious\tnew');
        for (const r of results) out(`${r.partition}\t${offsetText(r.previousOffset)}\t${r.newOffset}`);
        if (flags.dryRun === true) process.stderr.write('dry run: no offset was changed\n');
      });
    });
}
