/**
 * Mutation fuzzing of the import, the quick set: 200 mutated archives imported through the real HTTP
 * routes of one host per test (see import-harness.ts for the invariants). The seeds are fixed, so
 * the run is repeatable; `KCS_FUZZ_SEED` replays another (docs/fuzzing.md).
 */
import test from 'ava';
import { needing } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';
import { buildSeeds, startFuzzHost } from './import-harness.js';
import { assertVariety, runFuzz } from './run-fuzz.js';
import { planArbitrary } from './zip-mutations.js';

const FILE = 'test/fuzz/import.test.ts';

// Serial runs of 75 rather than one of 150: ava's timeout restarts after each test, so a loaded
// machine makes the file slower, not failed.
for (const seed of [16, 17]) {
  test.serial(`mutated archives written by our writer, the JS crafter, Java and yazl (ZIP64), seed ${seed}: 4xx or import failed, cell unchanged`, async (t) => {
    const seeds = await buildSeeds(await tempDir(t), 'js');
    const host = await startFuzzHost(t);
    const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed, numRuns: 75, file: FILE });
    assertVariety(t, outcomes, 5);
  });
}

needing(test, 'zip', 'python3').serial('mutated archives written by Info-ZIP and Python: 4xx or import failed, cell unchanged', async (t) => {
  const seeds = await buildSeeds(await tempDir(t), 'tools');
  const host = await startFuzzHost(t);
  const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed: 1616, numRuns: 50, file: FILE });
  assertVariety(t, outcomes, 4);
});
