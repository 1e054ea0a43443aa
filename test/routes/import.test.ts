import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { generateHostileCorpus } from '../../fixtures/hostile/generate.js';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { PersoniumError } from '../../lib/errors.js';
import { compareDavPaths } from '../../lib/snapshot/central-directory.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { cellInfo, digestOf, expectedAfterImport, leftovers } from '../helpers/cell-digest.js';
import { wrapCells } from '../helpers/cells.js';
import { MOUNT_MODES, type TestServer, makeDataDir, startServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const JAVA_FIXTURE = new URL('../../fixtures/java/personium-style.zip', import.meta.url).pathname;

type Status = { status: string; message?: { code: string }; importation_name?: string };

async function importStatus(server: Pick<TestServer, 'request'>, cell: string): Promise<Status> {
  return (await server.request('GET', cell, '__import', { headers: auth })).json<Status>();
}

async function settle(server: Pick<TestServer, 'request'>, cell: string): Promise<Status> {
  return waitFor(async () => {
    const status = await importStatus(server, cell);
    return status.status === 'importation in progress' ? undefined : status;
  }, 30_000);
}

async function putFile(server: Pick<TestServer, 'request'>, cell: string, name: string, file: string) {
  const res = await server.request('PUT', cell, `__snapshot/${name}`, {
    headers: { ...auth, 'content-type': 'application/zip', 'content-length': String((await stat(file)).size) },
    body: createReadStream(file),
  });
  if (res.status !== 201 && res.status !== 204) throw new Error(`PUT ${name}: ${res.status} ${res.text}`);
  return res.headers.etag;
}

/** Exports `from` and copies the zip into `to`'s snapshot area over HTTP (GET then PUT). */
async function exportInto(server: TestServer, from: string, to: string, name: string): Promise<void> {
  const post = await server.request('POST', from, '__export', { headers: auth, body: JSON.stringify({ Name: name }) });
  if (post.status !== 202) throw new Error(`export: ${post.status} ${post.text}`);
  await waitFor(async () => (await server.request('GET', from, '__export', { headers: auth })).json<Status>().status === 'ready');
  const zip = await server.request('GET', from, `__snapshot/${name}.zip`, { headers: auth });
  if (zip.status !== 200) throw new Error(`GET zip: ${zip.status}`);
  const put = await server.request('PUT', to, `__snapshot/${name}.zip`, { headers: { ...auth, 'content-type': 'application/zip' }, body: zip.body });
  if (put.status !== 201) throw new Error(`PUT zip: ${put.status} ${put.text}`);
}

function postImport(server: Pick<TestServer, 'request'>, cell: string, body: unknown) {
  return server.request('POST', cell, '__import', { headers: auth, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

for (const mode of MOUNT_MODES) {
  test(`${mode}: export A, copy the zip into B with PUT, import into B: B equals A with B's identity`, async (t) => {
    const server = await startServer(t, mode);
    const alice = await digestOf(server.dataDir, 'alice');
    const bob = await cellInfo(server.dataDir, 'bob');
    await exportInto(server, 'alice', 'bob', 'moving');
    t.deepEqual(await importStatus(server, 'bob'), { status: 'ready' });
    const res = await postImport(server, 'bob', { Name: 'moving' });
    t.is(res.status, 202, res.text);
    t.is(res.headers.location, server.cellUrl('bob', '__import'));
    t.deepEqual(await settle(server, 'bob'), { status: 'ready' });
    const after = await digestOf(server.dataDir, 'bob');
    t.deepEqual(after, expectedAfterImport(alice, bob));
    t.deepEqual(await cellInfo(server.dataDir, 'bob'), bob);
    t.deepEqual(await leftovers(server.dataDir), []);
  });
}

test('the status is importation in progress while it runs, with Retry-After', async (t) => {
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { importDelayMs: 40 }) });
  await exportInto(server, 'alice', 'bob', 'slow');
  t.is((await postImport(server, 'bob', { Name: 'slow' })).status, 202);
  const res = await server.request('GET', 'bob', '__import', { headers: auth });
  const body = res.json<Record<string, unknown>>();
  t.is(body['status'], 'importation in progress');
  t.is(body['importation_name'], 'slow');
  t.regex(String(body['progress']), /^\d{1,2}%$/);
  t.deepEqual(Object.keys(body), ['status', 'started_at', 'progress', 'importation_name']);
  t.true(Number(res.headers['retry-after']) >= 1);
  t.deepEqual(await settle(server, 'bob'), { status: 'ready' });
});

test('a Personium-style archive written by Java imports', async (t) => {
  const server = await startServer(t, 'root');
  await putFile(server, 'bob', 'java.zip', JAVA_FIXTURE);
  const accepted = await postImport(server, 'bob', { Name: 'java' });
  t.is(accepted.status, 202);
  t.deepEqual(accepted.json(), { status: 'importation in progress', importation_name: 'java' }, 'the 202 names the snapshot');
  t.deepEqual(await settle(server, 'bob'), { status: 'ready' });
  const expected = (await import('../../fixtures/java/personium-style.expected.json', { with: { type: 'json' } })).default as {
    records: Record<string, unknown[]>;
    dav: { path: string; content?: { sha256: string } }[];
  };
  const bob = await digestOf(server.dataDir, 'bob');
  for (const [type, records] of Object.entries(expected.records)) t.is(bob.records[type as keyof typeof bob.records].length, records.length, type);
  t.deepEqual(
    bob.dav.map((n) => [n.path, n.content?.sha256]),
    expected.dav.map((n) => [n.path, n.content?.sha256]).sort(([a], [b]) => compareDavPaths(String(a), String(b))),
  );
  t.is(bob.cellRecord._id, (await cellInfo(server.dataDir, 'bob')).id);
});

test('POST checks, in order, each with its code; the snapshot file is never modified', async (t) => {
  const server = await startServer(t, 'root');
  const dir = await tempDir(t);
  const notZip = join(dir, 'not.zip');
  await import('node:fs/promises').then((fs) => fs.writeFile(notZip, 'this is not a zip file'));
  const cases: [unknown, number, string, string?][] = [
    ['{', 400, 'PR400-CM-0004'],
    ['', 400, 'PR400-CM-0001', 'Required key [Name] missing.'],
    [{}, 400, 'PR400-CM-0001'],
    [{ Name: 'a.b' }, 400, 'PR400-CM-0002'],
    [{ Name: 'absent' }, 404, 'PR404-DV-0001', 'Resource not found. [absent.zip].'],
  ];
  for (const [body, status, code, message] of cases) {
    const res = await postImport(server, 'bob', body);
    t.is(res.status, status, JSON.stringify(body));
    t.is(res.json<{ code: string }>().code, code);
    if (message !== undefined) t.is(res.json<{ message: { value: string } }>().message.value, message);
  }
  const etag = await putFile(server, 'bob', 'not.zip', notZip);
  const res = await postImport(server, 'bob', { Name: 'not' });
  t.is(res.status, 400);
  t.is(res.json<{ code: string }>().code, 'PR400-MC-0004');
  const after = await server.request('HEAD', 'bob', '__snapshot/not.zip', { headers: auth });
  t.is(after.headers.etag, etag);
});

test('every hostile archive: its code before the 202 or import failed after it, and B is unchanged', async (t) => {
  const server = await startServer(t, 'root');
  const before = await digestOf(server.dataDir, 'bob');
  const dir = await tempDir(t);
  const corpus = await generateHostileCorpus(dir);
  for (const hostile of corpus) {
    const etag = await putFile(server, 'bob', `${hostile.name}.zip`, hostile.file);
    const res = await postImport(server, 'bob', { Name: hostile.name });
    if (hostile.expected.stage === 'open') {
      t.is(res.status, 400, hostile.name);
      t.is(res.json<{ code: string }>().code, hostile.expected.code, hostile.name);
    } else {
      t.is(res.status, 202, hostile.name);
      const status = await settle(server, 'bob');
      t.is(status.status, 'import failed', hostile.name);
      t.is(status.message?.code, hostile.expected.code, hostile.name);
      t.is(status.importation_name, hostile.name);
    }
    const head = await server.request('HEAD', 'bob', `__snapshot/${hostile.name}.zip`, { headers: auth });
    t.is(head.headers.etag, etag, `${hostile.name} unmodified`);
    await server.request('DELETE', 'bob', `__snapshot/${hostile.name}.zip`, { headers: auth });
  }
  t.deepEqual(await digestOf(server.dataDir, 'bob'), before);
  t.deepEqual(await leftovers(server.dataDir), []);
});

test('a transaction whose commit fails: import failed, B unchanged; the next accepted import clears the state', async (t) => {
  const failure = new PersoniumError('PR503-SV-0001');
  let failCommit = true;
  const server = await startServer(t, 'root', {
    wrapCells: (cells) => {
      const failing = wrapCells(cells, { failCommit: failure });
      return {
        getCell: (name) => cells.getCell(name),
        openExport: (cell, signal) => cells.openExport(cell, signal),
        beginImport: (cell, signal) => (failCommit ? failing : cells).beginImport(cell, signal),
      };
    },
  });
  const before = await digestOf(server.dataDir, 'bob');
  await exportInto(server, 'alice', 'bob', 'doomed');
  t.is((await postImport(server, 'bob', { Name: 'doomed' })).status, 202);
  const failed = await settle(server, 'bob');
  t.like(failed, { status: 'import failed', importation_name: 'doomed', message: failure.toJSON() });
  t.deepEqual(Object.keys(failed), ['status', 'started_at', 'progress', 'importation_name', 'message']);
  t.deepEqual(await digestOf(server.dataDir, 'bob'), before);
  t.deepEqual(await importStatus(server, 'bob'), failed, 'the failure stays until the next import');
  failCommit = false;
  t.is((await postImport(server, 'bob', { Name: 'absent' })).status, 404);
  t.is((await importStatus(server, 'bob')).status, 'import failed', 'a refused POST does not clear it');
  t.is((await postImport(server, 'bob', { Name: 'doomed' })).status, 202);
  t.deepEqual(await settle(server, 'bob'), { status: 'ready' });
});

test('DELETE cancels: rolled back, status ready, B unchanged; nothing running → 409 PR409-SN-0001', async (t) => {
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { importDelayMs: 300 }) });
  const before = await digestOf(server.dataDir, 'bob');
  const none = await server.request('DELETE', 'bob', '__import', { headers: auth });
  t.is(none.status, 409);
  t.deepEqual(none.json(), { code: 'PR409-SN-0001', message: { lang: 'en', value: 'No [cell import] is running.' } });
  await exportInto(server, 'alice', 'bob', 'cancel-me');
  t.is((await postImport(server, 'bob', { Name: 'cancel-me' })).status, 202);
  const res = await server.request('DELETE', 'bob', '__import', { headers: auth });
  t.is(res.status, 202);
  t.deepEqual(await importStatus(server, 'bob'), { status: 'ready' });
  t.deepEqual(await digestOf(server.dataDir, 'bob'), before);
  t.deepEqual(await leftovers(server.dataDir), []);
});

