/**
 * Wake-ups for readers waiting at the end of a partition (parked fetches, subscribe streams):
 * the produce path calls `notify` after each append, and each waiter is called once. No
 * polling loop anywhere: a reader waits for `waitForAny`, bounded by its own timeout.
 */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

type Wake = () => void;

export class PartitionActivity {
  private readonly waiters = new Map<string, Set<Wake>>();

  notify(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const set = this.waiters.get(key);
    if (set === undefined) return;
    this.waiters.delete(key);
    for (const wake of set) wake();
  }

  /**
   * Resolves once any of the partitions is appended to, or after `timeoutMs`, or when
   * `signal` aborts; returns true when woken by an append. Every registration is removed.
   */
  waitForAny(keys: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const finish = (appended: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const key of keys) this.waiters.get(key)?.delete(wake);
        resolve(appended);
      };
      const wake: Wake = () => finish(true);
      const onAbort = (): void => finish(false);
      if (signal?.aborted === true) return resolve(false);
      for (const key of keys) {
        let set = this.waiters.get(key);
        if (set === undefined) this.waiters.set(key, (set = new Set()));
        set.add(wake);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => finish(false), timeoutMs);
    });
  }

  get waiterCount(): number {
    let total = 0;
    for (const set of this.waiters.values()) total += set.size;
    return total;
  }
}
