import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import test from 'ava';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { makeDataDir, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const headers = { authorization: `Bearer ${ROOT_TOKEN}` };

test('a server killed mid-export and restarted on the same FsJobStore leaves no stuck cell', async (t) => {
  const dataDir = await makeDataDir(t);
  // Slowed down so that it is killed mid-export.
  const first = await startChild(t, dataDir, { DELAY_MS: '100', LEASE_TTL_MS: '800', LEASE_RENEW_MS: '200' });
  t.is((await first.request('POST', 'alice', '__export', { headers, body: '{"Name":"killed"}' })).status, 202);
  await first.kill();

  // The restart: a new instance over the same data and FsJobStore, in this process (only the
  // instance killed mid-export needs a process of its own).
  const second = await startServer(t, 'root', {
    dataDir,
    options: { jobs: new FsJobStore({ root: join(dataDir, 'jobs') }), lease: { ttlMs: 800, renewMs: 200 } },
  });
  const status = async () => (await second.request('GET', 'alice', '__export', { headers })).json<{ status: string }>().status;
  await waitFor(async () => (await status()) === 'ready');

  const { _id: id } = JSON.parse(await readFile(join(dataDir, 'cells', 'alice', 'cell.json'), 'utf8')) as { _id: string };
  const store = new FsSnapshotStore({ root: join(dataDir, 'snapshots') });
  t.deepEqual((await store.list(id)).map((f) => f.name), ['killed.error']);
  const stream = await store.read(id, 'killed.error');
  t.deepEqual(JSON.parse(await text(stream!)), { code: 'PR500-SN-0001', message: { lang: 'en', value: '[cell export] was interrupted.' } });

  t.is((await second.request('POST', 'alice', '__export', { headers, body: '{"Name":"again"}' })).status, 202);
  await waitFor(async () => (await status()) === 'ready');
  t.deepEqual((await store.list(id)).map((f) => f.name), ['again.zip', 'killed.error']);
});
