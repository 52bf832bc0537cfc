/**
 * Two watermarks per partition (issue 11, finding 18). The high watermark bounds what consumers
 * of `durability: leader` topics read (the log end on one broker); the durable high watermark is
 * the fsynced offset, and `durability: all` topics are served only below it: Fetch, Subscribe and
 * ListOffsets(latest). The window between an append and its fsync is held open by appending
 * straight to the log (as the produce path does before its fsync) with the background flush
 * pushed out to an hour. (Kafka does not bound commits by the
 * high watermark, and neither does Runnel.)
 */
import { describe, expect, it } from 'vitest';
import { decodeRecordBatches } from '../../src/format/record-batch.js';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

async function createTopic(c: Clients, name: string, durability: string): Promise<void> {
  const res = await c.call('admin', 'createTopics', { topics: [{ name, partitions: 1, configs: [{ name: 'durability', value: durability }] }] });
  expect(res.topics[0].error).toBeNull();
}

async function fetchOffsets(c: Clients, topic: string): Promise<{ offsets: number[]; highWatermark: number; durableHighWatermark: number }> {
  const res = await c.call('broker', 'fetch', { maxWaitMs: 0, minBytes: 0, maxBytes: 0, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] });
  const p = res.topics[0].partitions[0];
  expect(p.error).toBeNull();
  return {
    offsets: decodeRecordBatches(p.records).flatMap((b) => b.records.map((r) => r.offset)),
    highWatermark: Number(p.offsets.highWatermark),
    durableHighWatermark: Number(p.offsets.durableHighWatermark),
  };
}

async function latest(c: Clients, topic: string): Promise<number> {
  const res = await c.call('broker', 'listOffsets', { partitions: [{ topic, partition: 0, spec: 'OFFSET_SPEC_LATEST' }] });
  return Number(res.partitions[0].offset);
}

/** A Subscribe stream from offset 0; `next()` is the offsets of the next pushed message (bounded wait). */
function subscribe(c: Clients, topic: string): { next(): Promise<number[]>; cancel(): void } {
  const call = (c.broker as any).subscribe({ partitions: [{ topic, partition: 0, startOffset: 0 }], maxBytes: 1024 * 1024 });
  const queue: number[][] = [];
  const waiters: ((offsets: number[]) => void)[] = [];
  call.on('data', (message: any) => {
    const offsets = decodeRecordBatches(message.records).flatMap((b) => b.records.map((r) => r.offset));
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(offsets);
    else queue.push(offsets);
  });
  call.on('error', () => {});
  return {
    next: () => {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no Subscribe message within 10 s')), 10_000);
        waiters.push((offsets) => {
          clearTimeout(timer);
          resolve(offsets);
        });
      });
    },
    cancel: () => call.cancel(),
  };
}

describe('broker: high watermark and durable high watermark', () => {
  it('durability all: records past the fsynced offset are neither served nor listed until the fsync, which wakes subscribers', async () => {
    // No recent-batch cache: the reads go to the log, whose bytes the test appends behind the broker.
    const { running, clients: c } = await startTestBroker({ set: ['flushIntervalMs=3600000', 'limits.recentBatchCacheBytes=0'] });
    await createTopic(c, 'safe', 'all');
    const pushed = subscribe(c, 'safe');
    const produced = await c.call('broker', 'produce', { correlationId: 0, acks: 'ACKS_ALL', topics: [{ topic: 'safe', partitions: [{ partition: 0, records: makeBatch({ records: 2 }) }] }] });
    expect(produced.topics[0].partitions[0].error).toBeNull();
    const log = running.broker.partition('safe', 0).log;
    log.appendSync(makeBatch({ records: 3 }));
    expect(log.logEndOffset).toBe(5);

    expect(await fetchOffsets(c, 'safe')).toEqual({ offsets: [0, 1], highWatermark: 2, durableHighWatermark: 2 });
    expect(await latest(c, 'safe')).toBe(2);
    expect(await pushed.next()).toEqual([0, 1]);

    // The fsync makes them visible, and wakes the subscriber (no polling interval involved).
    await log.flush();
    expect(await fetchOffsets(c, 'safe')).toEqual({ offsets: [0, 1, 2, 3, 4], highWatermark: 5, durableHighWatermark: 5 });
    expect(await latest(c, 'safe')).toBe(5);
    expect(await pushed.next()).toEqual([2, 3, 4]);
    pushed.cancel();
  });

  it('durability leader: the high watermark is the log end; the durable one is reported beside it', async () => {
    const { running, clients: c } = await startTestBroker({ set: ['flushIntervalMs=3600000', 'limits.recentBatchCacheBytes=0'] });
    await createTopic(c, 'fast', 'leader');
    const log = running.broker.partition('fast', 0).log;
    log.appendSync(makeBatch({ records: 3 }));
    expect(await fetchOffsets(c, 'fast')).toEqual({ offsets: [0, 1, 2], highWatermark: 3, durableHighWatermark: 0 });
    expect(await latest(c, 'fast')).toBe(3);
  });
});
