/**
 * The commit of an `FsSnapshotStore` upload, under the name's lock: the conditions checked against
 * the current metadata, the upload renamed to its content file (not visible yet), the new metadata
 * written atomically (visible now: the commit point), the previous version's content removed.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { PersoniumError } from '../../errors.js';
import type { SnapshotInfo, WriteConditions } from '../../types.js';
import { writePreconditionsHold } from '../../webdav/etags.js';
import { type FileLockOptions, withFileLock } from './lock.js';
import { META_SUFFIX, META_TEMP_PREFIX, type StoredMeta, dataFileName, readMeta, toInfo } from './snapshot-layout.js';
import { inFlightTemps, removeFile, writeFileAtomic } from './store-files.js';

/** What an upload needs to know of its store. */
export interface UploadTarget {
  /** The cell's directory. */
  readonly dir: string;
  /** The snapshot file name. */
  readonly name: string;
  /** Its file key (see `store-files.ts`). */
  readonly key: string;
  /** The content type to keep. */
  readonly contentType: string;
  /** The lock of the name. */
  readonly lockPath: string;
  /** How that lock is taken. */
  readonly lockOptions: FileLockOptions;
}

/**
 * Commits the `size` bytes of upload `id`, held in `temp`, as the new version of the target's name,
 * if `conditions` hold (412 `PR412-DV-0001` otherwise). `moved` is told where the bytes are as they
 * move (the content file, then `undefined` once the metadata owns them), so that a failed commit can
 * remove exactly what is left.
 */
export function commitUpload(
  target: UploadTarget,
  id: string,
  temp: string,
  size: number,
  conditions: WriteConditions,
  moved: (at: string | undefined) => void,
): Promise<{ info: SnapshotInfo; created: boolean }> {
  const { dir, name, key, contentType, lockPath, lockOptions } = target;
  return withFileLock(
    lockPath,
    async () => {
      const current = await readMeta(dir, key);
      if (!writePreconditionsHold(current?.etag, conditions)) throw new PersoniumError('PR412-DV-0001');
      const now = Date.now();
      const version = (current?.version ?? 0) + 1;
      const meta: StoredMeta = {
        format: 1,
        name,
        contentType,
        size,
        created: current?.created ?? now,
        modified: now,
        version,
        // The id's head makes the tag unique even for a delete and re-create within one ms.
        etag: `"${version}-${now}-${id.slice(0, 8)}"`,
        data: id,
      };
      const dataPath = join(dir, dataFileName(key, id));
      await rename(temp, dataPath);
      moved(dataPath);
      inFlightTemps.delete(temp);
      await writeFileAtomic(join(dir, `${key}${META_SUFFIX}`), JSON.stringify(meta), META_TEMP_PREFIX);
      moved(undefined);
      if (current !== undefined && current.data !== id) {
        await removeFile(join(dir, dataFileName(key, current.data))).catch(() => undefined);
      }
      return { info: toInfo(meta), created: current === undefined };
    },
    lockOptions,
  );
}
