/**
 * An upload of `FsSnapshotStore`: the stream into its temp file (size limit, flush on end, removal
 * when destroyed early), and the upload's life, open → committing → committed or discarded, whose
 * commit is `snapshot-commit.ts`.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { PersoniumError } from '../../errors.js';
import { awaitUploadEnd } from '../../util/upload-end.js';
import { classifyStorageError } from '../../storage-faults.js';
import type { SnapshotInfo, SnapshotUpload, WriteConditions } from '../../types.js';
import { fsFault } from './fs-faults.js';
import { type UploadTarget, commitUpload } from './snapshot-commit.js';
import { inFlightTemps, removeFile } from './store-files.js';

/** Writes all of `chunk` at the handle's position, looping over short writes. */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** A write or flush failure as the stream's error: a full or read-only disk as its storage fault. */
function asStreamError(error: unknown): Error {
  const classified = classifyStorageError(error, 'snapshot area');
  return classified instanceof Error ? classified : new Error(String(classified));
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
    writeAll(this.#handle, chunk).then(() => callback(), (error: unknown) => callback(asStreamError(error)));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#handle
      .sync()
      .then(() => this.#close())
      .then(() => callback(), (error: unknown) => callback(asStreamError(error)));
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

/** One upload: a temp file, then a commit under the name's lock, or an abort. */
export class FsUpload implements SnapshotUpload {
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
    await awaitUploadEnd(this.stream, () => this.#discard());
    this.#state = 'committing';
    const run = commitUpload(this.#target, this.#id, this.#temp, this.stream.bytes, conditions, (at) => {
      this.#bytesAt = at;
    });
    this.#committing = run;
    try {
      const result = await run;
      this.#state = 'committed';
      return result;
    } catch (error) {
      // Judged before the discard: the upload's bytes gone means its directory was removed under it.
      const fault = await fsFault(error, 'snapshot area', this.#bytesAt ?? this.#target.dir);
      await this.#discard();
      throw fault;
    }
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
