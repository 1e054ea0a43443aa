/** Polls until a condition holds, or fails after a timeout. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves with the first truthy value of `probe`, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
