/**
 * The one evaluation of request preconditions for a snapshot file, in the order of RFC 9110 section
 * 13.2.2, for GET, HEAD, PUT and DELETE:
 *
 * 1. `If-Match` present and false → 412.
 * 2. else `If-Unmodified-Since` present, a valid date, and the file modified after it → 412.
 * 3. `If-None-Match` present and false (a listed tag, or `*`, matches) → 304 for GET/HEAD, 412 otherwise.
 * 4. else, for GET/HEAD, `If-Modified-Since` valid and the file not modified after it → 304.
 * 5. for GET/HEAD with `Range` and `If-Range`: a false `If-Range` means the `Range` is ignored (200).
 *
 * As section 13.2.1 requires, the caller evaluates preconditions only when the request would
 * otherwise succeed: a GET, HEAD or DELETE of a missing file answers 404 before this is asked.
 * A PUT of a missing file is evaluated with `info` undefined. The stores check the entity-tag
 * conditions a second time, atomically, at commit: {@link Proceed.commit} says which.
 */
import type { SnapshotInfo, WriteConditions } from '../types.js';
import { matchHits, noneMatchHits } from './etags.js';
import { parseHttpDate, toSecond } from './http-date.js';

/** The request headers the evaluation reads. */
export interface PreconditionHeaders {
  /** `If-Match`: `*` or a list of entity tags. */
  readonly 'if-match'?: string | undefined;
  /** `If-Unmodified-Since`: an HTTP-date; ignored when `If-Match` is present. */
  readonly 'if-unmodified-since'?: string | undefined;
  /** `If-None-Match`: `*` or a list of entity tags. */
  readonly 'if-none-match'?: string | undefined;
  /** `If-Modified-Since`: an HTTP-date; GET/HEAD only, ignored when `If-None-Match` is present. */
  readonly 'if-modified-since'?: string | undefined;
  /** `If-Range`: an entity tag or an HTTP-date; GET/HEAD with a `Range` only. */
  readonly 'if-range'?: string | undefined;
}

/** The request may go ahead. */
export interface Proceed {
  readonly kind: 'proceed';
  /** GET/HEAD: whether a `Range` may be honoured (no `If-Range`, or one that holds). */
  readonly rangeApplies: boolean;
  /**
   * PUT/DELETE: the conditions the store must find still true at commit, atomically. They are the
   * request's `If-Match` / `If-None-Match`, and, when `If-Unmodified-Since` was what held, the ETag
   * of the version it was evaluated against (so a change in between still fails).
   */
  readonly commit: WriteConditions;
}

/** 412 Precondition Failed, for the header named. */
export interface Failed {
  readonly kind: 'failed';
  /** The precondition that failed. */
  readonly header: 'If-Match' | 'If-Unmodified-Since' | 'If-None-Match';
}

/** 304 Not Modified (GET/HEAD only). */
export interface NotModified {
  readonly kind: 'not-modified';
}

/** The outcome of {@link evaluatePreconditions}. */
export type PreconditionOutcome = Proceed | NotModified | Failed;

/** The methods that only read. */
export type ReadMethod = 'GET' | 'HEAD';
/** The methods that change a file. */
export type WriteMethod = 'PUT' | 'DELETE';

/** Whether the method only reads (GET and HEAD). */
function isRead(method: ReadMethod | WriteMethod): method is ReadMethod {
  return method === 'GET' || method === 'HEAD';
}

/**
 * Whether a file's `Last-Modified` is a strong validator (RFC 9110 section 8.8.2.2): it is when the
 * file was last modified at least one second before `now`, so no second change can share the date.
 */
function lastModifiedIsStrong(info: SnapshotInfo, now: number): boolean {
  return toSecond(info.modified.getTime()) + 1000 <= toSecond(now);
}

/**
 * Whether an `If-Range` value lets the `Range` apply (RFC 9110 section 13.1.5): an entity tag must be
 * strongly equal to the file's (a weak tag never is); a date must equal the file's `Last-Modified`
 * exactly, and that date must be strong. Anything else does not hold, so the whole file is sent.
 */
export function ifRangeHolds(value: string, info: SnapshotInfo, now: number = Date.now()): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    return !trimmed.startsWith('W/') && !info.etag.startsWith('W/') && trimmed === info.etag;
  }
  const date = parseHttpDate(trimmed);
  return date !== undefined && date === toSecond(info.modified.getTime()) && lastModifiedIsStrong(info, now);
}

/** Whether the file was modified after a valid HTTP-date (compared to the second); `undefined` if the date is invalid. */
function modifiedAfter(value: string | undefined, info: SnapshotInfo): boolean | undefined {
  const since = parseHttpDate(value);
  return since === undefined ? undefined : toSecond(info.modified.getTime()) > since;
}

/**
 * Evaluates the preconditions of a request on a snapshot file that exists (`info`) or, for a PUT
 * only, does not (`undefined`). `now` decides whether `Last-Modified` is strong enough for `If-Range`.
 */
export function evaluatePreconditions(method: ReadMethod, headers: PreconditionHeaders, info: SnapshotInfo, now?: number): PreconditionOutcome;
export function evaluatePreconditions(method: WriteMethod, headers: PreconditionHeaders, info: SnapshotInfo | undefined, now?: number): Proceed | Failed;
export function evaluatePreconditions(
  method: ReadMethod | WriteMethod,
  headers: PreconditionHeaders,
  info: SnapshotInfo | undefined,
  now: number = Date.now(),
): PreconditionOutcome {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  const commit: { ifMatch?: string; ifNoneMatch?: string } = {};
  if (ifMatch !== undefined) {
    if (!matchHits(ifMatch, info?.etag)) return { kind: 'failed', header: 'If-Match' };
    commit.ifMatch = ifMatch;
  } else if (info !== undefined) {
    // Without a file there is no modification date, and the header is ignored.
    const changed = modifiedAfter(headers['if-unmodified-since'], info);
    if (changed === true) return { kind: 'failed', header: 'If-Unmodified-Since' };
    if (changed === false) commit.ifMatch = info.etag;
  }
  if (ifNoneMatch !== undefined) {
    if (info !== undefined && noneMatchHits(ifNoneMatch, info.etag)) {
      return isRead(method) ? { kind: 'not-modified' } : { kind: 'failed', header: 'If-None-Match' };
    }
    commit.ifNoneMatch = ifNoneMatch;
  } else if (isRead(method) && info !== undefined && modifiedAfter(headers['if-modified-since'], info) === false) {
    return { kind: 'not-modified' };
  }
  const ifRange = headers['if-range'];
  const rangeApplies = info === undefined || ifRange === undefined || ifRangeHolds(ifRange, info, now);
  return { kind: 'proceed', rangeApplies, commit };
}
