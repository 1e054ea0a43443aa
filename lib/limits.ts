/**
 * The one home of every limit's default. The router's options, the snapshot reader and the Fs cell
 * source all take their defaults from here.
 */
import type { LimitOptions } from './types.js';

/** Every limit, filled. */
export type ResolvedLimits = { readonly [K in keyof LimitOptions]-?: number };

/** The default limits. */
export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  maxRunningJobs: 4,
  maxSnapshotBytes: 10 * 2 ** 30,
  maxEntries: 1_000_000,
  maxUncompressedBytes: 64 * 2 ** 30,
  maxCompressionRatio: 200,
  maxLineBytes: 16 * 2 ** 20,
  maxRequestBodyBytes: 64 * 2 ** 10,
});
