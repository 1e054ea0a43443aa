/** What the benchmarks share about running in rounds: the `--rounds N` flag and the median. */

/**
 * Takes `--rounds N` out of `args` (the command line without the script) and returns N, or
 * `fallback` when the flag is absent. Throws when N is not a whole number of at least 1.
 */
export function takeRounds(args: string[], fallback = 3): number {
  const at = args.indexOf('--rounds');
  const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : fallback;
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error('--rounds takes a whole number of at least 1');
  return rounds;
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
