/**
 * `S3SnapshotStore`: the snapshot areas in an S3 bucket (AWS S3 or any server speaking its protocol:
 * MinIO, Cloudflare R2, Ceph RGW, …), so that instances on several machines share them.
 *
 * A file `N` of cell `C` is the object `{prefix}C/N`; its size and content type are the object's,
 * its ETag and times the store's own metadata beside it (see `object-info.ts`). Nothing else in the
 * bucket is read or written, except that `sweep` aborts stale multipart uploads under the prefix.
 *
 * - An upload is invisible until committed: a small file is one `PutObject` at commit, a larger one
 *   a multipart upload completed at commit (see `part-stream.ts`, `snapshot-upload.ts`).
 * - Conditions (`If-Match`, `If-None-Match`) are checked at commit against the store's ETag and the
 *   commit is pinned to the object checked with S3's conditional writes, so they hold across
 *   instances on a server that honours conditional writes; within one instance commits and deletes
 *   of one key are also run one at a time, so they hold there on any server.
 * - A read is one `GET` (ranged when asked), whose bytes are those of the version it opened.
 */
import { Readable } from 'node:stream';
import type {
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  ListMultipartUploadsCommandOutput,
  ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { PersoniumError } from '../../errors.js';
import { assertCellId, assertSnapshotName } from '../../snapshot/names.js';
import { rangeWithin } from '../../snapshot/source.js';
import type { ByteRange, SnapshotInfo, SnapshotStore, SnapshotUpload, SnapshotWriteOptions, WriteConditions } from '../../types.js';
import { KeyedQueue } from '../../util/keyed-queue.js';
import { writePreconditionsHold } from '../../webdav/etags.js';
import { rangeNotSatisfiable } from '../../webdav/ranges.js';
import { type S3ClientLike, isS3ClientLike } from './client.js';
import { type StoredObject, storedObject } from './object-info.js';
import { liveUploads } from './part-stream.js';
import { type S3Sdk, isConditionFailed, isInvalidRange, isNotFound, loadSdk } from './sdk.js';
import { S3Upload } from './snapshot-upload.js';

/** The default part size of a multipart upload: 8 MiB. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** How many HEADs a `list` runs at once. */
const LIST_CONCURRENCY = 8;

/** Options of {@link S3SnapshotStore}. */
export interface S3SnapshotStoreOptions {
  /**
   * The `S3Client` of `@aws-sdk/client-s3` to use, created, configured (region, endpoint,
   * credentials, `forcePathStyle`) and destroyed by the host.
   */
  readonly client: S3ClientLike;
  /** The bucket; it must exist. */
  readonly bucket: string;
  /**
   * Prepended to every key: a file is `{prefix}{cellId}/{name}`. Usually ends with `/`
   * (e.g. `snapshots/`). Default `''`.
   */
  readonly prefix?: string;
  /**
   * The size of the parts of a multipart upload, in bytes (default 8 MiB); a file smaller than one
   * part is written by a single `PutObject`. At most two parts are held in memory per upload. AWS
   * requires at least 5 MiB; parts after the first thousand double in size every thousand, so a file
   * can reach S3's 5 TB limit within its 10,000 parts.
   */
  readonly partSize?: number;
}

/** The Node stream of a GET's body. */
function nodeStream(body: GetObjectCommandOutput['Body']): Readable {
  if (body instanceof Readable) return body;
  if (body !== undefined && 'transformToWebStream' in body) {
    return Readable.fromWeb(body.transformToWebStream() as import('node:stream/web').ReadableStream);
  }
  return Readable.from([]);
}

/** The `length` bytes of `source` after its first `skip`; the source is destroyed once they passed. */
function slice(source: Readable, skip: number, length: number): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    let position = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const start = Math.max(skip - position, 0);
        const end = Math.min(skip + length - position, chunk.length);
        position += chunk.length;
        if (end > start) yield chunk.subarray(start, end);
        if (position >= skip + length) return;
      }
    } finally {
      source.destroy();
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

/**
 * The snapshot areas in an S3 bucket (see the module documentation for the layout and how each
 * guarantee of {@link SnapshotStore} is kept). Several processes, on several machines, may share one
 * bucket and prefix.
 */
export class S3SnapshotStore implements SnapshotStore {
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix. */
  readonly prefix: string;
  readonly #client: S3ClientLike;
  readonly #partSize: number;
  readonly #queue = new KeyedQueue();

  /** @param options - the client, bucket, prefix and part size. */
  constructor(options: S3SnapshotStoreOptions) {
    if (!isS3ClientLike(options.client)) throw new TypeError('S3SnapshotStore: `client` must be an S3Client');
    if (typeof options.bucket !== 'string' || options.bucket === '') {
      throw new TypeError('S3SnapshotStore: `bucket` must be a non-empty string');
    }
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('S3SnapshotStore: `prefix` must be a string');
    const partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isSafeInteger(partSize) || partSize < 1) {
      throw new TypeError(`S3SnapshotStore: partSize must be a positive integer, got ${String(partSize)}`);
    }
    this.#client = options.client;
    this.bucket = options.bucket;
    this.prefix = prefix;
    this.#partSize = partSize;
  }

  /** The key prefix of a cell's area. */
  #cellPrefix(cellId: string): string {
    assertCellId(cellId);
    return `${this.prefix}${cellId}/`;
  }

  /** The key of a file. */
  #key(cellId: string, name: string): string {
    const cellPrefix = this.#cellPrefix(cellId);
    assertSnapshotName(name);
    return `${cellPrefix}${name}`;
  }

  /** The object under `key`, as the store sees it, or `undefined`. */
  async #head(sdk: S3Sdk, key: string, name: string): Promise<StoredObject | undefined> {
    try {
      const output = (await this.#client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }))) as HeadObjectCommandOutput;
      return storedObject(name, output);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** {@inheritDoc SnapshotStore.list} One `ListObjectsV2` per 1,000 files, then one HEAD per file. */
  async list(cellId: string): Promise<SnapshotInfo[]> {
    const cellPrefix = this.#cellPrefix(cellId);
    const sdk = await loadSdk();
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = (await this.#client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: cellPrefix, Delimiter: '/', ContinuationToken: token }),
      )) as ListObjectsV2CommandOutput;
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(cellPrefix.length);
        if (name === undefined) continue;
        try {
          assertSnapshotName(name);
        } catch {
          continue; // not a file this store could have written
        }
        names.push(name);
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    const infos: SnapshotInfo[] = [];
    for (let i = 0; i < names.length; i += LIST_CONCURRENCY) {
      const batch = names.slice(i, i + LIST_CONCURRENCY);
      const found = await Promise.all(batch.map((name) => this.#head(sdk, `${cellPrefix}${name}`, name)));
      for (const object of found) if (object !== undefined) infos.push(object.info);
    }
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** {@inheritDoc SnapshotStore.stat} One HEAD. */
  async stat(cellId: string, name: string): Promise<SnapshotInfo | undefined> {
    const key = this.#key(cellId, name);
    return (await this.#head(await loadSdk(), key, name))?.info;
  }

  /**
   * Streams the file or the inclusive `range` of it, with one GET. A range that is not
   * `0 <= start <= end < size` (integers) rejects with a `PR416-DV-0001` {@link PersoniumError}
   * carrying `Content-Range: bytes *\/{size}` (after one more HEAD, for the size).
   */
  async read(cellId: string, name: string, range?: ByteRange): Promise<Readable | undefined> {
    const key = this.#key(cellId, name);
    const sdk = await loadSdk();
    const refuse = async (): Promise<undefined> => {
      const current = await this.#head(sdk, key, name);
      if (current === undefined) return undefined;
      throw rangeNotSatisfiable(current.info.size);
    };
    if (range !== undefined && !rangeWithin(range, Number.MAX_SAFE_INTEGER)) return refuse();
    let output: GetObjectCommandOutput;
    try {
      output = (await this.#client.send(
        new sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
        }),
      )) as GetObjectCommandOutput;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if (isInvalidRange(error)) return refuse();
      throw error;
    }
    const body = nodeStream(output.Body);
    if (range === undefined) return body;
    // S3 answers a range running past the end with the bytes up to the end: that is a 416 here.
    // Some servers answer with more than asked (the whole object for a range covering it, or for
    // `bytes=0-0`): the bytes asked for are cut out of that.
    const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(output.ContentRange ?? '');
    const size = served === null ? output.ContentLength : Number(served[3]);
    const from = served === null ? 0 : Number(served[1]);
    const to = served === null ? (size ?? 0) - 1 : Number(served[2]);
    if (size === undefined || !rangeWithin(range, size) || from > range.start || to < range.end) {
      body.destroy();
      if (size !== undefined && !rangeWithin(range, size)) throw rangeNotSatisfiable(size);
      throw new Error(`S3 answered bytes ${range.start}-${range.end} of ${key} with ${output.ContentRange ?? 'the whole object'}`);
    }
    if (from < range.start || to > range.end) return slice(body, range.start - from, range.end - range.start + 1);
    return body;
  }

  /**
   * Starts an upload. Nothing is stored until the first part is full (a multipart upload begins) or
   * until the commit (a small file). `maxBytes` must be a non-negative number when given (a
   * `TypeError` otherwise).
   */
  async write(cellId: string, name: string, options: SnapshotWriteOptions): Promise<SnapshotUpload> {
    const key = this.#key(cellId, name);
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) {
      throw new TypeError(`S3SnapshotStore: maxBytes must be a non-negative number, got ${String(maxBytes)}`);
    }
    const sdk = await loadSdk();
    return new S3Upload(
      {
        client: this.#client,
        sdk,
        bucket: this.bucket,
        key,
        name,
        contentType: options.contentType,
        partSize: this.#partSize,
        head: () => this.#head(sdk, key, name),
        serialise: (fn) => this.#queue.run(key, fn),
      },
      maxBytes,
    );
  }

  /**
   * {@inheritDoc SnapshotStore.delete} A HEAD, then (when it exists and the conditions hold) a
   * DELETE, itself conditional (`If-Match` with S3's ETag of the object checked) when conditions were
   * given.
   */
  async delete(cellId: string, name: string, conditions: WriteConditions = {}): Promise<boolean> {
    const key = this.#key(cellId, name);
    const sdk = await loadSdk();
    return this.#queue.run(key, async () => {
      const current = await this.#head(sdk, key, name);
      if (current === undefined) return false;
      if (!writePreconditionsHold(current.info.etag, conditions)) throw new PersoniumError('PR412-DV-0001');
      const conditional = conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined;
      try {
        await this.#client.send(
          new sdk.DeleteObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(conditional && current.s3Etag !== undefined ? { IfMatch: current.s3Etag } : {}),
          }),
        );
      } catch (error) {
        if (isNotFound(error)) return false;
        if (isConditionFailed(error)) throw new PersoniumError('PR412-DV-0001', [], { cause: error });
        throw error;
      }
      return true;
    });
  }

  /**
   * Aborts the multipart uploads under the prefix that were begun more than `olderThanMs` ago and are
   * not being written by this process (those of crashed or stopped instances). Resolves to the number
   * aborted. Safe while the store is in use, by this process or others, as long as `olderThanMs`
   * exceeds the longest upload. (A bucket lifecycle rule `AbortIncompleteMultipartUpload` does the
   * same on AWS.)
   */
  async sweep(olderThanMs: number): Promise<number> {
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) {
      throw new TypeError('S3SnapshotStore.sweep: olderThanMs must be a non-negative number');
    }
    const cutoff = Date.now() - olderThanMs;
    const sdk = await loadSdk();
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = (await this.#client.send(
        new sdk.ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: this.prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      )) as ListMultipartUploadsCommandOutput;
      for (const upload of page.Uploads ?? []) {
        const { Key: key, UploadId: uploadId, Initiated: initiated } = upload;
        if (key === undefined || uploadId === undefined || liveUploads.has(uploadId)) continue;
        if (initiated === undefined || initiated.getTime() >= cutoff) continue;
        try {
          await this.#client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
          aborted += 1;
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      if (page.IsTruncated !== true) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
}
