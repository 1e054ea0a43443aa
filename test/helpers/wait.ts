/**
 * Waiting in tests without timing assertions: conditions are polled and promises awaited until they
 * hold or settle, with one generous limit whose only purpose is to turn a hang into a clear failure.
 * A loaded machine makes things slower, never wrong.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** How long anything a test waits for may take before it counts as hung. */
export const HANG_MS = 60_000;

/** Resolves with the first truthy value of `probe`, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs = HANG_MS, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Settles as `promise` does, or rejects saying that `what` hung after `timeoutMs`. */
export async function unlessHung<T>(promise: Promise<T>, what: string, timeoutMs = HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until an HTTP-date `Last-Modified` is at least a second old, so that it is a strong validator
 * (a second change within the same second could share it) and `If-Range` may use it.
 */
export async function untilLastModifiedIsStrong(lastModified: string): Promise<void> {
  const strongAt = Date.parse(lastModified) + 1000;
  while (Date.now() < strongAt) await sleep(50);
}
