/**
 * `runnel broker`: runs a broker in this process until SIGTERM or SIGINT, then shuts down
 * cleanly (in-flight requests finish, logs flush, checkpoints and the clean-shutdown marker are
 * written) and exits 0; if that takes longer than shutdownTimeoutMs plus a margin, it exits 1.
 */
import type { Command } from 'commander';
import { formatHostPort, loadBrokerConfig } from '../../broker/config.js';
import { startBroker } from '../../broker/server.js';
import { createLogger } from '../../common/logger.js';

const EXIT_MARGIN_MS = 5_000;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerBrokerCommand(program: Command): void {
  program
    .command('broker')
    .description('run a broker (data directory, gRPC on --listen, metrics on --metrics-listen)')
    .option('--data <dir>', 'data directory (default ./data)')
    .option('--listen <host:port>', 'gRPC address (default 127.0.0.1:9400; port 0 = any free port)')
    .option('--config <file>', 'JSON config file (same keys as the config; see docs/broker.md)')
    .option('--metrics-listen <host:port|off>', 'Prometheus /metrics address (default 127.0.0.1:9401)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--auto-create-topics', 'create unknown topics on produce')
    .option('--default-partitions <n>', 'partitions of auto-created topics')
    .option('--set <key=value>', 'any config key, e.g. limits.maxRequestBytes=1048576 (repeatable)', collect, [])
    .action(async (flags: Record<string, unknown>) => {
      const config = loadBrokerConfig({ flags, env: process.env });
      const logger = createLogger(config.logLevel);
      const running = await startBroker(config, logger);
      const stop = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        setTimeout(() => {
          logger.error('shutdown took too long; exiting');
          process.exit(1);
        }, config.shutdownTimeoutMs + EXIT_MARGIN_MS).unref();
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // Announced only now: a supervisor may send SIGTERM as soon as it reads this line, and a
      // signal before the handlers exist would kill the broker without its clean shutdown.
      process.stdout.write(`runnel broker ${config.brokerId} listening on ${formatHostPort({ host: config.listen.host, port: running.port })}\n`);
    });
}
