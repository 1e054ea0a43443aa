/**
 * Storage faults of the file-system stores: `errno` codes through the one classifier
 * (`storage-faults.ts`), plus the one fault only a store can judge, its directory gone (`ENOENT`
 * while the directory it works in no longer exists).
 */
import { stat } from 'node:fs/promises';
import { type StoreRole, classifyStorageError, storageFault } from '../../storage-faults.js';
import { errorCode } from './store-files.js';

/** Whether `dir` is missing (anything else, including a failing `stat`, counts as present). */
async function isMissing(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return false;
  } catch (error) {
    return errorCode(error) === 'ENOENT';
  }
}

/**
 * `error` of an operation of the `store` in `dir` as a storage fault: a full disk or quota
 * (`PR507-SN-0001`), a store not writable (`PR503-SN-0001`), an `ENOENT` while `dir` (or the file
 * the operation works on) is gone (`PR503-SN-0002`); anything else as it is.
 */
export async function fsFault(error: unknown, store: StoreRole, dir: string): Promise<unknown> {
  const code = errorCode(error);
  if ((code === 'ENOENT' || code === 'ENOTDIR') && (await isMissing(dir))) return storageFault('missing', store, error);
  return classifyStorageError(error, store);
}

/** Runs `fn`, rejecting with {@link fsFault} of whatever it rejects with. */
export async function withFsFaults<T>(store: StoreRole, dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw await fsFault(error, store, dir);
  }
}
