/**
 * The sweep of `FsSnapshotStore`: what crashed uploads and commits left behind (temp files, content
 * files no metadata refers to), removed once older than a cutoff, and the name locks of processes
 * killed while holding them, whatever their age. Content files are judged under their name's lock, so
 * a commit in progress is never undone.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type FileLockOptions, breakAbandonedLock, withFileLock } from './lock.js';
import { DATA_FILE, LOCK_PREFIX, META_TEMP_PREFIX, UPLOAD_TEMP_PREFIX, readMeta } from './snapshot-layout.js';
import { errorCode, inFlightTemps, removeFile } from './store-files.js';

/** The entries of a directory; none when it does not exist (any more). */
async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/** Whether the file's mtime is before `cutoff` (false when it no longer exists). */
async function olderThan(path: string, cutoff: number): Promise<boolean> {
  try {
    return (await stat(path)).mtimeMs < cutoff;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Removes the content file `path` (version `id` of `key`) unless the metadata of `key` refers to it;
 * whether it was removed. Corrupt metadata leaves its content alone.
 */
function removeIfOrphan(dir: string, key: string, id: string, path: string, lockOptions: FileLockOptions): Promise<boolean> {
  return withFileLock(
    join(dir, `${LOCK_PREFIX}${key}`),
    async () => {
      let meta;
      try {
        meta = await readMeta(dir, key);
      } catch {
        return false; // corrupt metadata: leave its content alone
      }
      return meta?.data !== id && (await removeFile(path));
    },
    lockOptions,
  );
}

/** Sweeps one cell's directory; resolves to the number of files (and abandoned locks) removed. */
async function sweepCell(dir: string, cutoff: number, lockOptions: FileLockOptions): Promise<number> {
  let removed = 0;
  for (const entry of await entriesOf(dir)) {
    const path = join(dir, entry);
    if (entry.startsWith(LOCK_PREFIX)) {
      if (await breakAbandonedLock(path, lockOptions)) removed += 1;
      continue;
    }
    const isTemp = entry.startsWith(UPLOAD_TEMP_PREFIX) || entry.startsWith(META_TEMP_PREFIX);
    const data = isTemp ? null : DATA_FILE.exec(entry);
    if (!isTemp && data === null) continue;
    if (isTemp && inFlightTemps.has(path)) continue;
    if (!(await olderThan(path, cutoff))) continue;
    const [, key = '', id = ''] = data ?? [];
    const gone = isTemp ? await removeFile(path) : await removeIfOrphan(dir, key, id, path, lockOptions);
    if (gone) removed += 1;
  }
  return removed;
}

/**
 * Sweeps every cell directory under `root`: temp files last modified before `cutoff` (epoch ms) and
 * not being written by this process, content files older than that which no metadata refers to, and
 * locks whose holder no longer runs. Resolves to the number of files and locks removed.
 */
export async function sweepSnapshots(root: string, cutoff: number, lockOptions: FileLockOptions): Promise<number> {
  let cells;
  try {
    cells = await readdir(root, { withFileTypes: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 0;
    throw error;
  }
  let removed = 0;
  for (const cell of cells) if (cell.isDirectory()) removed += await sweepCell(join(root, cell.name), cutoff, lockOptions);
  return removed;
}
