/**
 * A member whose heartbeats stop being answered gives its partitions up before the coordinator
 * can give them to someone else. The coordinator removes a member one session timeout after it
 * last *received* a heartbeat; that is no earlier than one session timeout after the member
 * *sent* its last answered heartbeat. The member must therefore report its partitions lost
 * strictly before that moment, with room for its own check interval: a chaos run under load saw
 * a member give up 42 ms after its partitions had gone to another member (two owners).
 *
 * Deterministic: fake timers drive the member's clock (Date and performance.now), and the
 * coordinator is a stand-in whose first answer assigns a partition and whose later heartbeats
 * never return (a stalled broker).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GroupMembership, type MembershipHandler } from '../../src/client/groups/membership.js';
import type { Connection } from '../../src/client/connection.js';

const SESSION_MS = 10_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Answers the join with partition t/0 at epoch 1; every later heartbeat hangs until aborted (a leave is answered). */
function stalledAfterJoin(): Connection {
  let calls = 0;
  const unary = (_service: string, _method: string, request: { memberEpoch: number }, _timeoutMs: number, signal: AbortSignal): Promise<unknown> => {
    // The leave (epoch -1) at the end of the test is answered.
    if (request.memberEpoch < 0) return Promise.resolve({ error: null, memberId: 'm', memberEpoch: -1, heartbeatIntervalMs: 0, assignment: [] });
    if (calls++ === 0) {
      return Promise.resolve({ error: null, memberId: 'm', memberEpoch: 1, heartbeatIntervalMs: 1_000, assignment: [{ topic: 't', partitions: [0] }] });
    }
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
  };
  return { unary } as unknown as Connection;
}

describe('group membership: session expiry on the member side', () => {
  it('reports its partitions lost before the coordinator could reassign them, with a check interval to spare', async () => {
    let lostAtMs = -1;
    const startMs = Date.now();
    const handler: MembershipHandler = {
      assigned: () => Promise.resolve(),
      revoked: () => Promise.resolve(),
      lost: () => {
        lostAtMs = Date.now() - startMs;
        return Promise.resolve();
      },
      failed: () => {},
    };
    const membership = new GroupMembership(
      stalledAfterJoin(),
      { groupId: 'g', topics: ['t'], instanceId: null, clientId: 'c', sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: 30_000, assignor: 'uniform', requestTimeoutMs: 30_000, retryBackoffMs: 100, retryBackoffMsMax: 1_000 },
      handler,
    );
    membership.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(membership.partitions).toEqual([{ topic: 't', partition: 0 }]);
    // The join was sent (and answered) at 0: the coordinator may remove the member from SESSION_MS on.
    const checkIntervalMs = SESSION_MS / 10;
    await vi.advanceTimersByTimeAsync(SESSION_MS - checkIntervalMs);
    expect(lostAtMs, 'lost by one check interval before the coordinator may expire the member').toBeGreaterThanOrEqual(0);
    expect(lostAtMs).toBeLessThan(SESSION_MS - checkIntervalMs + 1);
    expect(membership.partitions).toEqual([]);
    await membership.leave();
  });
});
