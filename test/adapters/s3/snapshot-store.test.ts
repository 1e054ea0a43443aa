/**
 * `S3SnapshotStore` over HTTP against a real S3-protocol server (s3rver, started by this file): the
 * whole `SnapshotStore` contract with the default part size (the contract's files are small: one
 * PutObject each; multipart-contract.slow.test.ts runs it again with every file a multipart upload),
 * plus what is specific to S3: keys, bounded parts, aborts, the conditional requests, ETags across
 * instances.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { S3SnapshotStore } from '../../../lib/adapters/s3/snapshot-store.js';
import { collect, put, send, snapshotStoreContract } from '../../../lib/contract/snapshot-store.js';
import { type SentRequest, type StartedS3Server, recordRequests, startS3Server } from '../../helpers/s3-server.js';

const CELL = '0123456789abcdef0123456789abcdef';
const MiB = 1024 * 1024;

let server: StartedS3Server | undefined;
test.before(async () => {
  server = await startS3Server();
});
test.after.always(async () => {
  await server?.stop();
});

function makeStore(t: ExecutionContext, partSize?: number, prefix = `t-${randomUUID()}/`, client?: S3Client): S3SnapshotStore {
  if (server === undefined) throw new Error('no s3rver');
  return new S3SnapshotStore({
    client: client ?? server.client(t),
    bucket: server.bucket,
    prefix,
    ...(partSize === undefined ? {} : { partSize }),
  });
}

/** A store with a fresh prefix whose client records what it sends. */
function recorded(t: ExecutionContext, partSize?: number): { store: S3SnapshotStore; sent: SentRequest[]; client: S3Client; prefix: string } {
  if (server === undefined) throw new Error('no s3rver');
  const client = server.client(t);
  const sent = recordRequests(client);
  const prefix = `t-${randomUUID()}/`;
  return { store: makeStore(t, partSize, prefix, client), sent, client, prefix };
}

const commands = (sent: readonly SentRequest[]): string[] => sent.map((r) => r.command.replace(/Command$/, ''));

snapshotStoreContract(test, (t) => makeStore(t));


test('s3: a file is the object {prefix}{cellId}/{name}, and nothing else is written', async (t) => {
  const { store, client, prefix } = recorded(t);
  await put(store, CELL, 'a.zip', 'one');
  await put(store, CELL, 'a.zip', 'two');
  await put(store, CELL, 'é b.zip', 'three');
  const listed = await client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: prefix }));
  t.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), [`${prefix}${CELL}/a.zip`, `${prefix}${CELL}/é b.zip`]);
});

test('s3: a small file is one PutObject at commit; a larger one a multipart upload of bounded parts', async (t) => {
  const { store, sent } = recorded(t, 5 * MiB);
  await put(store, CELL, 'small.zip', randomBytes(100_000));
  t.deepEqual(commands(sent), ['HeadObject', 'PutObject']);
  sent.length = 0;
  const bytes = randomBytes(12 * MiB);
  const upload = await store.write(CELL, 'big.zip', { contentType: 'application/zip' });
  await send(upload.stream, bytes);
  t.is(await store.stat(CELL, 'big.zip'), undefined, 'invisible before the commit');
  const { info } = await upload.commit();
  t.deepEqual(commands(sent), ['HeadObject', 'CreateMultipartUpload', 'UploadPart', 'UploadPart', 'UploadPart', 'HeadObject', 'HeadObject', 'CompleteMultipartUpload']);
  const parts = sent.filter((r) => r.command === 'UploadPartCommand').map((r) => Number(r.headers['content-length']));
  t.deepEqual(parts, [5 * MiB, 5 * MiB, 2 * MiB]);
  t.is(info.size, bytes.length);
  const back = await store.read(CELL, 'big.zip');
  t.true(back !== undefined && (await collect(back)).equals(bytes));
  const range = await store.read(CELL, 'big.zip', { start: 5 * MiB - 10, end: 5 * MiB + 9 });
  t.true(range !== undefined && (await collect(range)).equals(bytes.subarray(5 * MiB - 10, 5 * MiB + 10)));
});

