/**
 * Entity tags and write preconditions (RFC 9110 section 13.1), shared by the GET/HEAD validators and
 * by every {@link SnapshotStore}, which evaluates {@link WriteConditions} atomically at commit.
 */
import type { SnapshotStore, WriteConditions } from '../types.js';

/** One entity tag of a header list. */
export interface EntityTag {
  /** Whether it carries the `W/` prefix. */
  readonly weak: boolean;
  /** The opaque tag, double quotes included. */
  readonly opaque: string;
}

/** Parses an `If-Match` / `If-None-Match` value into `*` or its entity tags (anything else is skipped). */
export function parseEntityTags(value: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  for (const match of value.matchAll(/(W\/)?("[^"]*")/g)) {
    const opaque = match[2];
    if (opaque !== undefined) tags.push({ weak: match[1] !== undefined, opaque });
  }
  return tags;
}

/** The opaque part of an ETag as this module sends it (`"…"` or `W/"…"`). */
export function opaqueOf(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

/**
 * Whether an `If-None-Match` value matches a file's ETag, with the weak comparison: `*` matches any
 * existing file; a listed tag matches when its opaque part equals the ETag's, `W/` or not.
 */
export function noneMatchHits(header: string, etag: string): boolean {
  const tags = parseEntityTags(header);
  if (tags === '*') return true;
  const opaque = opaqueOf(etag);
  return tags.some((tag) => tag.opaque === opaque);
}

/**
 * Whether an `If-Match` value holds for a file whose ETag is `etag` (`undefined`: no file). `*` holds
 * for any existing file; a listed tag holds when its opaque part equals the ETag's. Like Personium, a
 * tag matches with or without the `W/` prefix (RFC 9110 would compare strongly, but Personium clients
 * echo weak tags; every ETag this module makes is strong, so nothing weaker is ever promised).
 */
export function matchHits(header: string, etag: string | undefined): boolean {
  if (etag === undefined) return false;
  const tags = parseEntityTags(header);
  if (tags === '*') return true;
  const opaque = opaqueOf(etag);
  return tags.some((tag) => tag.opaque === opaque);
}

/**
 * Whether write preconditions hold for a file whose ETag is `etag` (`undefined`: no file): `If-Match`
 * must hold ({@link matchHits}) and `If-None-Match` must not hit ({@link noneMatchHits}). Every
 * {@link SnapshotStore} evaluates this atomically at commit.
 */
export function writePreconditionsHold(etag: string | undefined, conditions: WriteConditions): boolean {
  if (conditions.ifMatch !== undefined && !matchHits(conditions.ifMatch, etag)) return false;
  if (conditions.ifNoneMatch !== undefined && etag !== undefined && noneMatchHits(conditions.ifNoneMatch, etag)) {
    return false;
  }
  return true;
}
