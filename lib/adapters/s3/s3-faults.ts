/**
 * Which S3 answers are storage faults (see `storage-faults.ts`): an object or part over the server's
 * limit, a full server or an exhausted quota are `'full'` (507); a denied write is `'not-writable'`
 * (503). Everything else (throttling, network errors, a missing bucket) stays as it is.
 */
import type { FaultRule } from '../../storage-faults.js';

/** Error names of S3-protocol servers meaning "no room": AWS, MinIO and Ceph RGW spellings. */
const FULL = new Set(['EntityTooLarge', 'XMinioStorageFull', 'QuotaExceeded', 'XMinioAdminBucketQuotaExceeded']);
/** Error names meaning the credentials may not write here. */
const NOT_WRITABLE = new Set(['AccessDenied']);

/** The S3 error's name (the SDK sets `name` to the server's error code), if it has one. */
function s3ErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, Code } = error as { name?: unknown; Code?: unknown };
  if (typeof Code === 'string') return Code;
  return typeof name === 'string' ? name : undefined;
}

/** The rule of `S3SnapshotStore`. */
export const s3FaultKind: FaultRule = (error) => {
  const name = s3ErrorName(error);
  if (name === undefined) return undefined;
  if (FULL.has(name)) return 'full';
  if (NOT_WRITABLE.has(name)) return 'not-writable';
  return undefined;
};
