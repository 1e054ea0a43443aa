/**
 * How `S3SnapshotStore` keeps a snapshot file in an object: the key `{prefix}{cellId}/{name}`, and
 * the file's {@link SnapshotInfo} beside the content as user metadata (`x-amz-meta-kcs-etag`,
 * `-kcs-created`, `-kcs-modified`; the size and content type are the object's own).
 *
 * The ETag the store exposes is its own, not S3's: S3's is a hash of the content (the same bytes
 * written twice give the same S3 ETag), while a snapshot file's ETag changes with every write. It is
 * kept in the object, so every instance sharing the bucket sees the same one.
 */
import { randomBytes } from 'node:crypto';
import type { SnapshotInfo } from '../../types.js';

/** The user-metadata names (without `x-amz-meta-`). */
export const META_ETAG = 'kcs-etag';
/** When the name was first created, epoch ms. */
export const META_CREATED = 'kcs-created';
/** When the content was written, epoch ms. */
export const META_MODIFIED = 'kcs-modified';

/** What a HEAD (or GET) of an object tells, as the store reads it. */
export interface ObjectHead {
  /** The object's size. */
  readonly ContentLength?: number | undefined;
  /** Its content type. */
  readonly ContentType?: string | undefined;
  /** S3's ETag (a content hash). */
  readonly ETag?: string | undefined;
  /** S3's last-modified time. */
  readonly LastModified?: Date | undefined;
  /** The user metadata. */
  readonly Metadata?: Record<string, string> | undefined;
}

/** A stored file as the store sees it: its info, and the S3 ETag that pins this exact object. */
export interface StoredObject {
  /** The file as the store exposes it. */
  readonly info: SnapshotInfo;
  /** S3's ETag of the object, for `If-Match` on the write or delete that replaces it. */
  readonly s3Etag: string | undefined;
}

/** A new, strong, quoted ETag: the time and 64 random bits, unique across instances. */
export function newEtag(now: number): string {
  return `"${now.toString(36)}-${randomBytes(8).toString('hex')}"`;
}

/** The user metadata of a new version. */
export function versionMetadata(etag: string, created: number, modified: number): Record<string, string> {
  return { [META_ETAG]: etag, [META_CREATED]: String(created), [META_MODIFIED]: String(modified) };
}

/** A metadata value as epoch ms, or `undefined`. */
function millis(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * The file `name` as a HEAD of its object describes it. An object that another writer put there,
 * without the store's metadata, is still shown: its ETag is S3's, its times S3's last-modified.
 */
export function storedObject(name: string, head: ObjectHead): StoredObject {
  const meta = head.Metadata ?? {};
  const fallback = head.LastModified?.getTime() ?? 0;
  const modified = millis(meta[META_MODIFIED]) ?? fallback;
  const etag = meta[META_ETAG];
  return {
    info: {
      name,
      size: head.ContentLength ?? 0,
      etag: etag !== undefined && /^"[\x21\x23-\x7e]+"$/.test(etag) ? etag : (head.ETag ?? '""'),
      contentType: head.ContentType ?? 'application/octet-stream',
      created: new Date(millis(meta[META_CREATED]) ?? modified),
      modified: new Date(modified),
    },
    s3Etag: head.ETag,
  };
}
