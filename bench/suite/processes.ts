/**
 * The processes of the benchmark suite (suite.ts): the broker child, the peers (scripts/peers.sh),
 * one client process per job (client.ts), the raw grpc-js server and client of the byte ceiling,
 * the relay of the latency floor; and the raw file append measured in-process. Everything
 * started here is stopped by its own PID, and every child with a stdin pipe ends with the suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { listeningAddress, startBrokerChild } from '../broker-bench-common.js';
import type { Job, JobResult } from './client.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT = path.join(HERE, 'client.js');
const CLI = path.join(HERE, '..', '..', 'src', 'cli', 'index.js');
export const PEERS_SCRIPT = path.join(HERE, '..', '..', '..', 'scripts', 'peers.sh');
const RAW_SERVER = path.join(HERE, '..', 'broker-bench-raw-server.js');
const RAW_CLIENT = path.join(HERE, '..', 'broker-bench-client.js');
const RELAY_SERVER = path.join(HERE, 'relay-server.js');

export function startBroker(dataDir: string): Promise<{ child: ChildProcess; address: string }> {
  return startBrokerChild(CLI, dataDir, ['--set', 'groups.initialAssignmentDelayMs=0']);
}

export interface Peer {
  name: string;
  address: string;
  version: string;
  durability: string;
}

export function startPeers(dir: string): { peers: Peer[]; skipped: string[] } {
  const run = spawnSync('bash', [PEERS_SCRIPT, 'start', dir], { encoding: 'utf8', timeout: 60_000 });
  const peers: Peer[] = [];
  const skipped: string[] = [];
  for (const line of run.stdout.split('\n')) {
    const peer = /^peer (\S+) (\S+) pid \d+ version (\S+) (?:fsync|sync) (\S+)/.exec(line);
    if (peer !== null) peers.push({ name: peer[1]!, address: peer[2]!, version: peer[3]!, durability: peer[4]! });
    else if (line.startsWith('skip ')) skipped.push(line.slice('skip '.length));
  }
  return { peers, skipped };
}

export function runJob(job: Job): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    // Its stdin stays open while it runs: a job exits when the suite goes away (Ctrl-C, a crash).
    const child = spawn(process.execPath, [CLIENT, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    let result: JobResult | null = null;
    let error: string | null = null;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; message?: string } & JobResult;
      if (event.event === 'result') result = event;
      else if (event.event === 'error') error = event.message ?? 'failed';
    });
    child.once('exit', () => {
      clearTimeout(timer);
      if (result !== null) resolve(result);
      else reject(new Error(`${job.system} ${job.kind}: ${error ?? 'exited without a result'}`));
    });
  });
}

/**
 * The raw grpc-js ceiling: a client process streaming 64 KiB messages to the broker bench's raw
 * server process (passthrough serialization, nothing done with the bytes), MB/s.
 */
export async function rawGrpcMBps(bytes: number): Promise<number> {
  const server = spawn(process.execPath, [RAW_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    let target = '';
    for await (const line of readline.createInterface({ input: server.stdout })) {
      const address = listeningAddress(line);
      if (address !== null) {
        target = address;
        break;
      }
    }
    const job = { kind: 'rawUpload', target, channelOptions: {}, bytes, warmupBytes: 8 * 2 ** 20, window: 16, topic: '', partitions: 1, acks: 'ACKS_LEADER', finalFlush: false };
    // Its stdin stays open while it runs: the client exits when its parent goes away.
    const client = spawn(process.execPath, [RAW_CLIENT, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      for await (const line of readline.createInterface({ input: client.stdout })) {
        const event = JSON.parse(line) as { event: string; bytes?: number; durationMs?: number; message?: string };
        if (event.event === 'result') return event.bytes! / event.durationMs! / 1000;
        if (event.event === 'error') throw new Error(`raw grpc upload: ${event.message ?? 'failed'}`);
      }
      throw new Error('the raw grpc client exited without a result');
    } finally {
      client.kill('SIGTERM');
    }
  } finally {
    server.kill('SIGTERM');
  }
}

/**
 * The raw grpc-js relay (relay-server.ts), the latency floor: a fresh one for each latency run,
 * so no state (streams, buffers) carries from one run to the next; its stdin is kept open, so it
 * also ends if the suite dies.
 */
export async function startRelay(): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [RELAY_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const address = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const found = listeningAddress(line);
      if (found !== null) resolve(found);
    });
    child.once('exit', () => reject(new Error('the relay exited before listening')));
  });
  return { child, address };
}

/** Samples a process's resident set (Linux /proc) until stopped; returns the maximum seen. */
export function rssSampler(pid: number): { stop(): number } {
  let maxBytes = 0;
  const sample = (): void => {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb !== undefined) maxBytes = Math.max(maxBytes, Number(kb) * 1024);
    } catch {
      // Not Linux, or the process is gone: no figure.
    }
  };
  const timer = setInterval(sample, 200);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return maxBytes;
    },
  };
}

/** The raw ceiling: the same bytes appended to a file with writeSync, 64 KiB at a time. */
export function rawAppendMBps(dir: string, bytes: number): number {
  const file = path.join(dir, 'raw-append.bin');
  const chunk = Buffer.alloc(64 * 1024, 7);
  const fd = fs.openSync(file, 'w');
  const started = performance.now();
  for (let written = 0; written < bytes; ) written += fs.writeSync(fd, chunk);
  const ms = performance.now() - started;
  fs.closeSync(fd);
  fs.rmSync(file);
  return bytes / ms / 1000;
}
