/**
 * One member of the group benchmark (a child process of group-bench.ts): joins a group with the
 * SDK's GroupConsumer and prints JSON lines on stdout:
 *   {"event":"assigned"|"revoked","partitions":N,"owned":N,"atMs":T}   from the hooks
 *   {"event":"count","records":N,"atMs":T}                            every 100 ms while records arrive
 *   {"event":"closed"}                                               after a clean leave (SIGTERM)
 * `atMs` is performance.timeOrigin + performance.now(), comparable between processes on one
 * machine to well under a millisecond. Exits when its stdin closes (its parent went away).
 *
 * Usage: node dist/bench/group-bench-member.js '{"brokers":"H:P","groupId":"g","topic":"t","sessionTimeoutMs":3000}'
 */
import fs from 'node:fs';
import { Runnel } from '../src/client/index.js';

interface MemberArgs {
  brokers: string;
  groupId: string;
  topic: string;
  sessionTimeoutMs: number;
  /** 'assign': no group, every partition assigned from the earliest offset (the baseline). */
  mode?: 'group' | 'assign';
  partitions?: number;
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const emit = (event: Record<string, unknown>): void => void fs.writeSync(1, `${JSON.stringify(event)}\n`);

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as MemberArgs;
  const runnel = new Runnel({ brokers: [args.brokers] });
  if (args.mode === 'assign') return assignMode(runnel, args);
  let owned = 0;
  const consumer = runnel.consumer({
    groupId: args.groupId,
    topics: [args.topic],
    autoOffsetReset: 'earliest',
    sessionTimeoutMs: args.sessionTimeoutMs,
    onAssigned: (tps) => emit({ event: 'assigned', partitions: tps.length, owned: (owned += tps.length), atMs: nowMs() }),
    onRevoked: (tps) => emit({ event: 'revoked', partitions: tps.length, owned: (owned -= tps.length), atMs: nowMs() }),
    onLost: (tps) => emit({ event: 'lost', partitions: tps.length, owned: (owned -= tps.length), atMs: nowMs() }),
  });
  let records = 0;
  let reported = 0;
  const report = setInterval(() => {
    if (records === reported) return;
    reported = records;
    emit({ event: 'count', records, atMs: nowMs() });
  }, 100);
  const stop = async (): Promise<void> => {
    clearInterval(report);
    emit({ event: 'count', records, atMs: nowMs() });
    await consumer.close();
    await runnel.close();
    emit({ event: 'closed' });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  emit({ event: 'started', atMs: nowMs() });
  for await (const batch of consumer.batches()) records += batch.messages.length;
}

/** The same reading loop without a group: every partition assigned from its log start. */
async function assignMode(runnel: Runnel, args: MemberArgs): Promise<void> {
  const consumer = runnel.consumer();
  let records = 0;
  const report = setInterval(() => emit({ event: 'count', records, atMs: nowMs() }), 100);
  process.once('SIGTERM', () => {
    clearInterval(report);
    void consumer.close().then(() => process.exit(0));
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  emit({ event: 'started', atMs: nowMs() });
  await consumer.assign(Array.from({ length: args.partitions ?? 1 }, (_, partition) => ({ topic: args.topic, partition, from: 'earliest' as const })));
  emit({ event: 'assigned', partitions: args.partitions ?? 1, owned: args.partitions ?? 1, atMs: nowMs() });
  for await (const batch of consumer.batches()) records += batch.messages.length;
}

main().catch((err: unknown) => {
  process.stderr.write(`group bench member: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
