/**
 * The producer's accumulator: with lingerMs 0, a partition whose sealed batches are still
 * waiting to be sent keeps gathering records into its open batch instead of queueing one small
 * batch per record (what made latency grow with load), and seals it once its queue is empty.
 */
import { describe, expect, it } from 'vitest';
import { Accumulator } from '../../src/client/producer/accumulator.js';
import type { PreparedRecord } from '../../src/client/producer/message.js';
import type { PartitionState } from '../../src/client/producer/partition-state.js';
import { Partitioner } from '../../src/client/producer/partitioner.js';
import { SendTracker } from '../../src/client/producer/send-tracker.js';

const record = (i: number): PreparedRecord => ({ key: null, value: Buffer.from(`v${i}`), headers: [], timestampMs: 1000, partition: 0, sizeBytes: 30 });

describe('Accumulator with lingerMs 0', () => {
  it('keeps a due batch open while the partition has sealed batches waiting, and seals it once they are sent', () => {
    const sealed: PartitionState[] = [];
    const accumulator = new Accumulator(64 * 1024, new Partitioner(() => 0), (state) => sealed.push(state), () => undefined, () => 0);
    const send = (i: number): void => accumulator.append('t', 1, [record(i)], new SendTracker(1), 'leader', 1000);
    send(0);
    expect(accumulator.sealDue(1000)).toBe(Infinity);
    const state = sealed[0];
    expect(state.queue.map((b) => b.recordCount)).toEqual([1]);
    // The first batch waits (say, the window is full): records gather into one open batch.
    for (let i = 1; i <= 50; i++) send(i);
    accumulator.sealDue(1001);
    expect(state.queue.map((b) => b.recordCount)).toEqual([1]);
    expect(state.open?.recordCount).toBe(50);
    // Once the queue is sent, the open batch is sealed at the next run.
    state.queue.shift();
    accumulator.sealDue(1002);
    expect(state.queue.map((b) => b.recordCount)).toEqual([50]);
    expect(state.open).toBeNull();
  });
});
