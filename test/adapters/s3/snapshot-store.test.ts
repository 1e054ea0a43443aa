/**
 * `S3SnapshotStore` over HTTP against a real S3-protocol server (s3rver, started by this file): the
 * whole `SnapshotStore` contract, with small files (one PutObject) and with 64 KiB parts (every file
 * of more than 64 KiB a multipart upload), plus what is specific to S3.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { S3SnapshotStore } from '../../../lib/adapters/s3/snapshot-store.js';
import { snapshotStoreContract } from '../../../lib/contract/snapshot-store.js';
import { type StartedS3Server, startS3Server } from '../../helpers/s3-server.js';

let server: StartedS3Server | undefined;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

function makeStore(t: ExecutionContext, partSize?: number): S3SnapshotStore {
  if (server === undefined) throw new Error('no s3rver');
  return new S3SnapshotStore({
    client: server.client(t),
    bucket: server.bucket,
    prefix: `t-${randomUUID()}/`,
    ...(partSize === undefined ? {} : { partSize }),
  });
}

snapshotStoreContract(test, (t) => makeStore(t));

// The contract again with 64 KiB parts: every file over 64 KiB goes through a multipart upload.
const multipartTest = Object.assign(
  (title: string, implementation: (t: ExecutionContext) => Promise<void>) => test(`64 KiB parts: ${title}`, implementation),
  test,
) as unknown as typeof test;
snapshotStoreContract(multipartTest, (t) => makeStore(t, 64 * 1024));
