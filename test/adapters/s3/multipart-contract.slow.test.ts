/**
 * The whole `SnapshotStore` contract on `S3SnapshotStore` with 64 KiB parts, so that every file of
 * the contract over 64 KiB goes through a multipart upload (created at the first full part, parts
 * sent while the next fills, completed at commit, aborted on abort, 413 or a failed condition), on
 * s3rver over HTTP.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
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

snapshotStoreContract(test, (t) => {
  if (server === undefined) throw new Error('no s3rver');
  return new S3SnapshotStore({ client: server.client(t), bucket: server.bucket, prefix: `t-${randomUUID()}/`, partSize: 64 * 1024 });
});
