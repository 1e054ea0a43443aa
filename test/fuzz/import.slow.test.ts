/**
 * Mutation fuzzing of the import, the slow set: 2,000 mutated archives (1,400 from the archives
 * written in JavaScript and Java, 600 from Info-ZIP's and Python's), each imported through the real
 * HTTP routes of one host (see import-harness.ts for the invariants). Each run takes a fresh seed and
 * logs it; `KCS_FUZZ_SEED` (and `KCS_FUZZ_PATH`) replay one (docs/fuzzing.md).
 */
import test from 'ava';
import { needing } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';
import { buildSeeds, startFuzzHost } from './import-harness.js';
import { assertVariety, freshSeed, runFuzz } from './run-fuzz.js';
import { planArbitrary } from './zip-mutations.js';

const FILE = 'test/fuzz/import.slow.test.ts';

// Serial runs rather than two long ones: ava's timeout restarts after each test, so a loaded machine
// makes the file slower, not failed. Each run takes its own fresh seed.
for (const part of [1, 2, 3, 4]) {
  test.serial(`350 mutated archives written by our writer, the JS crafter, Java and yazl (ZIP64), part ${part} of 4`, async (t) => {
    const seeds = await buildSeeds(await tempDir(t), 'js');
    const host = await startFuzzHost(t);
    const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed: freshSeed(), numRuns: 350, file: FILE });
    assertVariety(t, outcomes, 8);
  });
}

for (const part of [1, 2]) {
  needing(test, 'zip', 'python3').serial(`300 mutated archives written by Info-ZIP and Python, part ${part} of 2`, async (t) => {
    const seeds = await buildSeeds(await tempDir(t), 'tools');
    const host = await startFuzzHost(t);
    const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => host.runCase(plan, seeds), { seed: freshSeed(), numRuns: 300, file: FILE });
    assertVariety(t, outcomes, 6);
  });
}
