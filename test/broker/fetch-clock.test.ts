/**
 * A parked fetch's max_wait_ms is a duration (issue 11, finding 19, with the session timeouts):
 * a wall clock stepped back by an hour while a fetch waits must not keep it parked for that
 * hour. Only `Date` is faked (vitest's fake timers with `toFake: ['Date']`: timers, I/O and
 * performance.now stay real), to step the wall clock the way NTP or an operator would.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestBroker } from './helpers.js';

const HOUR_MS = 60 * 60 * 1000;

afterEach(() => {
  vi.useRealTimers();
});

describe('fetch: max_wait_ms on a monotonic clock', () => {
  it('a parked fetch answers after its wait although the wall clock went back an hour', async () => {
    const { running, clients } = await startTestBroker();
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const parked = clients.call('broker', 'fetch', { maxWaitMs: 300, minBytes: 1, maxBytes: 0, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 0, maxBytes: 0 }] }] }, 20_000);
    const deadline = performance.now() + 5_000;
    while (running.broker.parkedFetches !== 1) {
      if (performance.now() > deadline) throw new Error('the fetch did not park within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    vi.setSystemTime(Date.now() - HOUR_MS);
    // Answered empty at the end of its wait: not DEADLINE_EXCEEDED after the client's 20 s.
    const answer = await parked;
    expect(answer.topics[0].partitions[0].error).toBeNull();
    expect(answer.topics[0].partitions[0].records.length).toBe(0);
  });
});
