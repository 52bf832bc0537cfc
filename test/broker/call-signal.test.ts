/**
 * Per-call cancellation state must not outlive the call (issue 11, finding 19): Fetch,
 * Subscribe and Heartbeat each watch the broker's shutdown signal, which lives as long as the
 * broker. Whatever a call registers on it (a listener, or the dependant-signal entry that
 * `AbortSignal.any` keeps) must be gone once the call has ended, or a tailing consumer leaks
 * one entry per poll for the life of the process.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../storage/helpers.js';
import { startTestBroker, type Clients } from './helpers.js';

/**
 * Everything registered on `signal` per call: its 'abort' listeners, plus the entries of the
 * dependant-signal set that Node's `AbortSignal.any` adds to each source signal (an internal
 * symbol; absent when nothing ever composed the signal). Node 20 never prunes that set, so
 * dead entries count too: they are the leak.
 */
function perCallEntries(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = dependants === undefined ? undefined : (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants];
  return getEventListeners(signal, 'abort').length + (set?.size ?? 0);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function fetchRequest(fetchOffset: number, maxWaitMs: number): object {
  return { maxWaitMs, minBytes: 1, maxBytes: 0, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset, maxBytes: 0 }] }] };
}

async function subscribeUntilFirstMessage(clients: Clients): Promise<void> {
  const call = (clients.broker as any).subscribe({ partitions: [{ topic: 't', partition: 0, startOffset: -2 }] });
  call.on('error', () => {});
  await new Promise((resolve) => call.once('data', resolve));
  call.cancel();
}

describe('broker: per-call cancellation state', () => {
  it('Fetch, Subscribe and Heartbeat leave nothing on the shutdown signal once they end', async () => {
    const { running, clients } = await startTestBroker({ set: ['groups.initialAssignmentDelayMs=0'] });
    const broker = running.broker;
    const created = await clients.call('admin', 'createTopics', { topics: [{ name: 't', partitions: 1, configs: [] }] });
    expect(created.topics[0].error).toBeNull();
    const idle = perCallEntries(broker.shutdownSignal);

    // A parked fetch holds exactly one entry while it waits (so the probe sees per-call state)...
    const parked = clients.call('broker', 'fetch', fetchRequest(0, 200));
    await waitFor('the fetch to park', () => broker.parkedFetches === 1);
    expect(perCallEntries(broker.shutdownSignal)).toBe(idle + 1);
    await parked;

    // ...and 300 fetches (immediate and parked-then-timed-out), 100 heartbeats and 20 subscribe
    // streams later, none is left.
    for (let i = 0; i < 300; i++) await clients.call('broker', 'fetch', fetchRequest(0, i % 10 === 0 ? 5 : 0));
    for (let i = 0; i < 100; i++) {
      const hb = await clients.call('groups', 'heartbeat', { groupId: 'g', memberId: `m${i % 5}`, memberEpoch: 0, subscribedTopics: ['t'] });
      expect(hb.error?.code ?? null).toBeNull();
    }
    const produced = await clients.call('broker', 'produce', {
      acks: 'ACKS_LEADER',
      topics: [{ topic: 't', partitions: [{ partition: 0, records: makeBatch({ records: 1 }) }] }],
    });
    expect(produced.topics[0].partitions[0].error).toBeNull();
    for (let i = 0; i < 20; i++) await subscribeUntilFirstMessage(clients);
    await waitFor('the subscriptions to close', () => broker.openSubscriptions === 0);

    expect(perCallEntries(broker.shutdownSignal)).toBe(idle);
  });
});
