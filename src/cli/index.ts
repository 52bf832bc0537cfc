#!/usr/bin/env node
/** The `runnel` command. Each subcommand lives in src/cli/commands/<name>.ts. */
import { Command } from 'commander';
import { isRunnelError } from '../common/errors.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerBrokerCommand } from './commands/broker.js';
import { registerDebugCommands } from './commands/debug.js';
import { registerGroupsCommands } from './commands/groups.js';
import { registerProduceConsumeCommands } from './commands/produce-consume.js';
import { DEFAULT_BROKERS, registerTopicsCommands } from './commands/topics.js';

const program = new Command();
program.name('runnel').description('Runnel: a partitioned, append-only log streaming platform').version('0.1.0');
program.option('--brokers <host:port,...>', `brokers to talk to (default RUNNEL_BROKERS or ${DEFAULT_BROKERS})`);
registerBrokerCommand(program);
registerTopicsCommands(program);
registerProduceConsumeCommands(program);
registerBenchCommand(program);
registerGroupsCommands(program);
registerDebugCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = isRunnelError(err) ? `${err.code}: ` : '';
  process.stderr.write(`runnel: ${code}${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
