/** The `runnel topics` and `runnel offsets` commands, run as child processes against a real broker. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../broker/helpers.js';
import { makeBatch } from '../storage/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));

function runnel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('runnel topics / offsets', () => {
  it('creates, lists, describes, alters and deletes topics, and lists offsets', async () => {
    const { running, clients } = await startTestBroker();
    const brokers = ['--brokers', `127.0.0.1:${running.port}`];
    expect(await runnel([...brokers, 'topics', 'create', 'orders', '--partitions', '3', '--config', 'retentionMs=3600000'])).toMatchObject({ code: 0, stdout: 'created topic orders\n' });
    expect((await runnel([...brokers, 'topics', 'list'])).stdout).toBe('orders\t3\n');
    const described = await runnel([...brokers, 'topics', 'describe', 'orders']);
    expect(described.stdout).toContain('retentionMs=3600000');
    expect(described.stdout.trim().split('\n')).toHaveLength(5);
    expect((await runnel([...brokers, 'topics', 'alter', 'orders', '--config', 'retentionBytes=1000'])).stdout).toContain('retentionBytes=1000');
    await clients.call('broker', 'produce', { acks: 'ACKS_ALL', topics: [{ topic: 'orders', partitions: [{ partition: 1, records: makeBatch({ records: 4, timestampMs: 5_000 }) }] }] });
    expect((await runnel([...brokers, 'offsets', 'orders'])).stdout).toBe('partition\tearliest\tlatest\n0\t0\t0\n1\t0\t4\n2\t0\t0\n');
    expect((await runnel([...brokers, 'offsets', 'orders', '--time', '4000'])).stdout.split('\n')[1]).toBe('1\t0');
    const duplicate = await runnel([...brokers, 'topics', 'create', 'orders']);
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: TOPIC_ALREADY_EXISTS: /)]);
    expect(await runnel([...brokers, 'topics', 'delete', 'orders'])).toMatchObject({ code: 0, stdout: 'deleted topic orders\n' });
    const unknown = await runnel([...brokers, 'topics', 'describe', 'orders']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^runnel: UNKNOWN_TOPIC: /);
  });

  it('says in one line that no broker answers, and exits non-zero', async () => {
    const down = await runnel(['--brokers', '127.0.0.1:1', 'topics', 'list']);
    expect(down.code).not.toBe(0);
    expect(down.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^runnel: BROKER_UNAVAILABLE: /)]);
  });
});
