/**
 * Request fuzzing at scale (the slow set): 2,000 raw requests with bodies (see request-fuzz.ts), a
 * fresh seed each run, logged; `KCS_FUZZ_SEED` replays one (docs/fuzzing.md).
 */
import test from 'ava';
import { assertVariety, freshSeed } from '../fuzz/run-fuzz.js';
import { fuzzRequests } from './request-fuzz-host.js';

test('2,000 random requests with bodies: never a 500, never a hang, the version header on every answer', async (t) => {
  const outcomes = await fuzzRequests(t, { seed: freshSeed(), numRuns: 2000, file: 'test/http/fuzz.slow.test.ts' });
  assertVariety(t, outcomes, 16);
});
