/**
 * What the snapshot routes share: the addressed file name, its URL, and the not-found and
 * precondition-failed answers.
 */
import type { Context } from 'koa';
import { assertSnapshotName } from '../snapshot/names.js';
import { PersoniumError } from '../errors.js';
import { getState } from '../http/state.js';
import type { Failed } from '../webdav/preconditions.js';

/** The collection's URL: `{CellURL}__snapshot`. */
export function collectionUrl(ctx: Context): string {
  return `${getState(ctx).cellUrl}__snapshot`;
}

/** A file's URL: `{CellURL}__snapshot/{name}`, the name percent-encoded. */
export function fileUrl(ctx: Context, name: string): string {
  return `${collectionUrl(ctx)}/${encodeURIComponent(name)}`;
}

/**
 * The file name of `__snapshot/{name}`, as the router decoded it. 400 `PR400-SN-0001` unless it is one
 * safe path segment (not empty, `.` or `..`; no `/` — `%2F` decodes to one —, `\`, NUL or other
 * control characters; at most 255 UTF-8 bytes).
 */
export function fileName(ctx: Context): string {
  const name = (ctx.params as Record<string, string | undefined>)['name'] ?? '';
  assertSnapshotName(name);
  return name;
}

/** 404 `PR404-DV-0001` for a file that does not exist, naming its URL as Personium does. */
export function notFound(ctx: Context, name: string): PersoniumError {
  return new PersoniumError('PR404-DV-0001', [fileUrl(ctx, name)]);
}

/**
 * 412 for a failed precondition: `PR412-DV-0001` for the entity-tag headers (as Personium answers a
 * failed `If-Match` / `If-None-Match`), `PR412-SN-0001` for `If-Unmodified-Since`.
 */
export function preconditionFailed(outcome: Failed): PersoniumError {
  return new PersoniumError(outcome.header === 'If-Unmodified-Since' ? 'PR412-SN-0001' : 'PR412-DV-0001');
}
