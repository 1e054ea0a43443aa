/**
 * Running a seeded fuzz property and reporting it: the seed comes from `KCS_FUZZ_SEED` when set (and
 * the replay path from `KCS_FUZZ_PATH`), else from the caller; the seed, the number of runs and the
 * outcomes seen are logged, and a failure names the seed, the path and the command that replays it.
 */
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';

/** How a fuzz property is run. */
export interface FuzzRun {
  /** The seed when `KCS_FUZZ_SEED` is not set: a fixed one for `npm test`, a fresh one for the slow set. */
  readonly seed: number;
  /** How many cases. */
  readonly numRuns: number;
  /** The test file, for the replay command. */
  readonly file: string;
}

/** The seed and path to use: the environment's, else `fallback`. */
export function fuzzSeed(fallback: number): { seed: number; path?: string } {
  const fromEnv = process.env['KCS_FUZZ_SEED'];
  const path = process.env['KCS_FUZZ_PATH'];
  return { seed: fromEnv === undefined || fromEnv === '' ? fallback : Number(fromEnv), ...(path ? { path } : {}) };
}

/**
 * Checks that a run saw at least `min` distinct outcomes (a fuzzer stuck on one outcome explores
 * nothing); a replay of one case (`KCS_FUZZ_PATH`) sees one, and is not held to it.
 */
export function assertVariety(t: ExecutionContext, outcomes: ReadonlyMap<string, number>, min: number): void {
  if (fuzzSeed(0).path !== undefined) {
    t.pass('a replay of one case passed');
    return;
  }
  t.true(outcomes.size >= min, `only ${outcomes.size} distinct outcomes`);
}

/** A fresh seed for runs that explore (the slow set). */
export function freshSeed(): number {
  return (Date.now() ^ (process.pid << 8)) | 0;
}

/**
 * Runs `property` (its result: an outcome label) `numRuns` times; logs the seed and how often each
 * outcome was seen; returns the outcome counts. A failure throws fast-check's report (seed, path,
 * counterexample) with the replay command.
 */
export async function runFuzz<T>(
  t: ExecutionContext,
  arbitrary: fc.Arbitrary<T>,
  property: (value: T) => Promise<string>,
  options: FuzzRun,
): Promise<Map<string, number>> {
  const { seed, path } = fuzzSeed(options.seed);
  const outcomes = new Map<string, number>();
  t.log(`fuzz seed ${seed}${path === undefined ? '' : ` path ${path}`}, ${options.numRuns} runs`);
  const result = await fc.check(
    fc.asyncProperty(arbitrary, async (value) => {
      const outcome = await property(value);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }),
    { seed, numRuns: options.numRuns, ...(path === undefined ? {} : { path }), endOnFailure: false },
  );
  if (result.failed) {
    const config = options.file.endsWith('.slow.test.ts') ? '--config ava.slow.config.js ' : '';
    const match = `--match '${t.title.replaceAll("'", "'\\''")}'`;
    const replay = `KCS_FUZZ_SEED=${result.seed} KCS_FUZZ_PATH=${result.counterexamplePath ?? ''} npx ava ${config}${options.file} ${match}`;
    const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    throw new Error(`${fc.defaultReportMessage(result) ?? 'failed'}\nError: ${error}\nReplay with: ${replay}`);
  }
  t.log(`${result.numRuns} runs, ${outcomes.size} distinct outcomes: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ×${n}`).join('; ')}`);
  return outcomes;
}

/** A seeded generator of numbers in [0, 1) (mulberry32), for tests that draw moments rather than values. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
