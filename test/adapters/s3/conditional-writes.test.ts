/**
 * `S3SnapshotStore` against a server that honours S3 conditional writes (AWS S3, MinIO, R2), named
 * by `S3_TEST_ENDPOINT` (credentials from the SDK's standard environment, `AWS_ACCESS_KEY_ID` …;
 * bucket `S3_TEST_BUCKET`, default `kcs-test`, created when missing; region `AWS_REGION`, default
 * `us-east-1`; path-style addressing). Without it every test here is skipped with that reason, and
 * the run's closing line says so (CI has no such server: s3rver ignores conditional writes).
 *
 * What only such a server can show: two instances (separate stores, separate clients, so no shared
 * in-process queue) racing on one key, the loser's commit or delete held by its client's middleware
 * until the winner is done, so that only the server's check of the precondition can stop it; and
 * the multipart-upload housekeeping s3rver lacks (abort, `sweep`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import avaTest from 'ava';
import type { ExecutionContext } from 'ava';
import { S3SnapshotStore } from '../../../lib/adapters/s3/snapshot-store.js';
import { collect, put, send, snapshotStoreContract } from '../../../lib/contract/snapshot-store.js';
import { type SentRequest, recordRequests } from '../../helpers/s3-server.js';
import { needingEnv } from '../../helpers/tools.js';

const test = needingEnv(avaTest, 'S3_TEST_ENDPOINT', 'a server honouring conditional writes, e.g. MinIO; see README');

const CELL = '0123456789abcdef0123456789abcdef';
const MiB = 1024 * 1024;
const endpoint = process.env['S3_TEST_ENDPOINT'] ?? '';
const bucket = process.env['S3_TEST_BUCKET'] ?? 'kcs-test';

function client(t: ExecutionContext): S3Client {
  const made = new S3Client({ endpoint, region: process.env['AWS_REGION'] ?? 'us-east-1', forcePathStyle: true });
  t.teardown(() => made.destroy());
  return made;
}

let bucketReady: Promise<void> | undefined;
async function ensureBucket(t: ExecutionContext): Promise<void> {
  bucketReady ??= client(t)
    .send(new CreateBucketCommand({ Bucket: bucket }))
    .then(
      () => undefined,
      (error: unknown) => {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      },
    );
  await bucketReady;
}

/** Two stores on one prefix, each with its own client; `b`'s requests of `held` wait for `gate`. */
async function rivals(t: ExecutionContext, partSize?: number) {
  await ensureBucket(t);
  const prefix = `kcs-test-${randomUUID()}/`;
  const options = { bucket, prefix, ...(partSize === undefined ? {} : { partSize }) };
  const a = new S3SnapshotStore({ client: client(t), ...options });
  let gate: { command: string; open: Promise<unknown> } | undefined;
  const clientB = client(t);
  recordRequests(clientB, async (request: SentRequest) => {
    if (gate !== undefined && request.command === gate.command) await gate.open;
  });
  const b = new S3SnapshotStore({ client: clientB, ...options });
  const hold = (command: string, open: Promise<unknown>): void => {
    gate = { command, open };
  };
  return { a, b, hold, prefix };
}

for (const [kind, partSize, size, commit] of [
  ['PutObject', undefined, 100_000, 'PutObjectCommand'],
  ['multipart', 5 * MiB, 6 * MiB, 'CompleteMultipartUploadCommand'],
] as const) {
  test(`honoured: If-None-Match: * across instances, ${kind}: the second commit is 412`, async (t) => {
    const { a, b, hold } = await rivals(t, partSize);
    const bytesA = randomBytes(size);
    const uploadB = await b.write(CELL, 'race.zip', { contentType: 'application/zip' });
    await send(uploadB.stream, randomBytes(size));
    let release!: () => void;
    hold(commit, new Promise<void>((resolve) => (release = resolve)));
    const losing = uploadB.commit({ ifNoneMatch: '*' });
    // b has checked (no file) and its commit request waits; a creates the file meanwhile.
    const won = await put(a, CELL, 'race.zip', bytesA, { ifNoneMatch: '*' });
    release();
    await t.throwsAsync(losing, { code: 'PR412-DV-0001' });
    t.deepEqual(await b.stat(CELL, 'race.zip'), won.info);
    const back = await a.read(CELL, 'race.zip');
    t.true(back !== undefined && (await collect(back)).equals(bytesA));
  });

  test(`honoured: If-Match across instances, ${kind}: a commit on a version replaced meanwhile is 412`, async (t) => {
    const { a, b, hold } = await rivals(t, partSize);
    const first = await put(a, CELL, 'm.zip', randomBytes(size));
    const uploadB = await b.write(CELL, 'm.zip', { contentType: 'application/zip' });
    await send(uploadB.stream, randomBytes(size));
    let release!: () => void;
    hold(commit, new Promise<void>((resolve) => (release = resolve)));
    const losing = uploadB.commit({ ifMatch: first.info.etag });
    const replaced = await put(a, CELL, 'm.zip', randomBytes(size), { ifMatch: first.info.etag });
    release();
    await t.throwsAsync(losing, { code: 'PR412-DV-0001' });
    t.deepEqual(await b.stat(CELL, 'm.zip'), replaced.info);
  });
}

test('honoured: a delete with If-Match on a version replaced meanwhile is 412', async (t) => {
  const { a, b, hold } = await rivals(t);
  const first = await put(a, CELL, 'd.zip', 'first');
  let release!: () => void;
  hold('DeleteObjectCommand', new Promise<void>((resolve) => (release = resolve)));
  const losing = b.delete(CELL, 'd.zip', { ifMatch: first.info.etag });
  const replaced = await put(a, CELL, 'd.zip', 'second');
  release();
  await t.throwsAsync(losing, { code: 'PR412-DV-0001' });
  t.deepEqual(await a.stat(CELL, 'd.zip'), replaced.info);
});

test('honoured: aborted uploads leave no multipart upload; sweep aborts stale ones under the prefix only', async (t) => {
  const { a, prefix } = await rivals(t, 5 * MiB);
  const raw = client(t);
  const pending = async (): Promise<string[]> =>
    ((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []).map((u) => u.Key ?? '');
  const upload = await a.write(CELL, 'x.zip', { contentType: 'application/zip' });
  await new Promise<void>((resolve, reject) => upload.stream.write(randomBytes(6 * MiB), (e) => (e ? reject(e) : resolve())));
  t.deepEqual(await pending(), [`${prefix}${CELL}/x.zip`], 'a multipart upload began');
  t.is(await a.sweep(0), 0, 'a live upload of this process is left alone');
  await upload.abort();
  t.deepEqual(await pending(), []);
  // What a crashed instance leaves behind:
  await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${prefix}${CELL}/crashed.zip` }));
  const outside = `kcs-test-${randomUUID()}/${CELL}/other.zip`;
  const other = await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: outside }));
  t.teardown(async () => {
    const { AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    await raw.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: outside, UploadId: other.UploadId }));
  });
  t.is(await a.sweep(60_000), 0, 'too recent');
  t.is(await a.sweep(0), 1);
  t.deepEqual(await pending(), []);
});

snapshotStoreContract(test, async (t) => (await rivals(t)).a);
