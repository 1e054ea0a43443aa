/**
 * The on-disk layout of {@link FsCellDataSource}: where a cell's files live under the root, the names
 * of the staging, old and journal entries a commit uses, and the validation of cell names and WebDAV
 * paths. Nothing here touches the disk except {@link pathKind}.
 *
 * ```
 * <root>/
 *   <cell name>/                        one directory per cell
 *     cell.json                         the cell record (`_type` "Cell"), no trailing newline
 *     10_box.pjson … 80_link.pjson      one record per line; a missing file means no records
 *     dav/                              the WebDAV tree: a folder per resource
 *       .pmeta                          the cell root's metadata
 *       __/.pmeta                       the main box
 *       __/a.txt/.pmeta, …/content      a file resource
 *       .pkeys/, .pauthhistory/         never exported, kept across imports
 *   .staging-<cell>-<id>/               an import being written (same shape as a cell)
 *   .old-<cell>-<id>/                   the replaced content during a commit
 *   .swap-<cell>.json                   the journal of a commit in progress
 * ```
 *
 * @module
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { PersoniumError } from '../../errors.js';
import { ODATA_DIR, ODATA_FILES, PMETA_NAME, davFolder } from '../../snapshot/format.js';
import type { ODataType } from '../../types.js';

/** The cell record's file name inside a cell directory. */
export const CELL_FILE = 'cell.json';
/** The WebDAV tree's folder name inside a cell directory. */
export const DAV_DIR = 'dav';
/** Folders of the cell root that belong to the cell's identity: never exported, kept across imports. */
export const PRIVATE_ROOT_DIRS: readonly string[] = Object.freeze(['.pkeys', '.pauthhistory']);

/** Prefix of a staging directory (`.staging-<cell>-<id>`). */
export const STAGING_PREFIX = '.staging-';
/** Prefix of a replaced cell directory during a commit (`.old-<cell>-<id>`). */
export const OLD_PREFIX = '.old-';
/** Prefix of a commit journal (`.swap-<cell>.json`). */
export const JOURNAL_PREFIX = '.swap-';
/** Suffix of a commit journal. */
export const JOURNAL_SUFFIX = '.json';
/** Suffix of a journal being written. */
export const JOURNAL_TEMP_SUFFIX = '.tmp';

/** Personium's cell name rule: one safe path segment, never `.`-prefixed. */
const CELL_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** The random part of staging and old directory names. */
const SWAP_ID = /^[0-9a-f]{16}$/;

/** Whether `name` is a valid cell name (and so a single safe path segment below the root). */
export function isValidCellName(name: string): boolean {
  return CELL_NAME.test(name);
}

/** Whether `id` has the shape of a swap id (16 lowercase hex digits). */
export function isValidSwapId(id: string): boolean {
  return SWAP_ID.test(id);
}

/** The file name of the `.pjson` file of one OData type, e.g. `10_box.pjson`. */
export function pjsonName(type: ODataType): string {
  const entry = ODATA_FILES.find((f) => f.type === type);
  if (entry === undefined) throw new TypeError(`Unknown OData type: ${String(type)}`);
  return entry.path.slice(ODATA_DIR.length);
}

/** The name of the staging directory of a swap. */
export function stagingName(cell: string, id: string): string {
  return `${STAGING_PREFIX}${cell}-${id}`;
}

/** The name the replaced cell directory takes during a swap. */
export function oldName(cell: string, id: string): string {
  return `${OLD_PREFIX}${cell}-${id}`;
}

/** The name of the journal of a commit on a cell. */
export function journalName(cell: string): string {
  return `${JOURNAL_PREFIX}${cell}${JOURNAL_SUFFIX}`;
}

/** What a special root entry is, as {@link parseRootEntry} recognises it. */
export type RootEntry =
  /** A cell directory. */
  | { readonly kind: 'cell'; readonly cell: string }
  /** A staging directory. */
  | { readonly kind: 'staging'; readonly cell: string; readonly id: string }
  /** A replaced cell directory. */
  | { readonly kind: 'old'; readonly cell: string; readonly id: string }
  /** A commit journal. */
  | { readonly kind: 'journal'; readonly cell: string }
  /** A journal that was being written. */
  | { readonly kind: 'journal-temp'; readonly cell: string }
  /** Anything else: left alone. */
  | { readonly kind: 'other' };

/** Recognises the name of an entry directly below the root. */
export function parseRootEntry(name: string): RootEntry {
  if (isValidCellName(name)) return { kind: 'cell', cell: name };
  for (const [prefix, kind] of [
    [STAGING_PREFIX, 'staging'],
    [OLD_PREFIX, 'old'],
  ] as const) {
    if (name.startsWith(prefix)) {
      const rest = name.slice(prefix.length);
      const dash = rest.lastIndexOf('-');
      const cell = rest.slice(0, dash);
      const id = rest.slice(dash + 1);
      if (dash > 0 && isValidCellName(cell) && isValidSwapId(id)) return { kind, cell, id };
      return { kind: 'other' };
    }
  }
  if (name.startsWith(JOURNAL_PREFIX)) {
    for (const [suffix, kind] of [
      [JOURNAL_SUFFIX + JOURNAL_TEMP_SUFFIX, 'journal-temp'],
      [JOURNAL_SUFFIX, 'journal'],
    ] as const) {
      if (name.endsWith(suffix)) {
        const cell = name.slice(JOURNAL_PREFIX.length, name.length - suffix.length);
        if (isValidCellName(cell)) return { kind, cell };
      }
    }
  }
  return { kind: 'other' };
}

/**
 * Checks a WebDAV path received by an import: `''` (the cell root) or `/`-separated segments, none
 * of them `''`, `.`, `..` or `.pmeta`, without backslash, NUL or other control characters, and not
 * one of the cell root's private folders. Rejects with `PR400-SN-0002` otherwise.
 */
export function checkDavPath(path: string): void {
  if (typeof path !== 'string') throw new PersoniumError('PR400-SN-0002', [String(path)]);
  if (path === '') return;
  const segments = path.split('/');
  const bad = segments.some(
    (s) => s === '' || s === '.' || s === '..' || s === PMETA_NAME || /[\\\u0000-\u001f\u007f]/.test(s),
  );
  const first = segments[0];
  if (bad || (first !== undefined && PRIVATE_ROOT_DIRS.includes(first))) {
    throw new PersoniumError('PR400-SN-0002', [`${davFolder(path)}`]);
  }
}

/** The folder of a WebDAV resource inside a cell directory. */
export function davDir(cellDir: string, path: string): string {
  return path === '' ? join(cellDir, DAV_DIR) : join(cellDir, DAV_DIR, ...path.split('/'));
}

/** The kind of a path, without following symbolic links. */
export type PathKind = 'file' | 'directory' | 'other' | 'missing';

/** What `path` is, without following a symbolic link (a link is `other`). */
export async function pathKind(path: string): Promise<PathKind> {
  try {
    const s = await lstat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if (isNotFound(error)) return 'missing';
    throw error;
  }
}

/** Whether an error is a file-system "no such file" (or "not a directory" on the way) error. */
export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
