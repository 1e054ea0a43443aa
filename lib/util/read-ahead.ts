/**
 * Ordered read-ahead: maps the items of an async iterable with up to `depth` mappings in flight, and
 * yields the results in the source's order. Many small file reads overlap on libuv's thread pool
 * instead of waiting for each other, while memory stays bounded by `depth` results.
 */

/** Yields `map(item)` for every item of `source`, in order, running at most `depth` maps at once. */
export async function* readAhead<T, U>(source: AsyncIterable<T>, map: (item: T) => Promise<U>, depth: number): AsyncGenerator<U> {
  const iterator = source[Symbol.asyncIterator]();
  const queue: Promise<{ readonly value: U } | undefined>[] = [];
  let ended = false;
  const fill = (): void => {
    while (!ended && queue.length < depth) {
      const next = iterator.next().then(async (result) => {
        if (result.done === true) {
          ended = true;
          return undefined;
        }
        return { value: await map(result.value) };
      });
      next.catch(() => {}); // awaited in order below; an early failure must not be reported unhandled
      queue.push(next);
    }
  };
  try {
    fill();
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const result = await item;
      if (result === undefined) return;
      fill();
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
