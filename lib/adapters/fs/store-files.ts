/**
 * File helpers shared by the file-system stores (`FsSnapshotStore`, `FsJobStore`): crash-safe file
 * replacement (temp file, fsync, rename, directory fsync), safe on-disk names for arbitrary keys,
 * the registry of temp files this process is still writing (so a sweep never removes them), and the
 * one test of whether a process named in a file's name still runs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The `code` of a Node.js system error (`ENOENT`, `EEXIST`…), if it has one. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/**
 * Whether the process `pid` still runs on this machine. Only a definite "no such process" counts as
 * gone (a process of another user, or any other answer, counts as running), so that recovery never
 * removes what a live process may still be using. The stores that name files and locks by pid assume
 * that the processes sharing a root see each other's pids: one machine, one pid namespace.
 */
export function processIsRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) return false; // no process has that pid
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}

/**
 * Absolute paths of the temp files this process is writing right now, over every store instance.
 * Sweeps skip them whatever their age.
 */
export const inFlightTemps = new Set<string>();

/** A fresh random id: 32 lower-case hex characters. */
export function randomId(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * The on-disk name for an arbitrary key (a snapshot name, a cell id): a readable prefix (the key
 * lower-cased, every character but `a-z 0-9 . _ -` replaced by `_`, a leading `.` too, at most 64
 * characters) then `~` and 32 hex characters of the key's SHA-256. It never starts with `.`, never
 * contains `~` before the hash, stays far below 255 bytes, and two keys that differ only in case or
 * in characters a file system would mangle still get different names.
 */
export function fileKey(key: string): string {
  const readable = key
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '_')
    .replace(/^\./, '_')
    .slice(0, 64);
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32);
  return `${readable}~${hash}`;
}

/** Removes a file; resolves `false` if it did not exist. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Flushes a directory's entries (renames, unlinks) to disk. Best effort: some platforms cannot open a
 * directory for syncing, and then this does nothing.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Not supported here (e.g. Windows); the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Flushes a file's content to disk. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces (or creates) `path` with `data`, atomically: readers see the old content or the new one,
 * and after a crash the file is entirely one or the other. The data goes to `<tempPrefix><random>`
 * in the same directory, is flushed, and is renamed over `path`; the directory is flushed after.
 * The temp file is removed when anything fails.
 */
export async function writeFileAtomic(path: string, data: string, tempPrefix: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${tempPrefix}${randomId()}`);
  inFlightTemps.add(temp);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await removeFile(temp).catch(() => undefined);
    throw error;
  } finally {
    inFlightTemps.delete(temp);
  }
  await syncDir(dir);
}

/** Reads and parses a JSON file; resolves `undefined` when it does not exist. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as unknown;
}
