/**
 * `FsSnapshotStore`: the embedded default {@link SnapshotStore}, the snapshot areas in a directory
 * tree on the local file system.
 *
 * Layout: one directory per cell id under `root`. For a snapshot file named `N`, with
 * `K = fileKey(N)` (a readable, lower-cased prefix of `N` plus 32 hex characters of its SHA-256, so
 * that any valid name maps to a short, portable, never-hidden file name):
 *
 * - `K.meta`: the metadata, JSON (`name`, `contentType`, `size`, `created`, `modified`, `version`,
 *   `etag`, and `data`, the id of the content file). **Its rename is the commit point**: a file exists
 *   exactly when its `.meta` exists, and is what the `.meta` says.
 * - `K.<id>.data`: the content of one version, `id` being the upload's random id.
 * - `.upload-<id>`: an upload being written; `.meta-<id>`: metadata being written; `.lock-K`: the lock
 *   serialising commits and deletes of `N` (across processes too). Names starting with `.` are never
 *   a snapshot file: a stored file name never starts with `.`, whatever the snapshot's name.
 *
 * A commit (under the lock) checks the conditions against the current `.meta`, renames the upload to
 * `K.<id>.data` (not visible yet), writes the new `.meta` (temp, fsync, rename: visible now), then
 * removes the previous version's `.data`. A crash at any point leaves either the old `.meta` with its
 * own `.data` or the new `.meta` with its own `.data`, plus at most an unreferenced `.data` or temp
 * file, which {@link FsSnapshotStore.sweep} removes. Metadata and content can never disagree, because
 * a `.meta` names the exact content file it describes and content files are never rewritten.
 *
 * A read opens the content file named by the current `.meta`; once opened, the bytes it streams stay
 * those of that version even when the file is replaced or deleted meanwhile.
 *
 * The layout is `snapshot-layout.ts`, an upload `snapshot-upload.ts` and its commit
 * `snapshot-commit.ts`, the sweep `snapshot-sweep.ts`; this module is the store's operations.
 */
