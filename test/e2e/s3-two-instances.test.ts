/**
 * Two host processes sharing one redis-server (RedisJobStore) and one S3-protocol server
 * (S3SnapshotStore on s3rver): an export run by one is listed, downloaded (interrupted and resumed
 * with Range) and imported through the other.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import avaTest from 'ava';
import { DOMParser } from '@xmldom/xmldom';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { digestOf } from '../helpers/cell-digest.js';
import { type ChildServer, startChild } from '../helpers/child.js';
import { redisServer } from '../helpers/redis-server.js';
import { s3Server } from '../helpers/s3-server.js';
import { makeDataDir } from '../helpers/server.js';
import { needing } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const test = needing(avaTest, 'redis-server');

const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
const DAV = 'DAV:';
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const status = async (server: ChildServer, cell: string, resource: '__export' | '__import') =>
  (await server.request('GET', cell, resource, { headers })).json<{ status: string; message?: unknown }>();

test('export on A into S3, listed, downloaded with a Range resume and imported on B', async (t) => {
  const [redis, s3, dataDir] = await Promise.all([redisServer(t), s3Server(t), makeDataDir(t)]);
  const prefix = `e2e-${randomUUID()}/`;
  // Leases long enough that a loaded machine never ends the export as interrupted: not under test here.
  const lease = { LEASE_TTL_MS: '30000', LEASE_RENEW_MS: '1000' };
  const env = { REDIS_URL: redis.url, S3_ENDPOINT: s3.endpoint, S3_BUCKET: s3.bucket, S3_PREFIX: prefix, ...lease };
  const [a, b] = await Promise.all([startChild(t, dataDir, env), startChild(t, dataDir, env)]);
  const before = await digestOf(dataDir, 'alice');

  t.is((await a.request('POST', 'alice', '__export', { headers, body: '{"Name":"via-s3"}' })).status, 202);
  await waitFor(async () => (await status(b, 'alice', '__export')).status === 'ready');
  const objects = await s3.client(t).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  t.deepEqual(
    (objects.Contents ?? []).map((o) => o.Key?.replace(/^[^/]+\/[^/]+\//, '')),
    ['via-s3.zip'],
    'the snapshot is one object under {prefix}{cellId}/',
  );

  const listing = await b.request('PROPFIND', 'alice', '__snapshot', { headers: { ...headers, depth: '1' } });
  t.is(listing.status, 207);
  const doc = new DOMParser().parseFromString(listing.text, 'application/xml');
  const hrefs = Array.from(doc.getElementsByTagNameNS(DAV, 'href')).map((node) => node.textContent ?? '');
  t.true(hrefs.some((href) => href.endsWith('/__snapshot/via-s3.zip')), hrefs.join(' '));

  const whole = await a.request('GET', 'alice', '__snapshot/via-s3.zip', { headers });
  t.is(whole.status, 200);
  const size = whole.body.length;
  const half = Math.floor(size / 2);
  const first = await b.request('GET', 'alice', '__snapshot/via-s3.zip', { headers: { ...headers, range: `bytes=0-${half - 1}` } });
  t.is(first.status, 206);
  const rest = await b.request('GET', 'alice', '__snapshot/via-s3.zip', {
    headers: { ...headers, range: `bytes=${half}-`, 'if-range': String(whole.headers.etag) },
  });
  t.is(rest.status, 206, 'the ETag A served is the one B knows');
  t.is(rest.headers['content-range'], `bytes ${half}-${size - 1}/${size}`);
  t.is(sha256(Buffer.concat([first.body, rest.body])), sha256(whole.body));

  t.is((await b.request('POST', 'alice', '__import', { headers, body: '{"Name":"via-s3"}' })).status, 202);
  const done = await waitFor(async () => {
    const now = await status(a, 'alice', '__import');
    return now.status.endsWith('in progress') ? undefined : now;
  });
  t.deepEqual(done, { status: 'ready' });
  t.deepEqual(await digestOf(dataDir, 'alice'), before, 'the cell, exported and imported back, is unchanged');
});
