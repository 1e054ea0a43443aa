/**
 * Byte ranges of a GET/HEAD (RFC 9110 section 14): the choice of one range with `range-parser`, and
 * the `Content-Range` values of the answers. Whether a `Range` applies at all (`If-Range`) is decided
 * with the other preconditions, in `preconditions.ts`.
 */
import parseRange from 'range-parser';
import { PersoniumError } from '../errors.js';
import type { ByteRange, SnapshotStore } from '../types.js';

/** What to send for a GET/HEAD: the whole file, one range of it, or 416. */
export type RangeChoice =
  /** 200 with the whole file. */
  | { readonly kind: 'full' }
  /** 206 with this inclusive range. */
  | { readonly kind: 'partial'; readonly range: ByteRange }
  /** 416 `PR416-DV-0001`. */
  | { readonly kind: 'unsatisfiable' };

/**
 * Chooses what to send of a file of `size` bytes for a `Range` header value. No `Range`, one that
 * does not parse, a unit other than `bytes`, or several non-overlapping ranges: the whole file (RFC
 * 9110 lets a server ignore a `Range`, and a multipart answer is not worth its cost here). One range
 * (overlapping ranges are combined): that range, clipped to the file. A syntactically valid set of
 * ranges none of which is satisfiable (including any range of an empty file): 416.
 */
export function chooseRange(header: string | undefined, size: number): RangeChoice {
  if (header === undefined || header.trim() === '') return { kind: 'full' };
  const equals = header.indexOf('=');
  if (equals < 0 || header.slice(0, equals).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const ranges = parseRange(size, `bytes=${header.slice(equals + 1)}`, { combine: true });
  if (ranges === -2) return { kind: 'full' };
  if (ranges === -1) return { kind: 'unsatisfiable' };
  const [range] = ranges;
  if (ranges.length !== 1 || range === undefined) return { kind: 'full' };
  return { kind: 'partial', range: { start: range.start, end: range.end } };
}

/** The `Content-Range` of a partial answer. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** The `Content-Range` of a 416 answer. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/**
 * The rejection of a range that is not inside a file of `size` bytes: 416 `PR416-DV-0001` with
 * `Content-Range: bytes *\/{size}`. What every {@link SnapshotStore}'s `read` rejects with.
 */
export function rangeNotSatisfiable(size: number): PersoniumError {
  return new PersoniumError('PR416-DV-0001', [], { headers: { 'Content-Range': unsatisfiedRange(size) } });
}
