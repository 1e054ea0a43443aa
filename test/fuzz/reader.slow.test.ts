/**
 * Mutation fuzzing of the reader alone (the slow set; no HTTP): each mutated archive is opened
 * and read in full as an import reads it, and checked by verifySnapshot. The reader either reads it
 * or refuses it with a 4xx PersoniumError, its close never fails, and the verifier agrees: it accepts
 * exactly what the reader reads, and refuses the rest with the reader's code.
 */
import { join } from 'node:path';
import test from 'ava';
import { isPersoniumError } from '../../lib/errors.js';
import { fileSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import { tempDir } from '../helpers/tmp.js';
import { codeOf, openAndReadAll } from '../fixtures/snapshot-read.js';
import { buildSeeds } from './import-harness.js';
import { assertVariety, freshSeed, runFuzz } from './run-fuzz.js';
import { applyPlan, planArbitrary, type Plan, type Seed } from './zip-mutations.js';

/** Reads one mutated archive; resolves with its outcome or throws what is wrong. */
async function readCase(plan: Plan, seeds: readonly Seed[], file: string): Promise<string> {
  await applyPlan(plan, seeds, file);
  const outcome = await openAndReadAll(file);
  if (outcome.stage !== 'open' && outcome.closeError !== undefined) throw new Error(`close failed: ${codeOf(outcome.closeError)}`);
  const report = await verifySnapshot(await fileSource(file));
  if (outcome.stage === 'ok') {
    if (!report.ok) throw new Error(`read in full, but verifySnapshot refuses it: ${report.error?.code}`);
    return 'read';
  }
  const code = codeOf(outcome.error);
  if (!isPersoniumError(outcome.error) || !/^PR4\d\d-/.test(code)) throw new Error(`refused at ${outcome.stage} with ${code}`);
  if (report.ok || report.error?.code !== code) throw new Error(`the reader refuses it with ${code} at ${outcome.stage}, verifySnapshot says ${report.ok ? 'ok' : report.error?.code}`);
  return `${outcome.stage} ${code}`;
}

test('2,000 mutated archives read directly: read, or refused with a 4xx code that verifySnapshot gives too', async (t) => {
  const dir = await tempDir(t);
  const seeds = await buildSeeds(dir, 'js');
  const file = join(dir, 'fuzz.zip');
  const outcomes = await runFuzz(t, planArbitrary(seeds.length), (plan) => readCase(plan, seeds, file), { seed: freshSeed(), numRuns: 2000, file: 'test/fuzz/reader.slow.test.ts' });
  assertVariety(t, outcomes, 6);
});
