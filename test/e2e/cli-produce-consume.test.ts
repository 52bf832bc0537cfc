/** `runnel produce` and `runnel consume` as child processes: 100,000 lines round trip, replay. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../broker/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));

function runnel(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

describe('runnel produce / consume', () => {
  it('round-trips 100,000 lines, keeps per-key order, and replays from an offset and a time', async () => {
    const { running } = await startTestBroker();
    const brokers = ['--brokers', `127.0.0.1:${running.port}`];
    expect((await runnel([...brokers, 'topics', 'create', 'lines', '--partitions', '4'])).code).toBe(0);
    const lines = Array.from({ length: 100_000 }, (_, i) => `k${i % 97}:v${i}`);
    const produced = await runnel([...brokers, 'produce', 'lines', '--key-separator', ':'], lines.join('\n') + '\n');
    expect(produced.code).toBe(0);
    expect(produced.stderr).toMatch(/^produced 100000 records/);
    const startedMs = Date.now();
    const consumed = await runnel([...brokers, 'consume', 'lines', '--from-beginning', '--max-messages', '100000', '--print-key']);
    expect(consumed.code).toBe(0);
    const got = consumed.stdout.trim().split('\n');
    expect([...got].sort()).toEqual(lines.map((l) => l.replace(':', '\t')).sort());
    const lastByKey = new Map<string, number>();
    for (const line of got) {
      const [key, value] = line.split('\t') as [string, string];
      const n = Number(value.slice(1));
      expect(n).toBeGreaterThan(lastByKey.get(key) ?? -1);
      lastByKey.set(key, n);
    }
    const replay = await runnel([...brokers, 'consume', 'lines', '--partition', '2', '--offset', '10', '--max-messages', '3', '--print-offset']);
    expect(replay.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['2:10', '2:11', '2:12']);
    const later = await runnel([...brokers, 'consume', 'lines', '--from-time', String(startedMs + 60_000), '--timeout-ms', '300']);
    expect(later).toMatchObject({ code: 0, stdout: '' });
  });

  it('refuses an unknown topic in one line with a non-zero exit', async () => {
    const { running } = await startTestBroker();
    const result = await runnel(['--brokers', `127.0.0.1:${running.port}`, 'consume', 'nope', '--timeout-ms', '100']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: UNKNOWN_TOPIC: /)]);
  });
});
