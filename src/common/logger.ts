/** Structured logging (pino). Storage and broker take a Logger so tests can keep quiet. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.RUNNEL_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'runnel' } });
}

export const silentLogger: Logger = pino({ level: 'silent' });
