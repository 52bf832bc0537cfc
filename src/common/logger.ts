/** Structured logging (pino). Storage and broker take a Logger so tests can keep quiet. */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A logger writing JSON lines to stdout, synchronously (pino's default). Two guards around
 * sonic-boom 4, pino's writer, for a stdout whose reader has gone (`runnel broker | head`, a
 * supervisor that died): its flushSync retries a failed write forever unless the error is
 * EAGAIN, and pino flushes at exit, so the process would hang on EPIPE instead of exiting; and
 * an error event nobody listens to would crash it. A sync writer has nothing left to flush once
 * a write returns, so flushSync is a no-op, and after a failed write logging stops, with one
 * line on stderr saying why.
 */
export function createLogger(level: string = process.env.RUNNEL_LOG_LEVEL ?? 'info'): Logger {
  const destination = pino.destination({ fd: 1, sync: true });
  destination.flushSync = () => undefined;
  destination.on('error', (err: NodeJS.ErrnoException) => {
    destination.write = () => true;
    process.stderr.write(`runnel: logging to stdout stopped: ${err.code ?? err.message}\n`);
  });
  return pino({ level, base: { service: 'runnel' } }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });
