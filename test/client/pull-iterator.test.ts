/**
 * The consumer's hand-written async iterator keeps the semantics of the async generators it
 * replaced: items in order, waits for `changed` when nothing is buffered, done at null, an
 * error rejects one next() and ends the iterator, return() ends only this iterator.
 */
import { describe, expect, it } from 'vitest';
import { PullIterator, type Taken } from '../../src/client/consumer/pull-iterator.js';

/** A queue the iterator takes from; push() wakes a waiting next(). */
function queue<T>() {
  const items: Taken<T>[] = [];
  let wake: (() => void) | null = null;
  let failWith: Error | null = null;
  return {
    push(item: Taken<T>) {
      items.push(item);
      wake?.();
      wake = null;
    },
    fail(err: Error) {
      failWith = err;
    },
    take: (): Taken<T> => {
      if (failWith !== null) {
        const err = failWith;
        failWith = null;
        throw err;
      }
      return items.length === 0 ? undefined : items.shift();
    },
    changed: () => new Promise<void>((resolve) => (wake = resolve)),
  };
}

describe('PullIterator', () => {
  it('hands out buffered items in order, waits for more, and ends at null', async () => {
    const q = queue<number>();
    q.push(1);
    q.push(2);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const n of new PullIterator(q.take, q.changed)) seen.push(n);
    })();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([1, 2]);
    q.push(3);
    q.push(null);
    await loop;
    expect(seen).toEqual([1, 2, 3]);
  });

  it('rejects the next() that meets an error and is done afterwards', async () => {
    const q = queue<number>();
    q.push(1);
    const it = new PullIterator(q.take, q.changed);
    expect(await it.next()).toEqual({ done: false, value: 1 });
    q.fail(new Error('boom'));
    await expect(it.next()).rejects.toThrow('boom');
    q.push(2);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    // A new iterator over the same source goes on from there.
    expect(await new PullIterator(q.take, q.changed).next()).toEqual({ done: false, value: 2 });
  });

  it('ends on return() (a break) without touching the source', async () => {
    const q = queue<number>();
    q.push(1);
    q.push(2);
    for await (const n of new PullIterator(q.take, q.changed)) {
      expect(n).toBe(1);
      break;
    }
    expect(q.take()).toBe(2);
  });
});
