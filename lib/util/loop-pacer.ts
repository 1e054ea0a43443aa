/**
 * Background work gives way to the host on the event loop.
 *
 * A job's data path (an export's reads, its pieces for the deflate thread, its small entries) runs on
 * the host's event loop, beside the host's own requests. Node has no priorities between callbacks, so
 * the job paces itself: every call site of {@link paceBackground} is a point where the job may pause.
 *
 * How it knows the host is busy: now and then (every {@link LoopPacerOptions.probeEveryMs}) all
 * background work pauses together for a short probe ({@link LoopPacerOptions.pauseMs}), and the
 * event loop's utilisation during that pause is the host's alone. When it is at least
 * {@link LoopPacerOptions.hostBusy}, background work runs paced: a stretch of work, then a pause of
 * {@link LoopPacerOptions.pauseMs}, each pause measuring the host again; once a pause finds the host
 * below the threshold, background work runs freely again.
 *
 * How much work a paced stretch holds: the share of the loop that the host left idle in the last
 * pause. A pause in which the host kept the loop busy a fraction `u` of the time allows
 * `pauseMs × (1 − u) / u` ms of work (see {@link pacedRunMs}), so background work takes about `1 − u`
 * of the loop: a third beside a host busy two thirds of the time, and, beside a host that keeps the
 * loop saturated, {@link LoopPacerOptions.minRunMs} per pause (about 2.5%), which still guarantees
 * progress. Requests that queued during a stretch are served in the next pause and count as the
 * host's work there, so a stretch that was too long makes the next one shorter. A job alone costs
 * one probe per period (about 4% of its time).
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { timeSlicer } from './yield.js';

/** Settings of a {@link LoopPacer}. */
export interface LoopPacerOptions {
  /** How often background work running freely stops for a probe, in ms. Default 500. */
  readonly probeEveryMs?: number;
  /** The length of a probe, and of a pause when paced, in ms. Default 20. */
  readonly pauseMs?: number;
  /**
   * The least work between two pauses when paced, in ms: what background work keeps beside a host
   * that saturates the event loop. Default 0.5.
   */
  readonly minRunMs?: number;
  /** The host's utilisation of the loop (0-1) from which background work is paced. Default 0.6. */
  readonly hostBusy?: number;
}

/** Paces background work against the host's own use of the event loop (see the module). */
export class LoopPacer {
  readonly #probeEveryMs: number;
  readonly #pauseMs: number;
  readonly #minRunMs: number;
  readonly #hostBusy: number;
  /** The work allowed between two pauses while paced, from the last pause. */
  #runMs = 0;
  #paced = false;
  /** When the current stretch of work began (paced), or when the next probe is due (free). */
  #due: number;
  /** The pause under way, shared by every caller. */
  #pause: Promise<void> | undefined;

  constructor(options: LoopPacerOptions = {}) {
    this.#probeEveryMs = options.probeEveryMs ?? 500;
    this.#pauseMs = options.pauseMs ?? 20;
    this.#minRunMs = options.minRunMs ?? 0.5;
    this.#hostBusy = options.hostBusy ?? 0.6;
    this.#due = performance.now() + this.#probeEveryMs;
  }

  /** Whether background work is paced now (the last pause found the host busy). */
  get paced(): boolean {
    return this.#paced;
  }

  /** The work allowed between two pauses while paced, in ms (see {@link pacedRunMs}). */
  get runMs(): number {
    return this.#runMs;
  }

  /**
   * Called by background work between two steps: `undefined` to go on at once, or a promise to await
   * first (a pause, shared by every caller): `const pause = pacer.pace(); if (pause) await pause;`.
   */
  pace(): Promise<void> | undefined {
    if (this.#pause !== undefined) return this.#pause;
    const now = performance.now();
    if (now < this.#due + (this.#paced ? this.#runMs : 0)) return undefined;
    this.#pause = this.#measurePause().finally(() => {
      this.#pause = undefined;
      this.#due = performance.now() + (this.#paced ? 0 : this.#probeEveryMs);
    });
    return this.#pause;
  }

  /**
   * A yielder for a hot loop of small steps: {@link LoopPacer.pace}'s pause when one is due, else
   * (like `timeSlicer`) a turn of the event loop once `sliceMs` of work has run since the last one.
   */
  slicer(sliceMs?: number): () => Promise<void> | undefined {
    const slice = timeSlicer(sliceMs);
    return () => this.pace() ?? slice();
  }

  /** Pauses, and judges from the loop's use meanwhile whether the host is busy. */
  async #measurePause(): Promise<void> {
    const start = performance.eventLoopUtilization();
    await sleep(this.#pauseMs);
    const busy = performance.eventLoopUtilization(start).utilization;
    this.#paced = busy >= this.#hostBusy;
    this.#runMs = pacedRunMs(busy, this.#pauseMs, this.#minRunMs, this.#probeEveryMs);
  }
}

/**
 * The work allowed between two pauses after a pause in which the host kept the loop busy the
 * fraction `busy` of the time: `pauseMs × (1 − busy) / busy`, so that background work takes the
 * share the host left idle; at least `minRunMs`, at most `maxRunMs` (a free stretch's length).
 */
export function pacedRunMs(busy: number, pauseMs: number, minRunMs: number, maxRunMs: number): number {
  const idleShare = (pauseMs * (1 - busy)) / busy;
  return Math.min(maxRunMs, Math.max(minRunMs, Number.isFinite(idleShare) ? idleShare : maxRunMs));
}

/** The process's pacer, shared by every job so that their pauses coincide. */
const shared = new LoopPacer();

/** {@link LoopPacer.pace} of the process's pacer. */
export function paceBackground(): Promise<void> | undefined {
  return shared.pace();
}

/**
 * A yielder for a background job's hot loop over many small items (see `timeSlicer` in
 * `util/yield.ts`) with the process's pacer: its pause when one is due, else a turn of the event
 * loop once the time slice is spent.
 */
export function backgroundSlicer(): () => Promise<void> | undefined {
  return shared.slicer();
}
