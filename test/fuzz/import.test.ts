/**
 * Mutation fuzzing of the import, the quick set: a few hundred mutated archives imported through the
 * real HTTP routes of one host (see import-harness.ts for the invariants). The seed is fixed, so the
 * run is repeatable; `KCS_FUZZ_SEED` replays another (docs/fuzzing.md).
 */
import test from 'ava';
import { needing } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';
import { buildSeeds, startFuzzHost } from './import-harness.js';
import { assertVariety, runFuzz } from './run-fuzz.js';
import { planArbitrary } from './zip-mutations.js';

const FILE = 'test/fuzz/import.test.ts';

test('mutated archives written by our writer, the JS crafter, Java and yazl (ZIP64): 4xx or import failed, cell unchanged', async (t) => {
  const seeds = await buildSeeds(await tempDir(t), 'js');
  const host = await startFuzzHost(t);
  const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed: 16, numRuns: 200, file: FILE });
  assertVariety(t, outcomes, 6);
});

needing(test, 'zip', 'python3')('mutated archives written by Info-ZIP and Python: 4xx or import failed, cell unchanged', async (t) => {
  const seeds = await buildSeeds(await tempDir(t), 'tools');
  const host = await startFuzzHost(t);
  const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed: 1616, numRuns: 100, file: FILE });
  assertVariety(t, outcomes, 4);
});
