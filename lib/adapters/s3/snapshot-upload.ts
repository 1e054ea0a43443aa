/**
 * An upload of `S3SnapshotStore`: its stream ({@link PartStream}), its life (open → committing →
 * committed or discarded) and its commit.
 *
 * The commit, run one at a time per key within the process: a HEAD of the current object, the
 * conditions checked against the store's ETag found there (412 when they fail), then the write that
 * makes the file visible (`PutObject` for a small file, `CompleteMultipartUpload` otherwise). When
 * the caller gave conditions, that write is itself conditional on the object being the one just
 * checked (`If-Match` with its S3 ETag, or `If-None-Match: *` when there was none), so on a server
 * that honours conditional writes a writer in another process that got in between makes it fail
 * with 412 instead of being overwritten.
 */
import type { CompleteMultipartUploadCommandInput, PutObjectCommandInput } from '@aws-sdk/client-s3';
import { PersoniumError } from '../../errors.js';
import { awaitUploadEnd } from '../../util/upload-end.js';
import type { SnapshotInfo, SnapshotUpload, WriteConditions } from '../../types.js';
import { writePreconditionsHold } from '../../webdav/etags.js';
import type { S3ClientLike } from './client.js';
import { type StoredObject, newEtag, versionMetadata } from './object-info.js';
import { PartStream } from './part-stream.js';
import { type S3Sdk, isConditionFailed } from './sdk.js';
import { classifyStorageError } from '../../storage-faults.js';
import { s3FaultKind } from './s3-faults.js';

/** What an upload needs of its store. */
export interface UploadTarget {
  readonly client: S3ClientLike;
  readonly sdk: S3Sdk;
  readonly bucket: string;
  readonly key: string;
  /** The file name. */
  readonly name: string;
  readonly contentType: string;
  readonly partSize: number;
  /** The current object under the key, or `undefined`. */
  head(): Promise<StoredObject | undefined>;
  /** Runs `fn` after every other commit or delete of the key in this process settled. */
  serialise<T>(fn: () => Promise<T>): Promise<T>;
}

/** The new version's identity, chosen when its bytes start to be stored. */
interface Version {
  readonly etag: string;
  readonly created: number;
  readonly modified: number;
}

/** The precondition that pins the write to the object the conditions were checked against. */
function pin(current: StoredObject | undefined, conditions: WriteConditions): { IfMatch?: string; IfNoneMatch?: string } {
  if (conditions.ifMatch === undefined && conditions.ifNoneMatch === undefined) return {};
  if (current === undefined) return { IfNoneMatch: '*' };
  return current.s3Etag === undefined ? {} : { IfMatch: current.s3Etag };
}

/** One upload into `S3SnapshotStore`. */
export class S3Upload implements SnapshotUpload {
  readonly stream: PartStream;
  readonly #target: UploadTarget;
  /** Set when a multipart upload begins (its metadata is fixed then). */
  #version: Version | undefined;
  #state: 'open' | 'committing' | 'committed' | 'discarded' = 'open';
  #committing: Promise<unknown> | undefined;

  constructor(target: UploadTarget, maxBytes: number) {
    this.#target = target;
    this.stream = new PartStream(
      {
        client: target.client,
        sdk: target.sdk,
        bucket: target.bucket,
        key: target.key,
        partSize: target.partSize,
        begin: async () => {
          const current = await target.head();
          const now = Date.now();
          const version = { etag: newEtag(now), created: current?.info.created.getTime() ?? now, modified: now };
          this.#version = version;
          return { ContentType: target.contentType, Metadata: versionMetadata(version.etag, version.created, version.modified) };
        },
      },
      maxBytes,
    );
  }

  /**
   * {@inheritDoc SnapshotUpload.commit} The stream must have been ended: a commit waits for an ended
   * stream to finish storing its parts, and rejects (leaving the upload usable) when it was not
   * ended. A stream that errored (e.g. 413) rejects with its error.
   */
  async commit(conditions: WriteConditions = {}): Promise<{ info: SnapshotInfo; created: boolean }> {
    if (this.#state !== 'open') {
      throw new Error(`This upload was already ${this.#state === 'committed' ? 'committed' : 'discarded'}`);
    }
    await awaitUploadEnd(this.stream, () => this.#discard());
    this.#state = 'committing';
    const run = this.#target.serialise(() => this.#commit(conditions));
    this.#committing = run;
    try {
      const result = await run;
      this.#state = 'committed';
      this.stream.completed();
      return result;
    } catch (error) {
      await this.#discard();
      if (isConditionFailed(error)) throw new PersoniumError('PR412-DV-0001', [], { cause: error });
      throw classifyStorageError(error, 'snapshot area', s3FaultKind);
    }
  }

  async #commit(conditions: WriteConditions): Promise<{ info: SnapshotInfo; created: boolean }> {
    const { client, sdk, bucket, key, name, contentType } = this.#target;
    const held = this.stream.finishedWith;
    if (held === undefined) throw new Error('The upload holds no bytes');
    const current = await this.#target.head();
    if (!writePreconditionsHold(current?.info.etag, conditions)) throw new PersoniumError('PR412-DV-0001');
    const condition = pin(current, conditions);
    let version = this.#version;
    if (held.kind === 'small') {
      const now = Date.now();
      version = { etag: newEtag(now), created: current?.info.created.getTime() ?? now, modified: now };
      const input: PutObjectCommandInput = {
        Bucket: bucket,
        Key: key,
        Body: held.body,
        ContentLength: held.body.length,
        ContentType: contentType,
        Metadata: versionMetadata(version.etag, version.created, version.modified),
        ...condition,
      };
      await client.send(new sdk.PutObjectCommand(input));
    } else {
      if (version === undefined) throw new Error('A multipart upload without its version');
      const input: CompleteMultipartUploadCommandInput = {
        Bucket: bucket,
        Key: key,
        UploadId: held.uploadId,
        MultipartUpload: { Parts: held.parts },
        ...condition,
      };
      await client.send(new sdk.CompleteMultipartUploadCommand(input));
    }
    const info: SnapshotInfo = {
      name,
      size: this.stream.bytes,
      etag: version.etag,
      contentType,
      created: new Date(version.created),
      modified: new Date(version.modified),
    };
    return { info, created: current === undefined };
  }

  /** Aborts what was stored of the upload; the upload is unusable afterwards. */
  async #discard(): Promise<void> {
    this.#state = 'discarded';
    await this.stream.abortRemote();
    if (!this.stream.destroyed) this.stream.destroy();
  }

  /** {@inheritDoc SnapshotUpload.abort} During a commit, waits for the commit to settle instead. */
  async abort(): Promise<void> {
    if (this.#state === 'committing') {
      await this.#committing?.catch(() => undefined);
      return;
    }
    if (this.#state !== 'open') return;
    await this.#discard();
  }
}
