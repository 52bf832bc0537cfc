/**
 * One broker process (the CLI in dist/) on a data directory, with a gRPC client on its port and
 * its stdout lines (pino JSON) kept, for the e2e tests that need a broker they can lose: a loop
 * that spins or an exception that kills the process cannot hang or crash the test runner.
 * Killed (SIGKILL, by PID) after each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { connect, type Clients } from '../broker/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));

export interface BrokerProcess {
  child: ChildProcess;
  clients: Clients;
  /** stdout lines so far. */
  lines: string[];
  /** Exit code or signal once exited, else null. */
  exit: () => number | string | null;
  /** Resolves with the first stdout line (past or future) matching `pattern`; rejects when the process exits first or after `timeoutMs`. */
  line: (pattern: RegExp, timeoutMs: number) => Promise<string>;
}

const running: BrokerProcess[] = [];
afterEach(() => {
  for (const broker of running.splice(0)) {
    broker.clients.close();
    broker.child.kill('SIGKILL');
  }
});

/** Starts `runnel broker` with `--set` for each of `set`; resolves once it listens. */
export async function startBrokerProcess(dataDir: string, set: string[], startTimeoutMs: number, logLevel = 'warn'): Promise<BrokerProcess> {
  const args = [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', logLevel, ...set.flatMap((s) => ['--set', s])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let exit: number | string | null = null;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  readline.createInterface({ input: child.stdout }).on('line', (text) => {
    lines.push(text);
    notify();
  });
  child.once('exit', (code, signal) => {
    exit = code ?? signal;
    notify();
  });
  const line = (pattern: RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const finish = (result: string | Error): void => {
        clearTimeout(timer);
        listeners.delete(check);
        if (typeof result === 'string') resolve(result);
        else reject(result);
      };
      const check = (): void => {
        const found = lines.find((l) => pattern.test(l));
        if (found !== undefined) finish(found);
        else if (exit !== null) finish(new Error(`the broker exited (${exit}) before printing ${pattern}`));
      };
      const timer = setTimeout(() => finish(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      listeners.add(check);
      check();
    });
  const listening = await line(/listening on \S+:\d+\s*$/, startTimeoutMs);
  const clients = connect(/listening on (\S+:\d+)\s*$/.exec(listening)![1]);
  const broker: BrokerProcess = { child, clients, lines, exit: () => exit, line };
  running.push(broker);
  return broker;
}
