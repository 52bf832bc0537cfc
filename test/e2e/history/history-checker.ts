/**
 * A history checker in the spirit of Jepsen's: the clients of a run record what they were told
 * (acknowledged writes with their offsets, records read, assignments, commits); after the run the
 * partitions are read whole once more; then the history is checked for:
 *
 *   lost-ack             an acknowledged write that is not at its offset in the final log
 *   duplicate            an idempotent producer's record stored twice (plain producers may
 *                        duplicate on retry: at-least-once, as in Kafka)
 *   inconsistent-offset  one offset seen holding two different records (by anyone, at any time)
 *   non-monotonic-read   a consumer reading a partition backwards within one assignment (a new
 *                        assignment may go back to the committed offset: at-least-once)
 *   commit-ahead         a committed offset past what the group had read (+1), or past the log end
 *
 * Pure: no I/O, so its self-test (history-checker.test.ts) plants each anomaly and sees it found.
 * Records are identified by a value unique in the run (`<producer>-<n>`).
 */

export type HistoryEvent =
  | { type: 'ack'; producer: string; idempotent: boolean; value: string; partition: number; offset: number }
  | { type: 'assigned'; consumer: string; partition: number }
  | { type: 'read'; consumer: string; group: string; partition: number; offset: number; value: string }
  | { type: 'commit'; consumer: string; group: string; partition: number; offset: number };

export interface FinalPartition {
  partition: number;
  logEndOffset: number;
  records: { offset: number; value: string }[];
}

export type AnomalyKind = 'lost-ack' | 'duplicate' | 'inconsistent-offset' | 'non-monotonic-read' | 'commit-ahead';

export interface Anomaly {
  kind: AnomalyKind;
  detail: string;
}

export interface HistoryStats {
  acknowledged: number;
  reads: number;
  commits: number;
  finalRecords: number;
}

export function checkHistory(events: readonly HistoryEvent[], final: readonly FinalPartition[]): { anomalies: Anomaly[]; stats: HistoryStats } {
  const anomalies: Anomaly[] = [];
  const flag = (kind: AnomalyKind, detail: string): void => void anomalies.push({ kind, detail });
  checkOffsets(events, final, flag);
  checkAcks(events, final, flag);
  checkDuplicates(events, final, flag);
  checkReads(events, flag);
  checkCommits(events, final, flag);
  const count = (type: HistoryEvent['type']): number => events.filter((e) => e.type === type).length;
  return { anomalies, stats: { acknowledged: count('ack'), reads: count('read'), commits: count('commit'), finalRecords: final.reduce((n, p) => n + p.records.length, 0) } };
}

type Flag = (kind: AnomalyKind, detail: string) => void;

const where = (partition: number, offset: number): string => `${partition}@${offset}`;

/** One offset, one record: across acks, reads and the final log. */
function checkOffsets(events: readonly HistoryEvent[], final: readonly FinalPartition[], flag: Flag): void {
  const seen = new Map<string, { value: string; by: string }>();
  const note = (partition: number, offset: number, value: string, by: string): void => {
    const key = where(partition, offset);
    const before = seen.get(key);
    if (before === undefined) seen.set(key, { value, by });
    else if (before.value !== value) flag('inconsistent-offset', `${key} held ${before.value} (${before.by}) and ${value} (${by})`);
  };
  for (const p of final) for (const r of p.records) note(p.partition, r.offset, r.value, 'final read');
  for (const e of events) {
    if (e.type === 'ack') note(e.partition, e.offset, e.value, `ack to ${e.producer}`);
    else if (e.type === 'read') note(e.partition, e.offset, e.value, `read by ${e.consumer}`);
  }
}

function checkAcks(events: readonly HistoryEvent[], final: readonly FinalPartition[], flag: Flag): void {
  const stored = finalIndex(final);
  for (const e of events) {
    if (e.type !== 'ack') continue;
    if (!stored.has(where(e.partition, e.offset))) flag('lost-ack', `${e.value} acknowledged to ${e.producer} at ${where(e.partition, e.offset)} is not in the final log`);
  }
}

function checkDuplicates(events: readonly HistoryEvent[], final: readonly FinalPartition[], flag: Flag): void {
  const idempotent = new Set(events.filter((e) => e.type === 'ack' && e.idempotent).map((e) => (e as { value: string }).value));
  const places = new Map<string, string[]>();
  for (const p of final) {
    for (const r of p.records) {
      if (!idempotent.has(r.value)) continue;
      const list = places.get(r.value) ?? [];
      list.push(where(p.partition, r.offset));
      places.set(r.value, list);
    }
  }
  for (const [value, at] of places) if (at.length > 1) flag('duplicate', `${value} of an idempotent producer is stored ${at.length} times: ${at.join(', ')}`);
}

function checkReads(events: readonly HistoryEvent[], flag: Flag): void {
  const last = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'assigned') last.delete(`${e.consumer}/${e.partition}`);
    if (e.type !== 'read') continue;
    const key = `${e.consumer}/${e.partition}`;
    const previous = last.get(key);
    if (previous !== undefined && e.offset <= previous) flag('non-monotonic-read', `${e.consumer} read ${where(e.partition, e.offset)} after ${where(e.partition, previous)} within one assignment`);
    last.set(key, e.offset);
  }
}

function checkCommits(events: readonly HistoryEvent[], final: readonly FinalPartition[], flag: Flag): void {
  const readUpTo = new Map<string, number>();
  const logEnds = new Map(final.map((p) => [p.partition, p.logEndOffset]));
  for (const e of events) {
    const key = `${'group' in e ? e.group : ''}/${e.partition}`;
    if (e.type === 'read') readUpTo.set(key, Math.max(readUpTo.get(key) ?? -1, e.offset));
    if (e.type !== 'commit') continue;
    const bound = (readUpTo.get(key) ?? -1) + 1;
    if (e.offset > bound) flag('commit-ahead', `${e.consumer} of ${e.group} committed ${where(e.partition, e.offset)}, past what the group had read (${bound})`);
    if (e.offset > (logEnds.get(e.partition) ?? 0)) flag('commit-ahead', `${e.consumer} of ${e.group} committed ${where(e.partition, e.offset)}, past the log end ${logEnds.get(e.partition) ?? 0}`);
  }
}

function finalIndex(final: readonly FinalPartition[]): Set<string> {
  const keys = new Set<string>();
  for (const p of final) for (const r of p.records) keys.add(where(p.partition, r.offset));
  return keys;
}
