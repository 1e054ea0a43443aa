/**
 * The on-disk layout of `FsSnapshotStore` (described in `snapshot-store.ts`): the names of its files
 * and the metadata record that makes a version visible.
 */
import { join } from 'node:path';
import type { SnapshotInfo } from '../../types.js';
import { fileKey, readJsonFile } from './store-files.js';

/** Prefix of the temp file of an upload in progress. */
export const UPLOAD_TEMP_PREFIX = '.upload-';
/** Prefix of the temp file of metadata being written. */
export const META_TEMP_PREFIX = '.meta-';
/** Prefix of the lock directory of one snapshot name. */
export const LOCK_PREFIX = '.lock-';
/** Suffix of a metadata file. */
export const META_SUFFIX = '.meta';
/** A content file: `<key>.<id>.data`. */
export const DATA_FILE = /^(.+~[0-9a-f]{32})\.([0-9a-f]{32})\.data$/;
/** How many metadata files `list` reads at once. */
export const LIST_CONCURRENCY = 16;

/** The metadata file's content. */
export interface StoredMeta {
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

/** Whether a parsed metadata file has the shape of a {@link StoredMeta}. */
export function isStoredMeta(value: unknown): value is StoredMeta {
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

/** The {@link SnapshotInfo} a metadata file describes. */
export function toInfo(meta: StoredMeta): SnapshotInfo {
  return {
    name: meta.name,
    size: meta.size,
    etag: meta.etag,
    contentType: meta.contentType,
    created: new Date(meta.created),
    modified: new Date(meta.modified),
  };
}

/** The content file of one version: `<key>.<id>.data`. */
export function dataFileName(key: string, id: string): string {
  return `${key}.${id}.data`;
}

/** Reads the metadata of `key` in a cell directory; `undefined` when the file does not exist. */
export async function readMeta(dir: string, key: string): Promise<StoredMeta | undefined> {
  const value = await readJsonFile(join(dir, `${key}${META_SUFFIX}`));
  if (value === undefined) return undefined;
  if (!isStoredMeta(value) || fileKey(value.name) !== key) {
    throw new Error(`Corrupt snapshot metadata: ${join(dir, `${key}${META_SUFFIX}`)}`);
  }
  return value;
}
