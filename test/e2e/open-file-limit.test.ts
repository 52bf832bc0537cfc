/**
 * The broker checks its open-file limit at start (issue 11, finding 14): every segment holds a
 * descriptor and every connection a socket, so a soft RLIMIT_NOFILE below what the data
 * directory and limits.maxConnections need is logged at start with the figures and the fix,
 * instead of surfacing later as EMFILE on a roll or an accept. Run under `prlimit`.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));

/** Starts the broker under `prlimit --nofile=N`; resolves with its stdout lines up to `listening`, then stops it. */
function startLimited(nofile: number, set: string[]): Promise<string[]> {
  const args = [`--nofile=${nofile}:${nofile}`, process.execPath, CLI, 'broker', '--data', tempDir('runnel-nofile-'), '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info', ...set.flatMap((s) => ['--set', s])];
  const child = spawn('prlimit', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no 'listening' line within 20 s: ${lines.join('\n')}`));
    }, 20_000);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (!/listening on/.test(line)) return;
      clearTimeout(timer);
      child.once('exit', () => resolve(lines));
      child.kill('SIGTERM');
    });
    child.once('error', reject);
  });
}

describe('broker: open-file limit', () => {
  it('warns at start when the soft limit is below what segments and limits.maxConnections need', async () => {
    const lines = await startLimited(300, ['limits.maxConnections=1000']);
    const warning = lines.find((l) => /open-file limit/.test(l));
    expect(warning, lines.join('\n')).toBeDefined();
    expect(warning).toMatch(/"openFilesSoftLimit":300/);
    expect(warning).toMatch(/ulimit -n|LimitNOFILE/);
  });

  it('says nothing when the limit covers them', async () => {
    const lines = await startLimited(20_000, ['limits.maxConnections=1000']);
    expect(lines.some((l) => /open-file limit/.test(l))).toBe(false);
  });
});
