/**
 * Where `koa-cell-snapshot serve` keeps the snapshot areas: a directory (FsSnapshotStore), or an S3
 * URL `s3://bucket/prefix` (S3SnapshotStore on an `S3Client` configured from the AWS SDK's standard
 * environment: credentials, `AWS_REGION`, and `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for a
 * server other than AWS, which is then addressed path-style unless `S3_FORCE_PATH_STYLE=false`).
 */
import { resolve } from 'node:path';
import { FsSnapshotStore } from '../adapters/fs/snapshot-store.js';
import { S3SnapshotStore } from '../adapters/s3/snapshot-store.js';
import { loadSdk } from '../adapters/s3/sdk.js';

/** A snapshot area the CLI opened. */
export interface SnapshotArea {
  /** The store. */
  readonly store: FsSnapshotStore | S3SnapshotStore;
  /** Where it is, for the banner. */
  readonly where: string;
  /** Releases what the CLI created for it (the S3 client). */
  close(): void;
}

/** The bucket and prefix of `s3://bucket/prefix`; the prefix ends with `/` unless empty. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (match === null) throw new Error(`--snapshots: expected s3://bucket/prefix, got ${url}`);
  const bucket = match[1] ?? '';
  const path = match[2] ?? '';
  return { bucket, prefix: path === '' || path.endsWith('/') ? path : `${path}/` };
}

/** Opens the area named by `spec` (a directory, or `s3://…`). */
export async function openSnapshotArea(spec: string, env: NodeJS.ProcessEnv = process.env): Promise<SnapshotArea> {
  if (!spec.startsWith('s3://')) {
    const root = resolve(spec);
    return { store: new FsSnapshotStore({ root }), where: root, close: () => undefined };
  }
  const { bucket, prefix } = parseS3Url(spec);
  const { S3Client } = await loadSdk();
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (endpoint === undefined ? undefined : 'us-east-1');
  const client = new S3Client({
    ...(endpoint === undefined ? {} : { endpoint, forcePathStyle: env['S3_FORCE_PATH_STYLE'] !== 'false' }),
    ...(region === undefined ? {} : { region }),
  });
  return {
    store: new S3SnapshotStore({ client, bucket, prefix }),
    where: `s3://${bucket}/${prefix}${endpoint === undefined ? '' : ` at ${endpoint}`}`,
    close: () => client.destroy(),
  };
}
