#!/usr/bin/env node
/** The `runnel` command. Subcommands arrive with their issues; `broker` comes with the gRPC server. */
import { Command } from 'commander';

const program = new Command();
program.name('runnel').description('Runnel: a partitioned, append-only log streaming platform').version('0.1.0');

program
  .command('broker')
  .description('start a broker (coming with the gRPC server; the storage engine is in place)')
  .action(() => {
    process.stdout.write(
      'runnel: the storage engine is built; the gRPC broker comes next (see the open issues).\n' +
        'Try `npm run bench:storage` to measure the storage engine on this machine.\n',
    );
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`runnel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