import { mkdir, open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { PersoniumError } from '../../errors.js';
import { READ_CHUNK_BYTES } from '../../util/io-sizes.js';
import { assertCellId, assertSnapshotName } from '../../snapshot/names.js';
import { rangeWithin } from '../../snapshot/source.js';
import type {
  ByteRange,
  SnapshotInfo,
  SnapshotStore,
  SnapshotUpload,
  SnapshotWriteOptions,
  WriteConditions,
} from '../../types.js';
import { writePreconditionsHold } from '../../webdav/etags.js';
import { rangeNotSatisfiable } from '../../webdav/ranges.js';
import { type FileLockOptions, withFileLock } from './lock.js';
import { LIST_CONCURRENCY, LOCK_PREFIX, META_SUFFIX, UPLOAD_TEMP_PREFIX, dataFileName, readMeta, toInfo } from './snapshot-layout.js';
import { sweepSnapshots } from './snapshot-sweep.js';
import { withFsFaults } from './fs-faults.js';
import type { UploadTarget } from './snapshot-commit.js';
import { FsUpload } from './snapshot-upload.js';
import { errorCode, fileKey, inFlightTemps, randomId, removeFile, syncDir } from './store-files.js';

export { META_TEMP_PREFIX, UPLOAD_TEMP_PREFIX } from './snapshot-layout.js';

/** Options of {@link FsSnapshotStore}. */
export interface FsSnapshotStoreOptions {
  /** The directory holding one sub-directory per cell id. Created when first written to. */
  readonly root: string;
  /**
   * After how many ms without a refresh a commit/delete lock is broken. Default 10,000. Live holders
   * refresh their lock, and one whose holder no longer runs on this machine is broken at once, so
   * this only bounds the wait for a holder that hangs or that this machine cannot see.
   */
  readonly lockStaleMs?: number;
}

/**
 * The snapshot areas in a directory tree: temp file and rename for atomic uploads, metadata beside
 * each file (see the module documentation for the layout and its crash safety). Commits and deletes
 * of one name are serialised by a lock that holds across processes, so several processes may share
 * one root.
 */
export class FsSnapshotStore implements SnapshotStore {
  /** The absolute root directory. */
  readonly root: string;
  readonly #lockOptions: FileLockOptions;

  /** @param options - the root directory and lock timing. */
  constructor(options: FsSnapshotStoreOptions) {
    if (typeof options.root !== 'string' || options.root === '') {
      throw new TypeError('FsSnapshotStore: `root` must be a non-empty path');
    }
    this.root = resolve(options.root);
    this.#lockOptions = options.lockStaleMs === undefined ? {} : { staleMs: options.lockStaleMs };
  }

  #cellDir(cellId: string): string {
    assertCellId(cellId);
    return join(this.root, cellId);
  }

  /** {@inheritDoc SnapshotStore.list} */
  async list(cellId: string): Promise<SnapshotInfo[]> {
    const dir = this.#cellDir(cellId);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw error;
    }
    const keys = entries
      .filter((entry) => !entry.startsWith('.') && entry.endsWith(META_SUFFIX))
      .map((entry) => entry.slice(0, -META_SUFFIX.length));
    const infos: SnapshotInfo[] = [];
    for (let i = 0; i < keys.length; i += LIST_CONCURRENCY) {
      const metas = await Promise.all(keys.slice(i, i + LIST_CONCURRENCY).map((key) => readMeta(dir, key)));
      for (const meta of metas) if (meta !== undefined) infos.push(toInfo(meta));
    }
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** {@inheritDoc SnapshotStore.stat} */
  async stat(cellId: string, name: string): Promise<SnapshotInfo | undefined> {
    assertSnapshotName(name);
    const meta = await readMeta(this.#cellDir(cellId), fileKey(name));
    return meta === undefined ? undefined : toInfo(meta);
  }

  /**
   * Streams the file or the inclusive `range` of it. A range that is not `0 <= start <= end < size`
   * (integers) rejects with a `PR416-DV-0001` {@link PersoniumError} carrying
   * `Content-Range: bytes *\/{size}`.
   */
  async read(cellId: string, name: string, range?: ByteRange): Promise<Readable | undefined> {
    assertSnapshotName(name);
    const dir = this.#cellDir(cellId);
    const key = fileKey(name);
    let missingEtag: string | undefined;
    for (;;) {
      const meta = await readMeta(dir, key);
      if (meta === undefined) return undefined;
      let handle: FileHandle;
      try {
        handle = await open(join(dir, dataFileName(key, meta.data)), 'r');
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
        // Replaced or deleted between reading the metadata and opening: look again, unless the
        // metadata did not change, which means the content file is gone for good.
        if (missingEtag === meta.etag) throw new Error(`Snapshot content missing: ${join(dir, name)}`);
        missingEtag = meta.etag;
        continue;
      }
      try {
        const { size } = await handle.stat();
        if (range === undefined) return handle.createReadStream({ start: 0, highWaterMark: READ_CHUNK_BYTES });
        if (!rangeWithin(range, size)) throw rangeNotSatisfiable(size);
        return handle.createReadStream({ start: range.start, end: range.end, highWaterMark: READ_CHUNK_BYTES });
      } catch (error) {
        await handle.close();
        throw error;
      }
    }
  }

  /**
   * Starts an upload into `.upload-<random>` in the cell's directory. `maxBytes` must be a
   * non-negative number when given (a `TypeError` otherwise).
   */
  async write(cellId: string, name: string, options: SnapshotWriteOptions): Promise<SnapshotUpload> {
    assertSnapshotName(name);
    const dir = this.#cellDir(cellId);
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) {
      throw new TypeError(`FsSnapshotStore: maxBytes must be a non-negative number, got ${String(maxBytes)}`);
    }
    const key = fileKey(name);
    const id = randomId();
    const temp = join(dir, `${UPLOAD_TEMP_PREFIX}${id}`);
    inFlightTemps.add(temp);
    let handle: FileHandle;
    try {
      // A missing root or cell directory is created again.
      handle = await withFsFaults('snapshot area', dir, async () => {
        await mkdir(dir, { recursive: true });
        return open(temp, 'wx');
      });
    } catch (error) {
      inFlightTemps.delete(temp);
      throw error;
    }
    const target: UploadTarget = {
      dir,
      name,
      key,
      contentType: options.contentType,
      lockPath: join(dir, `${LOCK_PREFIX}${key}`),
      lockOptions: this.#lockOptions,
    };
    return new FsUpload(target, id, temp, handle, maxBytes);
  }

  /** {@inheritDoc SnapshotStore.delete} */
  async delete(cellId: string, name: string, conditions: WriteConditions = {}): Promise<boolean> {
    assertSnapshotName(name);
    const dir = this.#cellDir(cellId);
    const key = fileKey(name);
    // Cheap exit without creating anything (the lock would create the cell's directory).
    if ((await readMeta(dir, key)) === undefined) return false;
    return withFsFaults('snapshot area', dir, () => this.#deleteLocked(dir, key, conditions));
  }

  #deleteLocked(dir: string, key: string, conditions: WriteConditions): Promise<boolean> {
    return withFileLock(
      join(dir, `${LOCK_PREFIX}${key}`),
      async () => {
        const current = await readMeta(dir, key);
        if (current === undefined) return false;
        if (!writePreconditionsHold(current.etag, conditions)) throw new PersoniumError('PR412-DV-0001');
        await removeFile(join(dir, `${key}${META_SUFFIX}`));
        await syncDir(dir);
        await removeFile(join(dir, dataFileName(key, current.data))).catch(() => undefined);
        return true;
      },
      this.#lockOptions,
    );
  }

  /**
   * Removes what crashed uploads and commits left behind, in every cell's directory: temp files
   * (`.upload-*`, `.meta-*`) last modified more than `olderThanMs` ago and not being written by this
   * process, content files older than that which no metadata refers to, and the lock of a snapshot
   * name whose holder was killed while holding it (at any age). Resolves to the number of files and
   * locks removed. Safe to run while the store is in use (by this process or others) as long as
   * `olderThanMs` exceeds the longest pause of a live upload.
   */
  async sweep(olderThanMs: number): Promise<number> {
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) {
      throw new TypeError(`FsSnapshotStore.sweep: olderThanMs must be a non-negative number`);
    }
    return sweepSnapshots(this.root, Date.now() - olderThanMs, this.#lockOptions);
  }
}
