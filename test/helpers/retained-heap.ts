/**
 * The heap a test's code still holds, as opposed to garbage the collector has not reclaimed yet:
 * `process.memoryUsage().heapUsed` right after a full collection. A peak of plain `heapUsed` samples
 * depends on when V8 chooses to collect, which a loaded machine moves by tens of megabytes.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** V8's `gc()`, which a context created after `--expose-gc` is set carries. */
const collect = runInNewContext('gc') as () => void;

/** The bytes of heap in use after a full garbage collection. */
export function retainedHeap(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

/**
 * Passes `items` through, measuring the retained heap every `every` items into `peak.bytes` (the
 * highest seen), so that a stream's memory is measured while it flows.
 */
export async function* measuredEvery<T>(items: AsyncIterable<T>, every: number, peak: { bytes: number }): AsyncGenerator<T> {
  let n = 0;
  for await (const item of items) {
    n += 1;
    if (n % every === 0) peak.bytes = Math.max(peak.bytes, retainedHeap());
    yield item;
  }
}
