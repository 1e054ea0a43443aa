/**
 * Progress of a job, weighted by bytes and records rather than by entry count: an integer percent
 * that never decreases and stays at most 99 until the job has finished.
 */
import { runningPercent } from './transitions.js';

/** Bytes one record or one WebDAV resource weighs, besides its content. */
export const RECORD_WEIGHT = 512;

/** The amount of work of a job, in the same three units the writer and reader report. */
export interface WorkAmount {
  /** OData records. */
  readonly records: number;
  /** WebDAV resources. */
  readonly davNodes: number;
  /** Content bytes. */
  readonly bytes: number;
}

/** The weight of an amount of work. */
export function weigh(amount: WorkAmount): number {
  return amount.bytes + (amount.records + amount.davNodes) * RECORD_WEIGHT;
}

/** Tracks one job's percent. */
export class Progress {
  #percent = 0;
  #total: number | undefined;

  /** @param total - the total amount of work, if known yet (see {@link Progress.setTotal}). */
  constructor(total?: WorkAmount) {
    if (total !== undefined) this.setTotal(total);
  }

  /** Sets the total amount of work; until it is known the percent stays 0. */
  setTotal(total: WorkAmount): void {
    this.#total = Math.max(1, weigh(total));
  }

  /** The current percent, 0-99. */
  get percent(): number {
    return this.#percent;
  }

  /** Records the work done so far; returns the (never decreasing) percent. */
  update(done: WorkAmount): number {
    if (this.#total === undefined) return this.#percent;
    const percent = runningPercent((weigh(done) * 100) / this.#total);
    if (percent > this.#percent) this.#percent = percent;
    return this.#percent;
  }
}

/** The longest `Retry-After` of a running job, in seconds. */
export const MAX_RETRY_AFTER_S = 10;

/**
 * A `Retry-After` for a status poll of a running job, in whole seconds between 1 and
 * {@link MAX_RETRY_AFTER_S}, from its elapsed time and percent. The remaining time at the pace so far
 * is compressed logarithmically (1 s at the end, 10 s for an hour or more to go), so an estimate that
 * swings by orders of magnitude, as early estimates do, moves the answer by a few seconds only; and it
 * never exceeds one second plus half the time the job has run, so a young job is polled often.
 * Stateless, so every instance answers alike.
 */
export function retryAfterSeconds(startedAt: string, percent: number, now = Date.now()): number {
  const elapsed = Math.max(0, now - Date.parse(startedAt)) / 1000;
  const remaining = percent <= 0 ? Number.POSITIVE_INFINITY : (elapsed * (100 - percent)) / percent;
  const paced = 1 + Math.log2(1 + remaining / 4);
  const seconds = Math.min(paced, 1 + elapsed / 2, MAX_RETRY_AFTER_S);
  return Math.max(1, Math.round(seconds));
}
