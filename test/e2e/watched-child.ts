/**
 * A child process watched for the end-to-end tests: its stdout lines, its stderr and its exit,
 * each change notifying a Hub so waits are driven by events. Other e2e tests keep their own
 * copies of this (BrokerProcess in broker-crash, crash, groups-chaos); new tests use this one.
 */
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Hub } from './event-waits.js';

export interface WatchedChild {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: () => string;
  readonly exit: () => { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Resolves after the exit and after stdout ended, so every printed line has been seen. */
  readonly exited: Promise<void>;
  /** One line for an assertion message: state, last stdout lines, stderr tail. */
  readonly describe: () => string;
}

/** Watches a child spawned with stdout and stderr as pipes. */
export function watchChild(child: ChildProcess, hub: Hub): WatchedChild {
  const lines: string[] = [];
  let stderr = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    hub.notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    hub.notify();
  });
  const exited = new Promise<void>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      exit ??= { code, signal };
      hub.notify();
      resolve();
    };
    child.on('close', done);
    child.on('error', (err) => {
      stderr += String(err);
      done(null, null);
    });
  });
  const describe = (): string => {
    const state = exit === null ? `pid ${child.pid} running` : `exit code ${exit.code}, signal ${exit.signal}`;
    return `${state}; last lines: ${JSON.stringify(lines.slice(-3))}; stderr: ${stderr.slice(-2000)}`;
  };
  return { child, lines, stderr: () => stderr, exit: () => exit, exited, describe };
}
