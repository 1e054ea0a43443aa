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
 */
import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PersoniumError } from '../../errors.js';
import type {
  ByteRange,
  SnapshotInfo,
  SnapshotStore,
  SnapshotUpload,
  SnapshotWriteOptions,
  WriteConditions,
} from '../../types.js';
import { withFileLock } from './lock.js';
import type { FileLockOptions } from './lock.js';
import { assertCellId, assertSnapshotName } from '../../snapshot/names.js';
import { writePreconditionsHold } from '../../webdav/etags.js';
import {
  errorCode,
  fileKey,
  inFlightTemps,
  randomId,
  readJsonFile,
  removeFile,
  syncDir,
  writeFileAtomic,
} from './store-files.js';

/** Options of {@link FsSnapshotStore}. */
export interface FsSnapshotStoreOptions {
  /** The directory holding one sub-directory per cell id. Created when first written to. */
  readonly root: string;
  /**
   * After how many ms a commit/delete lock left by a crashed process is broken. Default 10,000.
   * Live holders refresh their lock, so this only bounds the wait after a crash.
   */
  readonly lockStaleMs?: number;
}

/** Prefix of the temp file of an upload in progress. */
export const UPLOAD_TEMP_PREFIX = '.upload-';
/** Prefix of the temp file of metadata being written. */
export const META_TEMP_PREFIX = '.meta-';
/** Prefix of the lock directory of one snapshot name. */
const LOCK_PREFIX = '.lock-';
/** Suffix of a metadata file. */
const META_SUFFIX = '.meta';
/** A content file: `<key>.<id>.data`. */
const DATA_FILE = /^(.+~[0-9a-f]{32})\.([0-9a-f]{32})\.data$/;
/** How many metadata files `list` reads at once. */
const LIST_CONCURRENCY = 16;

/** The metadata file's content. */
interface StoredMeta {
  /** The layout version of this record. */
  readonly format: 1;
  /** The snapshot file name. */
  readonly name: string;
  /** The content type it was stored with. */
  readonly contentType: string;
  /** The content length in bytes. */
  readonly size: number;
  /** When the name was first created, epoch ms. */
  readonly created: number;
  /** When the content was last replaced, epoch ms. */
  readonly modified: number;
  /** 1 for a new name, +1 on every replacement. */
  readonly version: number;
  /** The strong ETag, quotes included. */
  readonly etag: string;
  /** The id of the content file `<key>.<data>.data`. */
  readonly data: string;
}

function isStoredMeta(value: unknown): value is StoredMeta {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['format'] === 1 &&
    typeof v['name'] === 'string' &&
    typeof v['contentType'] === 'string' &&
    Number.isSafeInteger(v['size']) &&
    Number.isSafeInteger(v['created']) &&
    Number.isSafeInteger(v['modified']) &&
    Number.isSafeInteger(v['version']) &&
    typeof v['etag'] === 'string' &&
    typeof v['data'] === 'string' &&
    /^[0-9a-f]{32}$/.test(v['data'])
  );
}

function toInfo(meta: StoredMeta): SnapshotInfo {
  return {
    name: meta.name,
    size: meta.size,
    etag: meta.etag,
    contentType: meta.contentType,
    created: new Date(meta.created),
    modified: new Date(meta.modified),
  };
}

function dataFileName(key: string, id: string): string {
  return `${key}.${id}.data`;
}

/** Reads the metadata of `key` in a cell directory; `undefined` when the file does not exist. */
async function readMeta(dir: string, key: string): Promise<StoredMeta | undefined> {
  const value = await readJsonFile(join(dir, `${key}${META_SUFFIX}`));
  if (value === undefined) return undefined;
  if (!isStoredMeta(value) || fileKey(value.name) !== key) {
    throw new Error(`Corrupt snapshot metadata: ${join(dir, `${key}${META_SUFFIX}`)}`);
  }
  return value;
}

/** Writes all of `chunk` at the handle's position, looping over short writes. */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * The writable side of an upload: counts bytes, refuses to go past `maxBytes`, writes to the temp
 * file, flushes it to disk on `end`, and removes it when destroyed before finishing.
 */
class UploadStream extends Writable {
  readonly #handle: FileHandle;
  readonly #path: string;
  readonly #maxBytes: number;
  #bytes = 0;
  #closed = false;

  constructor(handle: FileHandle, path: string, maxBytes: number) {
    super({ highWaterMark: 64 * 1024 });
    this.#handle = handle;
    this.#path = path;
    this.#maxBytes = maxBytes;
  }

  /** The number of bytes accepted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#bytes + chunk.length > this.#maxBytes) {
      callback(new PersoniumError('PR413-SN-0001', [this.#maxBytes]));
      return;
    }
    this.#bytes += chunk.length;
    writeAll(this.#handle, chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#handle
      .sync()
      .then(() => this.#close())
      .then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const incomplete = !this.writableFinished;
    const cleanup = async (): Promise<void> => {
      await this.#close().catch(() => undefined);
      if (incomplete) {
        await removeFile(this.#path).catch(() => undefined);
        inFlightTemps.delete(this.#path);
      }
    };
    cleanup().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

/** What an upload needs to know of its store. */
interface UploadTarget {
  readonly dir: string;
  readonly name: string;
  readonly key: string;
  readonly contentType: string;
  readonly lockPath: string;
  readonly lockOptions: FileLockOptions;
}

/** One upload: a temp file, then a commit under the name's lock, or an abort. */
class FsUpload implements SnapshotUpload {
  readonly stream: UploadStream;
  readonly #target: UploadTarget;
  readonly #id: string;
  readonly #temp: string;
  /** Where the bytes are now: the temp file, then (mid-commit) the data file. */
  #bytesAt: string | undefined;
  #state: 'open' | 'committing' | 'committed' | 'discarded' = 'open';
  #committing: Promise<unknown> | undefined;