test('s3: an aborted, failed or oversized multipart upload is aborted on the server', async (t) => {
  const { store, sent } = recorded(t, 64 * 1024);
  const aborted = await store.write(CELL, 'x.zip', { contentType: 'application/zip' });
  await new Promise<void>((resolve, reject) => aborted.stream.write(randomBytes(200_000), (e) => (e ? reject(e) : resolve())));
  await aborted.abort();
  const tooBig = await store.write(CELL, 'y.zip', { contentType: 'application/zip', maxBytes: 150_000 });
  await t.throwsAsync(send(tooBig.stream, randomBytes(200_000)), { code: 'PR413-SN-0001' });
  await tooBig.abort();
  await put(store, CELL, 'z.zip', 'exists');
  const failed = await store.write(CELL, 'z.zip', { contentType: 'application/zip' });
  await send(failed.stream, randomBytes(200_000));
  await t.throwsAsync(failed.commit({ ifNoneMatch: '*' }), { code: 'PR412-DV-0001' });
  const created = sent.filter((r) => r.command === 'CreateMultipartUploadCommand').map((r) => r.path);
  const abortedKeys = sent.filter((r) => r.command === 'AbortMultipartUploadCommand').map((r) => r.path);
  t.is(created.length, 3);
  t.deepEqual(abortedKeys, created, 'each multipart upload begun was aborted');
  t.false(commands(sent).includes('CompleteMultipartUpload'));
  t.deepEqual(
    (await store.list(CELL)).map((i) => i.name),
    ['z.zip'],
  );
});

test('s3: conditions are carried to the server by the request that commits or deletes', async (t) => {
  for (const partSize of [undefined, 64 * 1024]) {
    const { store, sent } = recorded(t, partSize);
    const commit = partSize === undefined ? 'PutObjectCommand' : 'CompleteMultipartUploadCommand';
    const last = (command: string): SentRequest | undefined => sent.filter((r) => r.command === command).at(-1);
    const bytes = randomBytes(100_000);
    const first = await put(store, CELL, 'c.zip', bytes, { ifNoneMatch: '*' });
    t.is(last(commit)?.headers['if-none-match'], '*', `${commit}: a create carries If-None-Match: *`);
    t.is(last(commit)?.headers['if-match'], undefined);
    const s3Etag = await s3EtagOf(store, 'c.zip');
    t.regex(s3Etag, /^".+"$/);
    const second = await put(store, CELL, 'c.zip', bytes, { ifMatch: first.info.etag });
    t.is(last(commit)?.headers['if-match'], s3Etag, `${commit}: a replace carries If-Match with the S3 ETag checked`);
    t.is(last(commit)?.headers['if-none-match'], undefined);
    await put(store, CELL, 'c.zip', bytes, { ifNoneMatch: '"not-it"' });
    t.is(last(commit)?.headers['if-match'], s3Etag, 'If-None-Match with ETags pins the object checked too');
    await put(store, CELL, 'c.zip', bytes);
    t.is(last(commit)?.headers['if-match'], undefined, 'an unconditional write is unconditional');
    t.is(last(commit)?.headers['if-none-match'], undefined);
    const current = await store.stat(CELL, 'c.zip');
    t.not(current?.etag, second.info.etag);
    t.true(await store.delete(CELL, 'c.zip', { ifMatch: current?.etag ?? '' }));
    t.is(last('DeleteObjectCommand')?.headers['if-match'], s3Etag, 'a conditional delete carries If-Match');
    await put(store, CELL, 'd.zip', 'x');
    t.true(await store.delete(CELL, 'd.zip'));
    t.is(last('DeleteObjectCommand')?.headers['if-match'], undefined);
  }
});

/** S3's own ETag of a file (a content hash), from a HEAD through a client of its own. */
async function s3EtagOf(store: S3SnapshotStore, name: string): Promise<string> {
  if (server === undefined) throw new Error('no s3rver');
  const { HeadObjectCommand, S3Client: Client } = await import('@aws-sdk/client-s3');
  const client: S3Client = new Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: `${store.prefix}${CELL}/${name}` }))).ETag ?? '';
  } finally {
    client.destroy();
  }
}

