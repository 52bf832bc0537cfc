/**
 * `runnel debug dump-log FILE` and `runnel debug verify DATA_DIR`: offline tools that read a
 * data directory and never change it (files are opened read-only; the data-directory lock is
 * only probed, with a shared lock dropped at once).
 *
 * dump-log prints every batch of a segment file, as Kafka's kafka-dump-log does, one line of
 * `key: value` fields per batch (`--records`: one `| ...` line per record after it), or the
 * entries of an offset or time index; exit 1 when something is damaged, else 0. verify prints
 * one `damage: <file>[:<position>]: ...` line per problem and `note: ...` lines, then a
 * summary; exit 0 when clean, 1 on damage, 2 when it could not run (no such directory, or a
 * broker holds it).
 */
import type { Command } from 'commander';
import { RunnelError, isRunnelError } from '../../common/errors.js';
import { verifyDataDirSync } from '../../storage/verify.js';
import { LineOutput } from '../line-output.js';
import { dumpFile, plural } from './dump-log.js';

const EXIT_DAMAGE = 1;
const EXIT_CANNOT_RUN = 2;

export function registerDebugCommands(program: Command): void {
  const debug = program.command('debug').description('offline, read-only tools for data directories');
  debug
    .command('dump-log <file>')
    .description('print every batch of a segment file (.log): offsets, timestamps, producer fields, codec, CRC status; or the entries of a .index / .timeindex')
    .option('--records', 'also print every record: offset, timestamp, key and value sizes, header count')
    .action(async (file: string, flags: { records?: boolean }) => {
      process.exitCode = (await dumpFile(new LineOutput(), file, flags.records === true)) > 0 ? EXIT_DAMAGE : 0;
    });
  debug
    .command('verify <dataDir>')
    .description('check a stopped broker\'s data directory: CRCs, record walks, gaps, indexes, checkpoints (exit 0 clean, 1 damage, 2 cannot run)')
    .option('--default-cleanup-policy <policy>', 'the broker\'s log.cleanupPolicy, for topics that set none: delete or compact', 'delete')
    .action(async (dataDir: string, flags: { defaultCleanupPolicy: string }) => {
      const out = new LineOutput();
      try {
        const policy = flags.defaultCleanupPolicy;
        if (policy !== 'delete' && policy !== 'compact') throw new RunnelError('INVALID_ARGUMENT', `--default-cleanup-policy takes delete or compact, got "${policy}"`);
        const report = verifyDataDirSync(dataDir, { defaultCleanupPolicy: policy });
        for (const line of report.damage) await out.line(`damage: ${line}`);
        for (const line of report.notes) await out.line(`note: ${line}`);
        await out.line(`verified ${report.partitions} partitions, ${report.segments} segments, ${report.batches} batches: ${plural(report.damage.length, 'problem')}`);
        await out.flush();
        process.exitCode = report.damage.length > 0 ? EXIT_DAMAGE : 0;
      } catch (err) {
        process.stderr.write(`runnel: ${isRunnelError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = EXIT_CANNOT_RUN;
      }
    });
}
