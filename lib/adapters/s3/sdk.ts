/**
 * The little of `@aws-sdk/client-s3` that `S3SnapshotStore` uses, loaded on first use.
 *
 * The SDK is an optional peer dependency: the host creates and owns the `S3Client` and passes it in.
 * Nothing here imports the SDK at load time, so `import 'koa-cell-snapshot'` works without it
 * installed; the command classes are imported (once) by the first operation of a store.
 */
import type * as ClientS3 from '@aws-sdk/client-s3';

/** The SDK module, as `import('@aws-sdk/client-s3')` gives it. */
export type S3Sdk = typeof ClientS3;

let loading: Promise<S3Sdk> | undefined;

/** Imports `@aws-sdk/client-s3` once; rejects with a clear message when it is not installed. */
export function loadSdk(): Promise<S3Sdk> {
  loading ??= import('@aws-sdk/client-s3').catch((error: unknown) => {
    loading = undefined;
    throw new Error(
      `S3SnapshotStore needs the optional peer dependency @aws-sdk/client-s3 (npm install @aws-sdk/client-s3): ${String(error)}`,
      { cause: error },
    );
  });
  return loading;
}

/** The HTTP status of an SDK error (`$metadata.httpStatusCode`), if any. */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}

/** The S3 error code of an SDK error (`NoSuchKey`, `PreconditionFailed`, …), if any. */
export function errorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { Code, name } = error as { Code?: unknown; name?: unknown };
  if (typeof Code === 'string') return Code;
  return typeof name === 'string' ? name : undefined;
}

/** Whether the error says the object (or upload) does not exist. */
export function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return httpStatus(error) === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload';
}

/**
 * Whether the error says a conditional write lost: `412 PreconditionFailed`, or AWS's
 * `409 ConditionalRequestConflict` (a concurrent conditional write on the same key won).
 */
export function isConditionFailed(error: unknown): boolean {
  const name = errorName(error);
  const status = httpStatus(error);
  return status === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
}

/** Whether the error is the server refusing a byte range (`416 InvalidRange`). */
export function isInvalidRange(error: unknown): boolean {
  return httpStatus(error) === 416 || errorName(error) === 'InvalidRange';
}