test('POST __import while an export of B runs → 409 PR409-CM-0002 [cell export]', async (t) => {
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { delayMs: 100 }) });
  t.is((await server.request('POST', 'bob', '__export', { headers: auth, body: '{"Name":"busy"}' })).status, 202);
  const res = await postImport(server, 'bob', { Name: 'busy' });
  t.is(res.status, 409);
  t.deepEqual(res.json(), {
    code: 'PR409-CM-0002',
    message: { lang: 'en', value: 'Because [cell export] is being executed, writing to cell can not be done.' },
  });
  await server.request('DELETE', 'bob', '__export', { headers: auth });
});

test('SIGKILL during an import, then restart: B unchanged, no staging left, import failed PR500-SN-0001', async (t) => {
  const dataDir = await makeDataDir(t);
  const env = { IMPORT_DELAY_MS: '150', LEASE_TTL_MS: '800', LEASE_RENEW_MS: '200' };
  const before = await digestOf(dataDir, 'bob');
  const first = await startChild(t, dataDir, env);
  await putFile(first, 'bob', 'java.zip', JAVA_FIXTURE);
  t.is((await postImport(first, 'bob', { Name: 'java' })).status, 202);
  await waitFor(async () => (await importStatus(first, 'bob')).status === 'importation in progress');
  // Killed mid-import: once its staging copy exists beside the cells.
  await waitFor(async () => (await leftovers(dataDir)).length > 0);
  await first.kill();

  // The restarts: new instances over the same data and FsJobStore, in this process (only the
  // instance killed mid-import needs a process of its own).
  const restart = () =>
    startServer(t, 'root', { dataDir, options: { jobs: new FsJobStore({ root: join(dataDir, 'jobs') }), lease: { ttlMs: 800, renewMs: 200 } } });
  const second = await restart();
  const status = await waitFor(async () => {
    const now = await importStatus(second, 'bob');
    return now.status === 'import failed' ? now : undefined;
  });
  t.deepEqual(status.message, { code: 'PR500-SN-0001', message: { lang: 'en', value: '[cell import] was interrupted.' } });
  t.deepEqual(await digestOf(dataDir, 'bob'), before);
  t.deepEqual(await leftovers(dataDir), []);
  await second.router.close();
  const third = await restart();
  t.is((await importStatus(third, 'bob')).status, 'import failed', 'the failed state survives a restart');
});
