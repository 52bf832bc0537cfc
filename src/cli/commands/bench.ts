/**
 * `runnel bench`: the benchmark suite (bench/suite/suite.ts): Runnel against a raw file append
 * and against Redis Streams and NATS JetStream when they are installed (scripts/peers.sh
 * install). Loaded only when the command runs: the suite and its peer clients are not part of
 * the SDK.
 */
import type { Command } from 'commander';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark suite (markdown table on stdout; --json FILE also writes SVG charts)')
    .allowUnknownOption(true)
    .helpOption(false)
    .argument('[args...]', 'suite flags: --quick, --records N, --reps N, --rates R,R, --workload FILE.json, --no-peers, --json FILE')
    .action(async (args: string[]) => {
      const suite = (await import(new URL('../../../bench/suite/suite.js', import.meta.url).href)) as { runSuite(argv: string[]): Promise<void> };
      await suite.runSuite(args);
    });
}
