/**
 * The writable side of an `S3SnapshotStore` upload: bytes are gathered into parts of `partSize`
 * bytes; the first full part starts a multipart upload, and each full part is sent as soon as the one
 * before it was stored, so at most two parts are in memory (one being sent, one being filled) however
 * large the file. A file smaller than one part is kept whole and written by one `PutObject` at
 * commit. Over `maxBytes` the stream errors with `PR413-SN-0001` once the multipart upload (if any)
 * was aborted; destroyed before finishing, it aborts the multipart upload too.
 */
import { Writable } from 'node:stream';
import type { CompletedPart } from '@aws-sdk/client-s3';
import { PersoniumError } from '../../errors.js';
import type { S3ClientLike } from './client.js';
import type { S3Sdk } from './sdk.js';
import { classifyStorageError } from '../../storage-faults.js';
import { s3FaultKind } from './s3-faults.js';

/** S3's limit on the number of parts of one upload. */
const MAX_PARTS = 10_000;
/** Part sizes double every this many parts, so that a file can grow to S3's 5 TB limit. */
const PARTS_PER_SIZE = 1_000;
/** S3's largest part. */
const MAX_PART_SIZE = 5 * 1024 ** 3;

/** Multipart uploads this process has started and not finished: `sweep` leaves them alone. */
export const liveUploads = new Set<string>();

/** Where an upload goes, and how its multipart upload is begun. */
export interface PartTarget {
  readonly client: S3ClientLike;
  readonly sdk: S3Sdk;
  readonly bucket: string;
  readonly key: string;
  /** The size of the first thousand parts; later ones are larger (see {@link PARTS_PER_SIZE}). */
  readonly partSize: number;
  /** The `CreateMultipartUpload` input beyond bucket and key: content type and metadata. */
  begin(): Promise<{ ContentType: string; Metadata: Record<string, string> }>;
}

/** What a finished stream holds: a whole small file, or the parts of a multipart upload. */
export type Finished = { readonly kind: 'small'; readonly body: Buffer } | { readonly kind: 'multipart'; readonly uploadId: string; readonly parts: CompletedPart[] };

/** The checksum fields an `UploadPart` may answer with, which `CompleteMultipartUpload` wants back. */
const CHECKSUMS = ['ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumCRC64NVME', 'ChecksumSHA1', 'ChecksumSHA256'] as const;

/** See the module documentation. */
export class PartStream extends Writable {
  readonly #target: PartTarget;
  readonly #maxBytes: number;
  #bytes = 0;
  #buffer: Buffer | undefined;
  #filled = 0;
  #partNumber = 0;
  readonly #parts: CompletedPart[] = [];
  #uploadId: Promise<string> | undefined;
  /** The part being sent; never rejects (its failure goes to {@link #failure}). */
  #sending: Promise<void> = Promise.resolve();
  #failure: unknown;
  #aborted = false;
  #finished: Finished | undefined;

  constructor(target: PartTarget, maxBytes: number) {
    super({ highWaterMark: 64 * 1024 });
    this.#target = target;
    this.#maxBytes = maxBytes;
  }

  /** The number of bytes accepted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** What the stream holds once it finished (`undefined` before). */
  get finishedWith(): Finished | undefined {
    return this.#finished;
  }

  /** The size of part `n` (1-based). */
  #partSize(n: number): number {
    return Math.min(this.#target.partSize * 2 ** Math.floor((n - 1) / PARTS_PER_SIZE), MAX_PART_SIZE);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#bytes + chunk.length > this.#maxBytes) {
      const error = new PersoniumError('PR413-SN-0001', [this.#maxBytes]);
      this.abortRemote().then(
        () => callback(error),
        () => callback(error),
      );
      return;
    }
    this.#bytes += chunk.length;
    this.#append(chunk).then(() => callback(), callback);
  }

  async #append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const buffer = (this.#buffer ??= Buffer.allocUnsafe(this.#partSize(this.#partNumber + 1)));
      const copied = chunk.copy(buffer, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === buffer.length) {
        this.#buffer = undefined;
        this.#filled = 0;
        await this.#sendPart(buffer);
      }
    }
  }

  /** Waits for the part being sent, then starts sending `body` as the next part. */
  async #sendPart(body: Buffer): Promise<void> {
    await this.#settled();
    if (this.#partNumber >= MAX_PARTS) throw new Error(`S3SnapshotStore: more than ${MAX_PARTS} parts`);
    const { client, sdk, bucket, key } = this.#target;
    const uploadId = await this.#begin();
    const partNumber = (this.#partNumber += 1);
    const command = new sdk.UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
    });
    this.#sending = (client.send(command) as Promise<import('@aws-sdk/client-s3').UploadPartCommandOutput>).then(
      (output) => {
        const part: CompletedPart = { PartNumber: partNumber, ETag: output.ETag };
        for (const field of CHECKSUMS) if (output[field] !== undefined) part[field] = output[field];
        this.#parts.push(part);
      },
      (error: unknown) => {
        this.#failure ??= classifyStorageError(error, 'snapshot area', s3FaultKind);
      },
    );
  }

  /** Waits for the part being sent; rethrows the first failure of any part. */
  async #settled(): Promise<void> {
    await this.#sending;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** The multipart upload's id, starting it on first call. */
  #begin(): Promise<string> {
    this.#uploadId ??= (async () => {
      if (this.#aborted) throw new Error('The upload was aborted');
      const { client, sdk, bucket, key } = this.#target;
      const input = await this.#target.begin();
      const output = (await client.send(
        new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...input }),
      )) as import('@aws-sdk/client-s3').CreateMultipartUploadCommandOutput;
      if (output.UploadId === undefined) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
      liveUploads.add(output.UploadId);
      return output.UploadId;
    })();
    return this.#uploadId;
  }

  override _final(callback: (error?: Error | null) => void): void {
    const finish = async (): Promise<void> => {
      const tail = (this.#buffer ?? Buffer.alloc(0)).subarray(0, this.#filled);
      this.#buffer = undefined;
      this.#filled = 0;
      if (this.#uploadId === undefined) {
        this.#finished = { kind: 'small', body: tail };
        return;
      }
      if (tail.length > 0) await this.#sendPart(tail);
      await this.#settled();
      const parts = [...this.#parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      this.#finished = { kind: 'multipart', uploadId: await this.#uploadId, parts };
    };
    finish().then(
      () => callback(),
      (error: unknown) => {
        this.abortRemote().then(
          () => callback(error as Error),
          () => callback(error as Error),
        );
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#buffer = undefined;
    if (this.writableFinished) {
      callback(error);
      return;
    }
    this.abortRemote().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /**
   * Aborts the multipart upload, if one was started, once its part in flight settled; safe to call
   * more than once. An abort S3 refuses is left for `sweep` (the upload is invisible either way).
   */
  async abortRemote(): Promise<void> {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#finished = undefined;
    if (this.#uploadId === undefined) return;
    let uploadId: string;
    try {
      await this.#sending;
      uploadId = await this.#uploadId;
    } catch {
      return; // never started
    }
    const { client, sdk, bucket, key } = this.#target;
    try {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    } catch {
      // Left for sweep: an unfinished multipart upload is never visible.
    } finally {
      liveUploads.delete(uploadId);
    }
  }

  /** Forgets the multipart upload after it was completed. */
  completed(): void {
    this.#aborted = true;
    const finished = this.#finished;
    if (finished?.kind === 'multipart') liveUploads.delete(finished.uploadId);
  }
}