test('s3: ETags, times and content types are the same through every instance', async (t) => {
  const prefix = `t-${randomUUID()}/`;
  const a = makeStore(t, undefined, prefix);
  const b = makeStore(t, 64 * 1024, prefix);
  const small = await put(a, CELL, 'small.zip', 'bytes', undefined, 'application/zip');
  const big = await put(b, CELL, 'big.zip', randomBytes(300_000), undefined, 'application/octet-stream');
  t.deepEqual(await b.stat(CELL, 'small.zip'), small.info);
  t.deepEqual(await a.stat(CELL, 'big.zip'), big.info);
  t.deepEqual(await a.list(CELL), await b.list(CELL));
  const replaced = await put(b, CELL, 'small.zip', 'new', { ifMatch: small.info.etag });
  t.is(replaced.info.created.getTime(), small.info.created.getTime());
  await t.throwsAsync(put(a, CELL, 'small.zip', 'newer', { ifMatch: small.info.etag }), { code: 'PR412-DV-0001' });
  t.true(await a.delete(CELL, 'small.zip', { ifMatch: replaced.info.etag }));
});

test('s3: objects under the cell prefix that the store did not write are listed with S3 data; deeper keys are not', async (t) => {
  const { store, client, prefix } = recorded(t);
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await client.send(new PutObjectCommand({ Bucket: store.bucket, Key: `${prefix}${CELL}/foreign.zip`, Body: 'abc', ContentType: 'application/zip' }));
  await client.send(new PutObjectCommand({ Bucket: store.bucket, Key: `${prefix}${CELL}/deeper/x.zip`, Body: 'abc' }));
  const [info] = await store.list(CELL);
  t.is((await store.list(CELL)).length, 1);
  t.is(info?.name, 'foreign.zip');
  t.is(info?.size, 3);
  t.regex(info?.etag ?? '', /^"[0-9a-f]{32}"$/);
  t.is(info?.contentType, 'application/zip');
});

test('s3: options are checked', (t) => {
  if (server === undefined) throw new Error('no s3rver');
  const client = server.client(t);
  t.throws(() => new S3SnapshotStore({ client: {} as S3Client, bucket: 'b' }), { instanceOf: TypeError });
  t.throws(() => new S3SnapshotStore({ client, bucket: '' }), { instanceOf: TypeError });
  t.throws(() => new S3SnapshotStore({ client, bucket: 'b', partSize: 0 }), { instanceOf: TypeError });
  t.is(new S3SnapshotStore({ client, bucket: 'b' }).prefix, '');
});

test('s3: a full server or quota is 507 PR507-SN-0001, a denied write 503 PR503-SN-0001, small or multipart; nothing is stored', async (t) => {
  if (server === undefined) throw new Error('no s3rver');
  // s3rver never runs out of room: the client's middleware answers the writes the way a full server does.
  const cases = [
    ['EntityTooLarge', 'PR507-SN-0001'],
    ['XMinioStorageFull', 'PR507-SN-0001'],
    ['QuotaExceeded', 'PR507-SN-0001'],
    ['AccessDenied', 'PR503-SN-0001'],
  ] as const;
  for (const [name, code] of cases) {
    const client = server.client(t);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand' || context.commandName === 'UploadPartCommand') {
          throw Object.assign(new Error(`${name} from the server`), { name });
        }
        return next(args);
      },
      { step: 'initialize', name: `fault-${name}` },
    );
    const store = makeStore(t, 64 * 1024, `t-${randomUUID()}/`, client);
    const small = await store.write(CELL, 'small.zip', { contentType: 'application/zip' });
    await send(small.stream, Buffer.from('small'));
    await t.throwsAsync(small.commit(), { code }, `${name}, one PutObject`);
    const big = await store.write(CELL, 'big.zip', { contentType: 'application/zip' });
    await t.throwsAsync(
      async () => {
        await send(big.stream, randomBytes(200_000));
        await big.commit();
      },
      { code },
      `${name}, multipart`,
    );
    await big.abort().catch(() => undefined);
    t.deepEqual(await store.list(CELL), [], `${name}: nothing stored`);
  }
});
