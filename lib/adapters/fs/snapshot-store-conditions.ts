/**
 * Evaluation of {@link WriteConditions} (`If-Match`, `If-None-Match`) against the current file, as
 * RFC 9110 section 13.1 does: `If-Match` uses the strong comparison, `If-None-Match` the weak one,
 * both accept `*` or a comma-separated list of entity tags.
 */
import type { WriteConditions } from '../../types.js';

/** One entity tag of a list. */
export interface EntityTag {
  /** Whether it carries the `W/` prefix. */
  readonly weak: boolean;
  /** The quoted opaque tag, quotes included. */
  readonly opaque: string;
}

/** Parses a header value into `*` or its entity tags; anything that is not an entity tag is skipped. */
export function parseEntityTags(value: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  for (const match of value.matchAll(/(W\/)?("[^"]*")/g)) {
    const opaque = match[2];
    if (opaque !== undefined) tags.push({ weak: match[1] !== undefined, opaque });
  }
  return tags;
}

/**
 * Whether the conditions hold for a file whose current ETag is `etag` (`undefined`: no file).
 * `ifMatch` fails when there is no file, or when no listed tag is strongly equal to `etag`;
 * `ifNoneMatch` fails when a file exists and the value is `*` or lists a tag weakly equal to `etag`.
 */
export function conditionsHold(etag: string | undefined, conditions: WriteConditions = {}): boolean {
  if (conditions.ifMatch !== undefined) {
    if (etag === undefined) return false;
    const tags = parseEntityTags(conditions.ifMatch);
    if (tags !== '*' && !tags.some((tag) => !tag.weak && tag.opaque === etag)) return false;
  }
  if (conditions.ifNoneMatch !== undefined && etag !== undefined) {
    const tags = parseEntityTags(conditions.ifNoneMatch);
    const opaque = etag.replace(/^W\//, '');
    if (tags === '*' || tags.some((tag) => tag.opaque === opaque)) return false;
  }
  return true;
}
