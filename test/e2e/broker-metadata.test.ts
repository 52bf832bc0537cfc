/**
 * Hardening #6 through the real CLI: a broker whose topic file is unreadable (zero length, as a
 * power cut can leave it) refuses to start with one line on stderr naming the file and the fix,
 * exits non-zero, and leaves the topic's log in place.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LogManager } from '../../src/storage/log-manager.js';
import { makeBatch, tempDir } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const EXIT_WAIT_MS = 20_000;

/** Runs `runnel broker` on `dataDir` until it exits (or EXIT_WAIT_MS, then kills it: 'hung'). */
async function runBroker(dataDir: string): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'broker', '--data', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), EXIT_WAIT_MS)))]);
  clearTimeout(timer);
  if (code === 'hung') {
    child.kill('SIGKILL');
    await exited;
  }
  return { code, stdout, stderr };
}

describe('broker start with an unreadable topic file', () => {
  it('exits 1 with one line on stderr naming the file and the fix, and deletes nothing', async () => {
    const dataDir = tempDir();
    const logs = LogManager.open({ dataDir, background: false });
    await logs.createLog('kept', 0, undefined, 'topic-id-1').append(makeBatch({ records: 3 }), { durable: true });
    await logs.close();
    const topicFile = path.join(dataDir, 'meta', 'topics', 'kept.json');
    fs.mkdirSync(path.dirname(topicFile), { recursive: true });
    fs.writeFileSync(topicFile, '');
    const segment = path.join(dataDir, 'kept-0', '00000000000000000000.log');
    const bytes = fs.readFileSync(segment);

    const { code, stdout, stderr } = await runBroker(dataDir);

    expect(code, `exit code (stdout: ${stdout})`).toBe(1);
    const lines = stderr.split('\n').filter((line) => line.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^runnel: STORAGE_ERROR: .*cannot start: topic metadata .*kept\.json is unreadable .*restore it from a backup, or move it out of/);
    expect(stdout).not.toMatch(/listening on/);
    expect(fs.readFileSync(segment)).toEqual(bytes);
  });
});
