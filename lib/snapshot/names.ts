/**
 * Validation of snapshot file names, export/import `Name`s and cell ids, before any comes near a
 * path. Not specific to the file system: any {@link SnapshotStore} may use it.
 */
import { PersoniumError } from '../errors.js';
import type { SnapshotStore } from '../types.js';

/** The longest snapshot file name, in UTF-8 bytes. */
export const MAX_SNAPSHOT_NAME_BYTES = 255;

/** C0 and C1 control characters, DEL, and lone UTF-16 surrogates (which have no UTF-8 form). */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

/** Why a path segment is unacceptable, or `undefined` when it is fine. */
function segmentProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'not a string';
  if (value === '' || value === '.' || value === '..') return 'empty or a dot segment';
  if (value.includes('/') || value.includes('\\')) return 'contains a path separator';
  if (FORBIDDEN.test(value)) return 'contains a control character or a lone surrogate';
  if (Buffer.byteLength(value, 'utf8') > MAX_SNAPSHOT_NAME_BYTES) return 'longer than 255 bytes';
  return undefined;
}

/**
 * Checks that `name` is one safe path segment: not empty, not `.` or `..`, without `/`, `\`, NUL,
 * control characters or lone surrogates, at most 255 UTF-8 bytes. Throws a `PR400-SN-0001`
 * {@link PersoniumError} otherwise.
 */
export function assertSnapshotName(name: string): void {
  if (segmentProblem(name) !== undefined) throw new PersoniumError('PR400-SN-0001', [String(name)]);
}

/**
 * Checks a cell id under the same rules as a file name. A bad cell id is the host's bug, not the
 * client's, so this throws a plain `TypeError` (answered 500).
 */
export function assertCellId(cellId: string): void {
  const problem = segmentProblem(cellId);
  if (problem !== undefined) throw new TypeError(`Invalid cell id (${problem}): ${JSON.stringify(cellId)}`);
}

/** The `Name` of an export or import (the snapshot file is `{Name}.zip`): Personium's pattern. */
export const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,192}$/;
/** The pattern as Personium quotes it in `PR400-CM-0002`. */
export const NAME_PATTERN_TEXT = '^[a-zA-Z0-9-_]{1,192}$';

/** Validates a `Name` value: 400 `PR400-CM-0002` unless a string matching the pattern. */
export function snapshotName(value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new PersoniumError('PR400-CM-0002', ['Name', NAME_PATTERN_TEXT]);
  }
  return value;
}

/** The snapshot file an export writes and an import reads: `{Name}.zip`. */
export function zipName(name: string): string {
  return `${name}.zip`;
}
