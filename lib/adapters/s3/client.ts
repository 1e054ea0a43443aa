/**
 * The shape of the S3 client `S3SnapshotStore` takes, declared without the SDK's types so that the
 * package's type declarations never need `@aws-sdk/client-s3` unless the host uses it.
 */

/**
 * What `S3SnapshotStore` needs of a client: an `S3Client` of `@aws-sdk/client-s3` (v3) fits as it
 * is. The store sends commands through `send` and never destroys the client (the host owns it).
 */
export interface S3ClientLike {
  /** Sends one command of `@aws-sdk/client-s3` and resolves with its output. */
  send(command: object): Promise<unknown>;
}

/** Whether a value looks like an {@link S3ClientLike}. */
export function isS3ClientLike(value: unknown): value is S3ClientLike {
  return typeof value === 'object' && value !== null && typeof (value as { send?: unknown }).send === 'function';
}
