/**
 * Keeping the event loop responsive: loops over many small items that resolve through microtasks
 * (records read from a buffer, parsed lines) never reach a macrotask boundary on their own, so they
 * call a yielder that lets the event loop run once their time slice is spent.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** The longest stretch a loop keeps the event loop, in ms. */
export const TIME_SLICE_MS = 4;

/**
 * Makes a function to call inside a hot loop: it returns `undefined` while the current slice lasts
 * (so the loop need not await at all), and a promise of one turn of the event loop when the slice is
 * spent: `const pause = slice(); if (pause !== undefined) await pause;`.
 */
export function timeSlicer(sliceMs = TIME_SLICE_MS): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    const now = performance.now();
    if (now - since < sliceMs) return undefined;
    return nextTurn().then(() => {
      since = performance.now();
    });
  };
}
