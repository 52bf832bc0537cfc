/**
 * Where flock(1) is not installed (macOS without Homebrew's util-linux), the broker still
 * starts (`npm start` needs nothing but npm): the data-directory lock falls back to a check of
 * the recorded owner (host and a live PID), and says at start that this check cannot see other
 * PID namespaces. A second broker on the same directory is refused while the first runs, and a
 * third starts once the first was SIGKILLed. The brokers run with a PATH holding only node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A PATH with node and nothing else (no flock). */
function nodeOnlyPath(): string {
  const bin = tempDir('runnel-nodeonly-');
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

/** Starts a broker; resolves with its stdout lines once it listens, or with how it exited. */
function start(dataDir: string, pathEnv: string): Promise<{ child: ChildProcess; lines: string[]; exit: number | null }> {
  const child = spawn(process.execPath, [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: pathEnv },
  });
  children.push(child);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`neither listening nor exited within 20 s: ${lines.join('\n')}`)), 20_000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (/listening on/.test(line)) {
        clearTimeout(timer);
        resolve({ child, lines, exit: null });
      }
    });
    readline.createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ child, lines, exit: code ?? -1 });
    });
  });
}

describe('data-directory lock without flock(1)', () => {
  it('starts with a warning, refuses a second broker while the first runs, and starts after a SIGKILL', async () => {
    const dataDir = tempDir('runnel-nolock-');
    const pathEnv = nodeOnlyPath();
    const first = await start(dataDir, pathEnv);
    expect(first.exit, first.lines.join('\n')).toBeNull();
    expect(first.lines.some((l) => /flock\(1\) is not installed/.test(l) && /PID namespaces/.test(l))).toBe(true);
    const second = await start(dataDir, pathEnv);
    expect(second.exit).not.toBeNull();
    expect(second.exit).not.toBe(0);
    expect(second.lines.join('\n')).toMatch(/STORAGE_ERROR.*locked by another process/);
    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;
    const third = await start(dataDir, pathEnv);
    expect(third.exit, third.lines.join('\n')).toBeNull();
  });
});
