/**
 * What the snapshot reader's modules share, in a leaf module so that none of them imports another in
 * a circle: the limits the reader enforces, and the helpers that shape its errors.
 */
import { PersoniumError } from '../errors.js';

/** One mebibyte. */
export const ONE_MIB = 2 ** 20;

/** The longest text quoted in an error message parameter. */
const PARAM_MAX = 160;

/** The limits the reader enforces on an archive. */
export interface ReaderLimits {
  /** Most entries (central directory records) an archive may hold. */
  maxEntries: number;
  /** Largest sum of declared uncompressed sizes, in bytes. */
  maxUncompressedBytes: number;
  /**
   * Largest ratio of the archive's total uncompressed size to its own size, for archives that expand
   * beyond `EXPANSION_FLOOR` (1 GiB).
   */
  maxCompressionRatio: number;
  /** Longest `.pjson` line, and largest `.pmeta` or `00_cell.json`, in bytes. */
  maxLineBytes: number;
}

/** 400 `PR400-SN-0002` (an unsafe archive) with the reason. */
export function unsafe(reason: string, cause?: unknown): PersoniumError {
  return new PersoniumError('PR400-SN-0002', [reason], cause === undefined ? {} : { cause });
}

/** Shortens a text for an error message parameter. */
export function clip(text: string, max = PARAM_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** An entry name as an error message quotes it: clipped, in JSON quotes. */
export function describe(name: string): string {
  return JSON.stringify(clip(name, 120));
}

/** A callback that ignores an error: a stream's errors are seen by whoever consumes it. */
export function noop(): void {
  // Errors are seen by whoever consumes the stream.
}

/** Any thrown value as an `Error`. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
