/**
 * The consumer's async iterators (`for await (const m of consumer)`, `consumer.batches()`),
 * written out rather than as async generators: a generator's `yield` awaits the value it
 * yields and queues each request, about two promise turns per item, which showed in the
 * consumer benchmark as a large share of per-message cost. Here an item that is already
 * buffered is handed out in one resolved promise.
 *
 * Semantics kept from the generators they replace: `take` returns an item, undefined (nothing
 * buffered yet: wait for `changed`) or null (the consumer is closed: done); an error thrown by
 * `take` rejects that `next()` and ends the iterator; `return()` (a `break` out of the loop)
 * ends this iterator only, the consumer keeps its positions and a new loop goes on from there.
 */
export type Taken<T> = T | undefined | null;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

export class PullIterator<T> implements AsyncIterableIterator<T, undefined> {
  private finished = false;

  constructor(
    private readonly take: () => Taken<T>,
    private readonly changed: () => Promise<void>,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.finished) return Promise.resolve(DONE);
    let item: Taken<T>;
    try {
      item = this.take();
    } catch (err) {
      this.finished = true;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (item === null) {
      this.finished = true;
      return Promise.resolve(DONE);
    }
    if (item !== undefined) return Promise.resolve({ done: false, value: item });
    return this.changed().then(() => this.next());
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this.finished = true;
    return Promise.resolve(DONE);
  }
}
