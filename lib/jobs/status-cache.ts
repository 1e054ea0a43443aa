/**
 * A short-lived cache of job states for status reads: under load, one read of the job store per cell
 * per period serves every status request of that period, and concurrent requests share one read.
 *
 * What it promises: a cached state is at most `maxAgeMs` older than the read that fetched it, and
 * every transition made through this instance (claim, progress, cancel, finish, reap) drops the
 * cell's entry first, so a job this instance finished never shows as running here afterwards. A
 * transition made on another instance shows within `maxAgeMs`.
 */
import type { CellJobState } from '../types.js';

interface Entry {
  readonly state: Promise<CellJobState>;
  /** When the read started. */
  readonly at: number;
}

/** Entries kept at most; beyond, the expired ones are dropped (the oldest first). */
const SWEEP_ABOVE = 1000;

/** The cache; see the module documentation. */
export class StatusCache {
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** In the order the reads started, so the oldest come first. */
  readonly #entries = new Map<string, Entry>();

  /**
   * @param maxAgeMs - how long a read serves later requests, in ms (0: never).
   * @param now - the clock, in ms (monotonic).
   */
  constructor(maxAgeMs: number, now: () => number = () => performance.now()) {
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  /** The cell's state: the cached one while fresh, else a new `read()` (shared while it runs). */
  get(cellId: string, read: () => Promise<CellJobState>): Promise<CellJobState> {
    const now = this.#now();
    const cached = this.#entries.get(cellId);
    if (cached !== undefined && now - cached.at < this.#maxAgeMs) return cached.state;
    if (cached !== undefined) this.#entries.delete(cellId);
    const entry: Entry = { state: read(), at: now };
    if (this.#maxAgeMs <= 0) return entry.state;
    this.#entries.set(cellId, entry);
    entry.state.catch(() => {
      if (this.#entries.get(cellId) === entry) this.#entries.delete(cellId);
    });
    if (this.#entries.size > SWEEP_ABOVE) this.#sweep(now);
    return entry.state;
  }

  /** How many cells have an entry (expired ones included until swept). */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops the cell's entry: the next read goes to the store. */
  invalidate(cellId: string): void {
    this.#entries.delete(cellId);
  }

  #sweep(now: number): void {
    for (const [cellId, entry] of this.#entries) {
      if (now - entry.at < this.#maxAgeMs) return;
      this.#entries.delete(cellId);
    }
  }
}
