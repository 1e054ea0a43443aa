/**
 * Walking a cell's `dav/` tree: depth-first, the root first, parents before their children, siblings
 * in code-unit order, holding only the sorted child-name listings of the folders on the current
 * branch (one listing per level), never the whole tree.
 * Symbolic links are never followed: a link is neither a child resource nor content.
 *
 * The file system calls are synchronous, made in slices of at most a few milliseconds between which
 * the event loop runs (`util/yield.ts`): a cell of many small resources costs several calls per
 * resource, and each call through libuv's thread pool costs many times the call itself (measured:
 * 33,000 one-line files exported in about a third of the time). For local disks only: on a network
 * file system a single call may block the event loop for its whole round trip.
 *
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { timeSlicer } from '../../util/yield.js';
import { CONTENT_NAME, PMETA_NAME } from '../../snapshot/format.js';
import type { DavMeta } from '../../types.js';
import { DAV_DIR, PRIVATE_ROOT_DIRS, pathKind } from './cell-layout.js';
import { isJsonObject } from '../../util/json.js';

/** One resource folder found by {@link walkDav}. */
export interface DavEntry {
  /** The resource's path below the WebDAV root (`''` for the root). */
  readonly path: string;
  /** Its folder on disk. */
  readonly dir: string;
  /** The size of its `content` file, when it is a file resource. */
  readonly contentSize?: number;
}

/** One folder of the tree, read with a single `readdir`. */
interface Folder {
  /** Whether it holds a regular `.pmeta` file (it is a resource). */
  readonly isResource: boolean;
  /** Whether it holds a regular `content` file. */
  readonly hasContent: boolean;
  /** Its child folders, sorted by code unit. */
  readonly children: string[];
}

/** Reads one folder: one `readdir` tells its files and its child folders (links are neither). */
function readFolder(dir: string, isRoot: boolean): Folder {
  let isResource = false;
  let hasContent = false;
  const children: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!(isRoot && PRIVATE_ROOT_DIRS.includes(entry.name))) children.push(entry.name);
    } else if (entry.isFile()) {
      if (entry.name === PMETA_NAME) isResource = true;
      else if (entry.name === CONTENT_NAME) hasContent = true;
    }
  }
  return { isResource, hasContent, children: children.sort() };
}

/** Describes one resource folder: its path, and the size of its content if it has one. */
function entry(path: string, dir: string, folder: Folder): DavEntry {
  if (!folder.hasContent) return { path, dir };
  const { size } = lstatSync(join(dir, CONTENT_NAME));
  return { path, dir, contentSize: size };
}

/**
 * Yields every resource folder of a cell directory's WebDAV tree: the root first, then depth-first
 * with siblings sorted. A folder is a resource when it holds a `.pmeta` file; a folder without one is
 * an intermediate folder: not yielded, but walked (as the snapshot reader treats a folder of
 * `20_webdav/` without `.pmeta`). A cell without a `dav/` folder has no resources. Checks `signal`
 * before every folder. Each folder costs one `readdir` (plus one `lstat` for a file's size).
 */
export async function* walkDav(cellDir: string, signal: AbortSignal): AsyncGenerator<DavEntry> {
  const rootDir = join(cellDir, DAV_DIR);
  signal.throwIfAborted();
  if ((await pathKind(rootDir)) !== 'directory') return;
  const rootFolder = readFolder(rootDir, true);
  if (rootFolder.isResource) yield entry('', rootDir, rootFolder);
  const slice = timeSlicer();
  const stack: { path: string; dir: string; names: string[]; next: number }[] = [
    { path: '', dir: rootDir, names: rootFolder.children, next: 0 },
  ];
  for (;;) {
    const top = stack[stack.length - 1];
    if (top === undefined) return;
    const name = top.names[top.next++];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    const pause = slice();
    if (pause !== undefined) await pause;
    signal.throwIfAborted();
    const path = top.path === '' ? name : `${top.path}/${name}`;
    const dir = join(top.dir, name);
    const folder = readFolder(dir, false);
    if (folder.isResource) yield entry(path, dir, folder);
    stack.push({ path, dir, names: folder.children, next: 0 });
  }
}

/** Reads up to `max` bytes of an open file from its start; fewer when it is shorter. */
function readUpTo(fd: number, max: number): Buffer {
  const buffer = Buffer.allocUnsafe(max);
  let filled = 0;
  while (filled < max) {
    const n = readSync(fd, buffer, filled, max - filled, filled);
    if (n === 0) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

/** Opens a file of a resource folder for reading, never through a symbolic link. */
function openNoFollow(dir: string, name: string): number {
  return openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW);
}

/** A reused buffer for reading `.pmeta` files: most fit it, and are read with no `fstat`. */
const metaScratch = Buffer.allocUnsafe(16 * 1024);

/** Fills `buffer` from an open file's start; returns the bytes read (fewer at the end of the file). */
function readInto(fd: number, buffer: Buffer): number {
  let filled = 0;
  while (filled < buffer.length) {
    const n = readSync(fd, buffer, filled, buffer.length - filled, filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/**
 * Reads a resource's `.pmeta`, refusing one that is missing, larger than `maxBytes` or not a JSON
 * object. `path` names the resource in errors. A `.pmeta` that fits a 16 KiB buffer costs an `open`,
 * one `read` and a `close`; a larger one is measured first with `fstat`.
 */
export function readMeta(dir: string, path: string, maxBytes: number): DavMeta {
  const missing = (): Error => new Error(`WebDAV resource [${path}] has no ${PMETA_NAME}`);
  const tooLarge = (): Error => new Error(`${PMETA_NAME} of WebDAV resource [${path}] is larger than ${maxBytes} bytes`);
  let fd: number;
  try {
    fd = openNoFollow(dir, PMETA_NAME);
  } catch {
    throw missing();
  }
  let text: string;
  try {
    let filled: number;
    try {
      filled = readInto(fd, metaScratch);
    } catch {
      throw missing(); // not a regular file (a folder named .pmeta)
    }
    if (filled < metaScratch.length) {
      if (filled > maxBytes) throw tooLarge();
      text = metaScratch.toString('utf8', 0, filled);
    } else {
      const info = fstatSync(fd);
      if (info.size > maxBytes) throw tooLarge();
      text = readUpTo(fd, info.size).toString('utf8');
    }
  } finally {
    closeSync(fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not valid JSON`);
  }
  if (!isJsonObject(value)) throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not a JSON object`);
  return value;
}

/**
 * Reads the first `size` bytes of a resource's `content` (a small file, whole), never through a
 * symbolic link. Returns fewer bytes if the file is shorter than `size`.
 */
export function readSmallContent(dir: string, size: number): Buffer {
  const fd = openNoFollow(dir, CONTENT_NAME);
  try {
    return readUpTo(fd, size);
  } finally {
    closeSync(fd);
  }
}
