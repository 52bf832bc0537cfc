/**
 * Self-test of the history checker (test/e2e/history/history-checker.ts): a clean history has
 * no anomaly, and each planted one (a lost ack, a duplicate, one offset holding two records, a
 * backwards read, a commit ahead) is found, with nothing else flagged.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, type FinalPartition, type HistoryEvent } from './history/history-checker.js';

function clean(): { events: HistoryEvent[]; final: FinalPartition[] } {
  const events: HistoryEvent[] = [];
  const records = Array.from({ length: 6 }, (_, i) => ({ offset: i, value: `p-${i}` }));
  for (const r of records) events.push({ type: 'ack', producer: 'p', idempotent: true, value: r.value, partition: 0, offset: r.offset });
  events.push({ type: 'assigned', consumer: 'c1', partition: 0 });
  for (const r of records.slice(0, 4)) events.push({ type: 'read', consumer: 'c1', group: 'g', partition: 0, offset: r.offset, value: r.value });
  events.push({ type: 'commit', consumer: 'c1', group: 'g', partition: 0, offset: 4 });
  // A rebalance: c2 starts again at the committed offset; re-reading 3 would be fine too.
  events.push({ type: 'assigned', consumer: 'c2', partition: 0 });
  for (const r of records.slice(3)) events.push({ type: 'read', consumer: 'c2', group: 'g', partition: 0, offset: r.offset, value: r.value });
  events.push({ type: 'commit', consumer: 'c2', group: 'g', partition: 0, offset: 6 });
  return { events, final: [{ partition: 0, logEndOffset: 6, records }] };
}

function kinds(events: HistoryEvent[], final: FinalPartition[]): string[] {
  return checkHistory(events, final).anomalies.map((a) => a.kind);
}

describe('history checker', () => {
  it('finds nothing in a clean history, and counts it', () => {
    const { events, final } = clean();
    const { anomalies, stats } = checkHistory(events, final);
    expect(anomalies).toEqual([]);
    expect(stats).toEqual({ acknowledged: 6, reads: 7, commits: 2, finalRecords: 6 });
  });

  it('a lost acknowledged write', () => {
    const { events, final } = clean();
    final[0].records.splice(5, 1);
    final[0].logEndOffset = 5;
    // c2's read of offset 5 and its commit of 6 now also point past the log.
    expect(kinds(events, final)).toEqual(['lost-ack', 'commit-ahead']);
  });

  it('a duplicate of an idempotent producer', () => {
    const { events, final } = clean();
    final[0].records.push({ offset: 6, value: 'p-2' });
    final[0].logEndOffset = 7;
    expect(kinds(events, final)).toEqual(['duplicate']);
  });

  it('a plain producer may duplicate (at-least-once): not flagged', () => {
    const { events, final } = clean();
    for (const e of events) if (e.type === 'ack') e.idempotent = false;
    final[0].records.push({ offset: 6, value: 'p-2' });
    final[0].logEndOffset = 7;
    expect(kinds(events, final)).toEqual([]);
  });

  it('one offset, two records', () => {
    const { events, final } = clean();
    events.push({ type: 'read', consumer: 'c3', group: 'other', partition: 0, offset: 2, value: 'ghost' });
    expect(kinds(events, final)).toEqual(['inconsistent-offset']);
  });

  it('a backwards read within one assignment', () => {
    const { events, final } = clean();
    const at = events.findIndex((e) => e.type === 'commit');
    events.splice(at, 0, { type: 'read', consumer: 'c1', group: 'g', partition: 0, offset: 1, value: 'p-1' });
    expect(kinds(events, final)).toEqual(['non-monotonic-read']);
  });

  it('a commit ahead of what the group read', () => {
    const { events, final } = clean();
    const at = events.findIndex((e) => e.type === 'commit');
    events[at] = { type: 'commit', consumer: 'c1', group: 'g', partition: 0, offset: 5 };
    expect(kinds(events, final)).toEqual(['commit-ahead']);
  });
});
