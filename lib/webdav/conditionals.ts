/**
 * Validators and ranges of a GET/HEAD (RFC 9110 sections 13 and 14): entity-tag lists, `If-None-Match`
 * and `If-Modified-Since` (304), `If-Range`, and the choice of one byte range with `range-parser`.
 * Pure functions over header values, so they work with any {@link SnapshotInfo}.
 */
import parseRange from 'range-parser';
import type { ByteRange, SnapshotInfo } from '../types.js';
import { noneMatchHits } from './etags.js';

/** Parses an HTTP-date (IMF-fixdate and the obsolete forms `Date.parse` accepts); `undefined` if invalid. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** A date as an HTTP-date (RFC 1123 / IMF-fixdate), e.g. `Wed, 15 Feb 2017 01:52:34 GMT`. */
export function httpDate(date: Date): string {
  return date.toUTCString();
}

/** A time truncated to the second, the precision of an HTTP-date. */
function toSecond(time: number): number {
  return Math.floor(time / 1000) * 1000;
}

/** The request headers the conditionals read. */
export interface ConditionalHeaders {
  /** `If-None-Match`: `*` or a list of entity tags. */
  readonly 'if-none-match'?: string | undefined;
  /** `If-Modified-Since`: an HTTP-date; ignored when `If-None-Match` is present. */
  readonly 'if-modified-since'?: string | undefined;
  /** `Range`: `bytes=` and one or more ranges. */
  readonly range?: string | undefined;
  /** `If-Range`: an entity tag or an HTTP-date. */
  readonly 'if-range'?: string | undefined;
}

/**
 * Whether a GET or HEAD answers 304: `If-None-Match` matches (weak comparison, `*` matches any
 * existing file), or, only when `If-None-Match` is absent, the file was not modified after a valid
 * `If-Modified-Since` (compared to the second).
 */
export function notModified(headers: ConditionalHeaders, info: SnapshotInfo): boolean {
  const noneMatch = headers['if-none-match'];
  if (noneMatch !== undefined) return noneMatchHits(noneMatch, info.etag);
  const since = parseHttpDate(headers['if-modified-since']);
  return since !== undefined && toSecond(info.modified.getTime()) <= since;
}

/**
 * Whether an `If-Range` value lets the `Range` apply: an entity tag must be strongly equal to the
 * file's (a weak tag never is); a date must be exactly the file's `Last-Modified`. Anything else
 * does not match, so the whole file is sent.
 */
export function ifRangeHolds(value: string, info: SnapshotInfo): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    return !trimmed.startsWith('W/') && !info.etag.startsWith('W/') && trimmed === info.etag;
  }
  const date = parseHttpDate(trimmed);
  return date !== undefined && date === toSecond(info.modified.getTime());
}

/** What to send for a GET/HEAD: the whole file, one range of it, or 416. */
export type RangeChoice =
  /** 200 with the whole file. */
  | { readonly kind: 'full' }
  /** 206 with this inclusive range. */
  | { readonly kind: 'partial'; readonly range: ByteRange }
  /** 416 `PR416-DV-0001`. */
  | { readonly kind: 'unsatisfiable' };

/**
 * Chooses what to send of a file. No `Range`, a `Range` that does not parse, a unit other than
 * `bytes`, several (non-overlapping) ranges, or an `If-Range` that does not hold: the whole file.
 * One range (overlapping ranges are combined): that range, clipped to the file. A syntactically
 * valid set of ranges none of which is satisfiable (including any range of an empty file): 416.
 */
export function chooseRange(headers: ConditionalHeaders, info: SnapshotInfo): RangeChoice {
  const header = headers.range;
  if (header === undefined || header.trim() === '') return { kind: 'full' };
  const ifRange = headers['if-range'];
  if (ifRange !== undefined && !ifRangeHolds(ifRange, info)) return { kind: 'full' };
  const equals = header.indexOf('=');
  if (equals < 0 || header.slice(0, equals).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const ranges = parseRange(info.size, `bytes=${header.slice(equals + 1)}`, { combine: true });
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
