/**
 * Walking a cell's `dav/` tree: depth-first, the root first, parents before their children, siblings
 * in code-unit order, holding only the sorted child-name listings of the folders on the current
 * branch (one listing per level), never the whole tree.
 * Symbolic links are never followed: a link is neither a child resource nor content.
 *
 * @module
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTENT_NAME, PMETA_NAME } from '../../snapshot/format.js';
import type { DavMeta } from '../../types.js';
import { DAV_DIR, PRIVATE_ROOT_DIRS, pathKind } from './cell-layout.js';
import { isJsonObject } from './lines.js';

/** One resource folder found by {@link walkDav}. */
export interface DavEntry {
  /** The resource's path below the WebDAV root (`''` for the root). */
  readonly path: string;
  /** Its folder on disk. */
  readonly dir: string;
  /** The size of its `content` file, when it is a file resource. */
  readonly contentSize?: number;
}

/** The names of the child resource folders of `dir`, sorted by code unit. */
async function childNames(dir: string, isRoot: boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (isRoot && PRIVATE_ROOT_DIRS.includes(entry.name)) continue;
    names.push(entry.name);
  }
  return names.sort();
}

/** Describes one resource folder: its path, and the size of its content if it has one. */
async function entry(path: string, dir: string): Promise<DavEntry> {
  const contentPath = join(dir, CONTENT_NAME);
  if ((await pathKind(contentPath)) !== 'file') return { path, dir };
  const { size } = await stat(contentPath);
  return { path, dir, contentSize: size };
}

/**
 * Yields every resource folder of a cell directory's WebDAV tree: the root first, then depth-first
 * with siblings sorted. A folder is a resource when it holds a `.pmeta` file; a folder without one is
 * an intermediate folder: not yielded, but walked (as the snapshot reader treats a folder of
 * `20_webdav/` without `.pmeta`). A cell without a `dav/` folder has no resources. Checks `signal`
 * before every folder.
 */
export async function* walkDav(cellDir: string, signal: AbortSignal): AsyncGenerator<DavEntry> {
  const rootDir = join(cellDir, DAV_DIR);
  signal.throwIfAborted();
  if ((await pathKind(rootDir)) !== 'directory') return;
  const visit = async (path: string, dir: string): Promise<DavEntry | undefined> =>
    (await pathKind(join(dir, PMETA_NAME))) === 'file' ? await entry(path, dir) : undefined;
  const root = await visit('', rootDir);
  if (root !== undefined) yield root;
  const stack: { path: string; dir: string; names: string[]; next: number }[] = [
    { path: '', dir: rootDir, names: await childNames(rootDir, true), next: 0 },
  ];
  for (;;) {
    const top = stack[stack.length - 1];
    if (top === undefined) return;
    const name = top.names[top.next++];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    signal.throwIfAborted();
    const path = top.path === '' ? name : `${top.path}/${name}`;
    const dir = join(top.dir, name);
    const found = await visit(path, dir);
    if (found !== undefined) yield found;
    stack.push({ path, dir, names: await childNames(dir, false), next: 0 });
  }
}

/**
 * Reads a resource's `.pmeta`, refusing one that is missing, larger than `maxBytes` or not a JSON
 * object. `path` names the resource in errors.
 */
export async function readMeta(dir: string, path: string, maxBytes: number): Promise<DavMeta> {
  const file = join(dir, PMETA_NAME);
  if ((await pathKind(file)) !== 'file') throw new Error(`WebDAV resource [${path}] has no ${PMETA_NAME}`);
  const { size } = await stat(file);
  if (size > maxBytes) throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is larger than ${maxBytes} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not valid JSON`);
  }
  if (!isJsonObject(value)) throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not a JSON object`);
  return value;
}
