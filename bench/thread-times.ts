/**
 * Where the host process's CPU time went, for the polling benchmark's host (`bench/server.ts`):
 * how long its main thread (the event loop) waited for a core while runnable,
 * how much CPU its other threads used (the deflate and walker threads, V8's garbage-collection
 * helpers, libuv's pool), and how long garbage collection paused the main thread. Read from Linux's
 * per-thread scheduler statistics (`/proc/self/task/<tid>/schedstat`: nanoseconds on a core, then
 * nanoseconds waiting on a run queue); elsewhere the thread figures are absent.
 *
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** What the process's threads did between two {@link ThreadTimes.sample} calls, in ms. */
export interface ThreadSample {
  /** The main thread's time runnable but waiting for a core (taken by another thread or process). */
  readonly mainWaitMs?: number;
  /** The CPU time of every other thread of the process. */
  readonly othersMs?: number;
  /** The main thread's garbage-collection pauses. */
  readonly gcMs: number;
  /** The longest of them. */
  readonly gcMaxMs: number;
}

function schedstat(tid: string): [number, number] | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6];
  } catch {
    return undefined; // not Linux, or the thread ended meanwhile
  }
}

/** Samples the process's thread times; each sample covers the time since the previous one. */
export class ThreadTimes {
  /** Each thread's times at the previous sample, by thread id. */
  #last = new Map<string, [number, number]>();
  #gcMs = 0;
  #gcMaxMs = 0;

  constructor() {
    new PerformanceObserver((list) => {
      for (const { duration } of list.getEntries()) {
        this.#gcMs += duration;
        this.#gcMaxMs = Math.max(this.#gcMaxMs, duration);
      }
    }).observe({ entryTypes: ['gc'] });
    this.sample();
  }

  /** The times since the previous sample (or since the constructor). */
  sample(): ThreadSample {
    const main = String(process.pid);
    let mainWaitMs: number | undefined;
    let othersMs = 0;
    let tids: string[] = [];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      // not Linux
    }
    const seen = new Map<string, [number, number]>();
    for (const tid of tids) {
      const now = schedstat(tid);
      if (now === undefined) continue;
      seen.set(tid, now);
      const [run, wait] = this.#last.get(tid) ?? [0, 0];
      if (tid === main) mainWaitMs = now[1] - wait;
      else othersMs += now[0] - run;
    }
    this.#last = seen;
    const gc = { gcMs: this.#gcMs, gcMaxMs: this.#gcMaxMs };
    this.#gcMs = 0;
    this.#gcMaxMs = 0;
    return { ...(mainWaitMs === undefined ? {} : { mainWaitMs, othersMs }), ...gc };
  }
}
