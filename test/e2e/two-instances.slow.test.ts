/**
 * Two host processes sharing one Redis job store and the same data directories: the job state
 * machine holds across instances, including when the instance running a job is killed. In the slow
 * set (`npm run test:slow`): each test starts a Redis server and two host processes.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import avaTest, { type ExecutionContext } from 'ava';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellIdOf, digestOf, leftovers } from '../helpers/cell-digest.js';
import { type ChildServer, startChild } from '../helpers/child.js';
import { redisServer } from '../helpers/redis-server.js';
import { makeDataDir } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { needing } from '../helpers/tools.js';

const test = needing(avaTest, 'redis-server');

const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
const JAVA_FIXTURE = new URL('../../fixtures/java/personium-style.zip', import.meta.url).pathname;

async function pair(t: ExecutionContext, env: Record<string, string>) {
  const redis = await redisServer(t);
  const dataDir = await makeDataDir(t);
  const shared = { REDIS_URL: redis.url, LEASE_TTL_MS: '1000', LEASE_RENEW_MS: '250', ...env };
  const [a, b] = await Promise.all([startChild(t, dataDir, shared), startChild(t, dataDir, shared)]);
  return { dataDir, a, b };
}

const status = async (server: ChildServer, cell: string, resource: '__export' | '__import') =>
  (await server.request('GET', cell, resource, { headers })).json<{ status: string; message?: unknown }>();

async function errorFile(dataDir: string, cell: string, name: string): Promise<unknown> {
  const stream = await new FsSnapshotStore({ root: join(dataDir, 'snapshots') }).read(await cellIdOf(dataDir, cell), name);
  return stream === undefined ? undefined : JSON.parse(await text(stream));
}

test('a POST on one instance is seen on the other; a cancel on the other stops it', async (t) => {
  const { dataDir, a, b } = await pair(t, { DELAY_MS: '150' });
  t.is((await a.request('POST', 'alice', '__export', { headers, body: '{"Name":"shared"}' })).status, 202);
  t.is((await status(b, 'alice', '__export')).status, 'exportation in progress');
  t.is((await b.request('POST', 'alice', '__export', { headers, body: '{"Name":"other"}' })).status, 409);
  const cancelled = await b.request('DELETE', 'alice', '__export', { headers });
  t.is(cancelled.status, 202);
  t.is((await status(a, 'alice', '__export')).status, 'ready');
  t.deepEqual(await errorFile(dataDir, 'alice', 'shared.error'), {
    code: 'PR409-SN-0002',
    message: { lang: 'en', value: '[cell export] was cancelled.' },
  });
});

test('20 concurrent POSTs split across both instances: exactly one 202', async (t) => {
  const { a, b } = await pair(t, { DELAY_MS: '50' });
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', 'alice', '__export', { headers, body: `{"Name":"race-${i}"}` })),
  );
  t.is(answers.filter((r) => r.status === 202).length, 1);
  t.is(answers.filter((r) => r.status === 409).length, 19);
});

test('SIGKILL of the instance running an export: the other writes .error PR500-SN-0001 and takes a new export', async (t) => {
  const { dataDir, a, b } = await pair(t, { DELAY_MS: '150' });
  t.is((await a.request('POST', 'alice', '__export', { headers, body: '{"Name":"orphan"}' })).status, 202);
  await a.kill();
  t.is((await status(b, 'alice', '__export')).status, 'exportation in progress', 'until the lease expires');
  await waitFor(async () => (await status(b, 'alice', '__export')).status === 'ready');
  t.deepEqual(await errorFile(dataDir, 'alice', 'orphan.error'), {
    code: 'PR500-SN-0001',
    message: { lang: 'en', value: '[cell export] was interrupted.' },
  });
  t.is((await b.request('POST', 'alice', '__export', { headers, body: '{"Name":"after"}' })).status, 202);
});

test('SIGKILL of the instance running an import: the cell is unchanged, import failed PR500-SN-0001', async (t) => {
  const { dataDir, a, b } = await pair(t, { IMPORT_DELAY_MS: '150' });
  const before = await digestOf(dataDir, 'bob');
  const size = String((await stat(JAVA_FIXTURE)).size);
  const put = await a.request('PUT', 'bob', '__snapshot/java.zip', {
    headers: { ...headers, 'content-type': 'application/zip', 'content-length': size },
    body: createReadStream(JAVA_FIXTURE),
  });
  t.is(put.status, 201);
  t.is((await a.request('POST', 'bob', '__import', { headers, body: '{"Name":"java"}' })).status, 202);
  await waitFor(async () => (await status(b, 'bob', '__import')).status === 'importation in progress');
  // Killed mid-import: once its staging copy exists beside the cells.
  await waitFor(async () => (await leftovers(dataDir)).length > 0);
  await a.kill();
  const failed = await waitFor(async () => {
    const now = await status(b, 'bob', '__import');
    return now.status === 'import failed' ? now : undefined;
  });
  t.deepEqual(failed.message, { code: 'PR500-SN-0001', message: { lang: 'en', value: '[cell import] was interrupted.' } });
  t.deepEqual(await digestOf(dataDir, 'bob'), before);
  t.is((await b.request('POST', 'bob', '__import', { headers, body: '{"Name":"java"}' })).status, 202, 'a new import is accepted');
  t.is((await status(b, 'bob', '__import')).status, 'importation in progress');
  await b.request('DELETE', 'bob', '__import', { headers });
  t.deepEqual(await leftovers(dataDir), [], 'the dead instance left no staging behind');
});
