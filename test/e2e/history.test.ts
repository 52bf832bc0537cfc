/**
 * The history checker (history/history-checker.ts) on a real run: a broker process, a plain and
 * an idempotent producer (acks all) and two members of one group (commits every 40 records)
 * work through faults: the broker SIGSTOPped for 2 s, then SIGKILLed and restarted twice on the
 * same data directory and port, with the members alive throughout. Afterwards every partition is
 * read whole and the history checked for lost acknowledged writes, duplicates of the idempotent
 * producer, one offset holding two records, backwards reads and commits ahead of what was read
 * or of the log end. The run prints its volumes against a stated minimum (at least 2,000
 * acknowledged records and 3 faults), so "no anomaly" never means "nothing happened".
 */
import { describe, expect, it } from 'vitest';
import { Runnel, type GroupConsumer } from '../../src/client/index.js';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { connect, freePort } from '../broker/helpers.js';
import { tempDir } from '../storage/helpers.js';
import { startBrokerProcess, type BrokerProcess } from './broker-process.js';
import { checkHistory, type FinalPartition, type HistoryEvent } from './history/history-checker.js';

const TOPIC = 'history';
const PARTITIONS = 4;
const ACKED_MIN = 2_000;
const FAULTS_MIN = 3;

const settings = (port: number): string[] => [`listen=127.0.0.1:${port}`, 'groups.initialAssignmentDelayMs=0', 'groups.heartbeatIntervalMs=500'];

async function killed(broker: BrokerProcess): Promise<void> {
  if (broker.exit() !== null) return;
  const exited = new Promise((resolve) => broker.child.once('exit', resolve));
  broker.child.kill('SIGKILL');
  await exited;
}

/** Keeps sending batches of 20 unique values until `stop()`; records each acknowledged one. */
function producing(runnel: Runnel, name: string, idempotent: boolean, history: HistoryEvent[]): { stop: () => Promise<void> } {
  const producer = runnel.producer({ idempotent, acks: 'all', lingerMs: 1, deliveryTimeoutMs: 60_000, requestTimeoutMs: 5_000 });
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const values = Array.from({ length: 20 }, () => `${name}-${n++}`);
      try {
        const sent = await producer.send({ topic: TOPIC, messages: values.map((value, i) => ({ value, partition: (n + i) % PARTITIONS })) });
        sent.forEach((meta, i) => history.push({ type: 'ack', producer: name, idempotent, value: values[i], partition: meta.partition, offset: meta.offset }));
      } catch {
        // Not acknowledged: it may or may not have been written; the checker asks nothing of it.
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await producer.close();
    },
  };
}

/** A group member reading and committing every 40 records; records what it read and committed. */
function consuming(runnel: Runnel, name: string, history: HistoryEvent[]): { stop: () => Promise<void> } {
  const readSinceCommit = new Map<number, number>();
  const consumer: GroupConsumer = runnel.consumer({
    groupId: 'g',
    topics: [TOPIC],
    autoOffsetReset: 'earliest',
    autoCommit: false,
    sessionTimeoutMs: 10_000,
    onAssigned: (partitions) => {
      for (const p of partitions) history.push({ type: 'assigned', consumer: name, partition: p.partition });
    },
  });
  const loop = (async () => {
    let count = 0;
    for await (const message of consumer) {
      history.push({ type: 'read', consumer: name, group: 'g', partition: message.partition, offset: message.offset, value: message.value!.toString() });
      consumer.markProcessed(message);
      readSinceCommit.set(message.partition, message.offset);
      if (++count % 40 !== 0) continue;
      const pending = [...readSinceCommit];
      readSinceCommit.clear();
      try {
        await consumer.commit();
        for (const [partition, offset] of pending) history.push({ type: 'commit', consumer: name, group: 'g', partition, offset: offset + 1 });
      } catch {
        // Not acknowledged: not recorded.
      }
    }
  })().catch(() => undefined);
  return {
    stop: async () => {
      await consumer.close();
      await loop;
    },
  };
}

async function readWhole(address: string): Promise<FinalPartition[]> {
  const c = connect(address);
  try {
    const final: FinalPartition[] = [];
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const records: FinalPartition['records'] = [];
      let offset = 0;
      let logEndOffset = 0;
      for (;;) {
        const res = await c.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic: TOPIC, partitions: [{ partition, fetchOffset: offset, maxBytes: 0 }] }] });
        const p = res.topics[0].partitions[0];
        expect(p.error).toBeNull();
        logEndOffset = Number(p.offsets.logEndOffset);
        for (const batch of decodeRecordBatches(p.records)) for (const r of batch.records) if (r.offset >= offset) records.push({ offset: r.offset, value: r.value!.toString() });
        if (Number(p.nextOffset) === offset || Number(p.nextOffset) >= logEndOffset) break;
        offset = Number(p.nextOffset);
      }
      final.push({ partition, logEndOffset, records });
    }
    return final;
  } finally {
    c.close();
  }
}

describe('history under broker faults', () => {
  it('no lost ack, duplicate, double offset, backwards read or commit ahead through SIGSTOP and two SIGKILLs', async () => {
    const dataDir = tempDir('runnel-history-');
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    let broker = await startBrokerProcess(dataDir, settings(port), 20_000);
    const runnel = new Runnel({ brokers: [address] });
    const history: HistoryEvent[] = [];
    let faults = 0;
    try {
      await runnel.admin().createTopic(TOPIC, { partitions: PARTITIONS });
      const producers = [producing(runnel, 'plain', false, history), producing(runnel, 'idem', true, history)];
      const consumers = [consuming(runnel, 'c1', history), consuming(runnel, 'c2', history)];
      const acked = (): number => history.filter((e) => e.type === 'ack').length;
      const until = async (count: number): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (acked() < count) {
          if (Date.now() > deadline) throw new Error(`only ${acked()} acknowledged records, waiting for ${count}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };

      await until(400);
      broker.child.kill('SIGSTOP');
      faults++;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      broker.child.kill('SIGCONT');
      for (const round of [1, 2]) {
        await until(400 + round * 700);
        await killed(broker);
        faults++;
        broker = await startBrokerProcess(dataDir, settings(port), 20_000);
      }
      await until(ACKED_MIN + 200);
      for (const p of producers) await p.stop();
      for (const c of consumers) await c.stop();

      const { anomalies, stats } = checkHistory(history, await readWhole(address));
      console.log(
        `history: ${stats.acknowledged} acknowledged records (minimum ${ACKED_MIN}), ${stats.reads} reads, ${stats.commits} commits, ` +
          `${stats.finalRecords} records in the final log, ${faults} faults (minimum ${FAULTS_MIN}: 1 SIGSTOP, 2 SIGKILL); anomalies: ${anomalies.length}`,
      );
      expect(anomalies).toEqual([]);
      expect(stats.acknowledged).toBeGreaterThanOrEqual(ACKED_MIN);
      expect(faults).toBeGreaterThanOrEqual(FAULTS_MIN);
      expect(stats.reads).toBeGreaterThan(0);
      expect(stats.commits).toBeGreaterThan(0);
    } finally {
      await runnel.close();
      await killed(broker);
    }
  });
});