  constructor(target: UploadTarget, id: string, temp: string, handle: FileHandle, maxBytes: number) {
    this.#target = target;
    this.#id = id;
    this.#temp = temp;
    this.#bytesAt = temp;
    this.stream = new UploadStream(handle, temp, maxBytes);
  }

  /**
   * {@inheritDoc SnapshotUpload.commit} The stream must have been ended (`end()`, or the end of a
   * `pipeline`): a commit waits for an ended stream to finish flushing, and rejects (leaving the
   * upload usable) when it was not ended. A stream that errored (e.g. 413) rejects with its error.
   */
  async commit(conditions: WriteConditions = {}): Promise<{ info: SnapshotInfo; created: boolean }> {
    if (this.#state !== 'open') {
      throw new Error(`This upload was already ${this.#state === 'committed' ? 'committed' : 'discarded'}`);
    }
    const stream = this.stream;
    if (stream.errored !== null) {
      await this.#discard();
      throw stream.errored;
    }
    if (!stream.writableFinished) {
      if (stream.destroyed) {
        await this.#discard();
        throw new Error('The upload stream was destroyed before it finished');
      }
      if (!stream.writableEnded) throw new Error('End the upload stream before committing the upload');
      try {
        await finished(stream);
      } catch (error) {
        await this.#discard();
        throw error;
      }
    }
    this.#state = 'committing';
    const run = this.#commitLocked(conditions);
    this.#committing = run;
    try {
      const result = await run;
      this.#state = 'committed';
      return result;
    } catch (error) {
      await this.#discard();
      throw error;
    }
  }

  #commitLocked(conditions: WriteConditions): Promise<{ info: SnapshotInfo; created: boolean }> {
    const { dir, name, key, contentType, lockPath, lockOptions } = this.#target;
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
          size: this.stream.bytes,
          created: current?.created ?? now,
          modified: now,
          version,
          // The id's head makes the tag unique even for a delete and re-create within one ms.
          etag: `"${version}-${now}-${this.#id.slice(0, 8)}"`,
          data: this.#id,
        };
        const dataPath = join(dir, dataFileName(key, this.#id));
        await rename(this.#temp, dataPath);
        this.#bytesAt = dataPath;
        inFlightTemps.delete(this.#temp);
        await writeFileAtomic(join(dir, `${key}${META_SUFFIX}`), JSON.stringify(meta), META_TEMP_PREFIX);
        this.#bytesAt = undefined;
        if (current !== undefined && current.data !== this.#id) {
          await removeFile(join(dir, dataFileName(key, current.data))).catch(() => undefined);
        }
        return { info: toInfo(meta), created: current === undefined };
      },
      lockOptions,
    );
  }

  /** Removes whatever is left of the upload's bytes; the upload is unusable afterwards. */
  async #discard(): Promise<void> {
    this.#state = 'discarded';
    if (!this.stream.destroyed) this.stream.destroy();
    const at = this.#bytesAt;
    this.#bytesAt = undefined;
    if (at !== undefined) await removeFile(at).catch(() => undefined);
    inFlightTemps.delete(this.#temp);
  }

  /** {@inheritDoc SnapshotUpload.abort} During a commit, waits for the commit to settle instead. */
  async abort(): Promise<void> {
    if (this.#state === 'committing') {
      // Too late to abort: the commit decides. Wait for it so the caller sees a settled store.
      await this.#committing?.catch(() => undefined);
      return;
    }
    if (this.#state !== 'open') return;
    await this.#discard();
  }
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
        if (range === undefined) return handle.createReadStream({ start: 0 });
        const { start, end } = range;
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end >= size) {
          throw new PersoniumError('PR416-DV-0001', [], { headers: { 'Content-Range': `bytes */${size}` } });
        }
        return handle.createReadStream({ start, end });
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
    await mkdir(dir, { recursive: true });
    const key = fileKey(name);
    const id = randomId();
    const temp = join(dir, `${UPLOAD_TEMP_PREFIX}${id}`);
    inFlightTemps.add(temp);
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx');
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
   * process, and content files older than that which no metadata refers to. Resolves to the number of
   * files removed. Safe to run while the store is in use (by this process or others) as long as
   * `olderThanMs` exceeds the longest pause of a live upload.
   */
  async sweep(olderThanMs: number): Promise<number> {
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) {
      throw new TypeError(`FsSnapshotStore.sweep: olderThanMs must be a non-negative number`);
    }
    const cutoff = Date.now() - olderThanMs;
    let cells;
    try {
      cells = await readdir(this.root, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 0;
      throw error;
    }
    let removed = 0;
    for (const cell of cells) {
      if (!cell.isDirectory()) continue;
      const dir = join(this.root, cell.name);
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry);
        const isTemp = entry.startsWith(UPLOAD_TEMP_PREFIX) || entry.startsWith(META_TEMP_PREFIX);
        const data = DATA_FILE.exec(entry);
        if (!isTemp && data === null) continue;
        if (isTemp && inFlightTemps.has(path)) continue;
        if (!(await olderThan(path, cutoff))) continue;
        if (isTemp) {
          if (await removeFile(path)) removed += 1;
          continue;
        }
        const [, key = '', id = ''] = data ?? [];
        const orphan = await withFileLock(
          join(dir, `${LOCK_PREFIX}${key}`),
          async () => {
            let meta: StoredMeta | undefined;
            try {
              meta = await readMeta(dir, key);
            } catch {
              return false; // corrupt metadata: leave its content alone
            }
            return meta?.data !== id && (await removeFile(path));
          },
          this.#lockOptions,
        );
        if (orphan) removed += 1;
      }
    }
    return removed;
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
