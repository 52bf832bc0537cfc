/**
 * Storage faults show in the metrics (issue 11, finding 13: "metrics say so"): failed rounds
 * of each background task (`runnel_background_task_failures{task}`) and partitions whose log
 * refuses appends after a write error (`runnel_partition_failed{topic,partition}`). Real
 * faults: a directory where the recovery-point checkpoint is written (EISDIR at the rename
 * retention does after deleting a segment), and a directory where a segment's offset index is
 * written at its roll.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

async function gauge(broker: Broker, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = broker.metrics.registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value))?.value;
}

function smallSegments(retentionBytes: number): { name: string; value: string }[] {
  return [
    { name: 'segmentBytes', value: String(16 * 1024) },
    { name: 'maxMessageBytes', value: String(8 * 1024) },
    { name: 'retentionBytes', value: String(retentionBytes) },
  ];
}

async function produce(clients: Clients, topic: string, tag: string): Promise<string | null> {
  const answer = await clients.call('broker', 'produce', { acks: 'ACKS_LEADER', topics: [{ topic, partitions: [{ partition: 0, records: makeBatch({ records: 2, valueBytes: 500, tag }) }] }] });
  return answer.topics[0].partitions[0].error?.code ?? null;
}

describe('metrics: storage faults', () => {
  it('counts failed background rounds per task and marks partitions whose log refuses appends', async () => {
    const { running, clients, dataDir } = await startTestBroker({ set: ['retentionCheckIntervalMs=50'] });
    const broker = running.broker;
    const created = await clients.call('admin', 'createTopics', {
      topics: [
        { name: 'retained', partitions: 1, configs: smallSegments(16 * 1024) },
        { name: 'failing', partitions: 1, configs: smallSegments(-1) },
      ],
    });
    expect(created.topics.map((t: any) => t.error)).toEqual([null, null]);
    expect(await gauge(broker, 'runnel_partition_failed', { topic: 'failing', partition: '0' })).toBe(0);

    const checkpoint = path.join(dataDir, 'recovery-point-offset-checkpoint');
    fs.rmSync(checkpoint, { recursive: true, force: true });
    fs.mkdirSync(checkpoint);
    fs.writeFileSync(path.join(checkpoint, 'keep'), '');
    for (let i = 0; i < 40; i++) expect(await produce(clients, 'retained', `r${i}`)).toBeNull();
    const deadline = Date.now() + 10_000;
    while (((await gauge(broker, 'runnel_background_task_failures', { task: 'retention' })) ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error('no failed retention round counted within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await gauge(broker, 'runnel_background_task_failures', { task: 'flush' })).toBe(0);

    const index = path.join(dataDir, 'failing-0', '00000000000000000000.index');
    fs.rmSync(index, { force: true });
    fs.mkdirSync(index);
    let refused: string | null = null;
    for (let i = 0; i < 40 && refused === null; i++) refused = await produce(clients, 'failing', `f${i}`);
    expect(refused).toBe('STORAGE_ERROR');
    expect(await gauge(broker, 'runnel_partition_failed', { topic: 'failing', partition: '0' })).toBe(1);
    expect(await gauge(broker, 'runnel_partition_failed', { topic: 'retained', partition: '0' })).toBe(0);
    // Lift the checkpoint fault, so the clean close after the test can write its checkpoints.
    fs.rmSync(checkpoint, { recursive: true, force: true });
  });
});
