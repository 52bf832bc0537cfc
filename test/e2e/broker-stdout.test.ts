/**
 * A broker whose stdout reader goes away (`runnel broker | head`, a supervisor that died) still
 * shuts down on SIGTERM, and says on stderr that its logging stopped. The CLI in dist/ runs as a
 * real child process; its stdout is a real pipe whose read end is closed.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const EXIT_WAIT_MS = 20_000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('broker with a closed stdout', () => {
  it('exits on SIGTERM after its stdout reader went away', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [CLI, 'broker', '--data', dir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines = readline.createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the broker did not listen within 20 s')), EXIT_WAIT_MS);
      lines.on('line', (line) => {
        if (!/listening on \S+:\d+\s*$/.test(line)) return;
        clearTimeout(timer);
        resolve();
      });
    });
    lines.close();
    child.stdout.destroy();
    const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), EXIT_WAIT_MS))]);
    expect(code, `exit code (stderr: ${stderr})`).toBe(0);
    expect(stderr).toMatch(/logging to stdout stopped: EPIPE/);
  });
});
