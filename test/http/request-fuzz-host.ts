/**
 * Running the request fuzz against one host: each raw request (request-fuzz.ts) is sent, judged, and
 * followed, when the connection ended without an answer, by a status GET that must be answered (the
 * host is healthy). The router's `onError` must never be called: it hears of every error answered
 * with a 500, including those whose client is gone.
 */
import type { ExecutionContext } from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { startServer } from '../helpers/server.js';
import { runFuzz } from '../fuzz/run-fuzz.js';
import { judge, requestArbitrary, sendRaw } from './request-fuzz.js';

/** The PUT size limit of the fuzzed host: small, so that oversize bodies are cheap. */
const LIMIT = 64 * 1024;
const HANG_MS = 20_000;

/** Sends `numRuns` fuzzed requests with bodies; returns the outcome counts. */
export async function fuzzRequests(t: ExecutionContext, options: { seed: number; numRuns: number; file: string }): Promise<Map<string, number>> {
  const failures: unknown[] = [];
  const server = await startServer(t, 'root', { options: { limits: { maxSnapshotBytes: LIMIT }, onError: (error) => failures.push(error) } });
  const unexpected = (): void => {
    // An unexpected error is answered 500, even when nobody is left to see it.
    const [failure] = failures.splice(0);
    if (failure !== undefined) throw new Error(`the router reported an unexpected error (a 500): ${String(failure)}`);
  };
  const port = Number(new URL(server.origin).port);
  return runFuzz(
    t,
    requestArbitrary(LIMIT),
    async (request) => {
      unexpected();
      const outcome = judge(request, await sendRaw(port, request, HANG_MS));
      unexpected();
      if (outcome.endsWith('without an answer')) {
        const health = await server.request('GET', 'bob', '__import', { headers: { authorization: `Bearer ${ROOT_TOKEN}` } });
        if (health.status !== 200) throw new Error(`status GET after the request: ${health.status}`);
      }
      return outcome;
    },
    options,
  );
}
