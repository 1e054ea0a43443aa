import { text } from 'node:stream/consumers';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { PersoniumError } from '../../lib/errors.js';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { storeSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import type { CellEvent, EventLogger } from '../../lib/types.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellIdOf } from '../helpers/cell-digest.js';
import { wrapCells } from '../helpers/cells.js';
import { MOUNT_MODES, type TestServer, makeDataDir, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };

async function status(server: TestServer, cell = 'alice') {
  const res = await server.request('GET', cell, '__export', { headers: auth });
  return { res, body: res.json<Record<string, unknown>>() };
}

function storeOf(server: TestServer): FsSnapshotStore {
  return new FsSnapshotStore({ root: join(server.dataDir, 'snapshots') });
}

/** The names in a cell's snapshot area. */
async function names(server: TestServer, id: string): Promise<string[]> {
  return (await storeOf(server).list(id)).map((info) => info.name);
}

/** Reads a `.error` file through the store, failing clearly when it is absent. */
async function readErrorFile(server: TestServer, id: string, name: string): Promise<unknown> {
  const stream = await storeOf(server).read(id, name);
  if (stream === undefined) throw new Error(`${name} missing in [${(await names(server, id)).join(', ')}]`);
  return JSON.parse(await text(stream));
}

function post(server: TestServer, body?: unknown, cell = 'alice') {
  return server.request('POST', cell, '__export', {
    headers: { ...auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

for (const mode of MOUNT_MODES) {
  test(`${mode}: an export makes {Name}.zip that verifies; status moves ready → in progress → ready`, async (t) => {
    const server = await startServer(t, mode, { wrapCells: (cells) => wrapCells(cells, { delayMs: 15 }) });
    t.deepEqual((await status(server)).body, { status: 'ready' });
    const res = await post(server, { Name: 'backup-1' });
    t.is(res.status, 202);
    t.is(res.headers.location, server.cellUrl('alice', '__export'));
    t.deepEqual(res.json(), { status: 'exportation in progress', exportation_name: 'backup-1' }, 'the 202 names the snapshot');
    const running = await status(server);
    t.is(running.body['status'], 'exportation in progress');
    t.is(running.body['exportation_name'], 'backup-1');
    t.regex(String(running.body['started_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.regex(String(running.body['progress']), /^\d{1,2}%$/);
    t.true(Number(running.res.headers['retry-after']) >= 1);
    t.deepEqual(Object.keys(running.body), ['status', 'started_at', 'progress', 'exportation_name']);
    const seen: number[] = [];
    await waitFor(async () => {
      const now = await status(server);
      if (now.body['status'] === 'ready') return true;
      seen.push(Number.parseInt(String(now.body['progress']), 10));
      return false;
    }, 30_000, 50);
    t.deepEqual(seen, [...seen].sort((a, b) => a - b), 'progress never decreases');
    t.true(seen.every((p) => p <= 99));
    const id = await cellIdOf(server.dataDir, 'alice');
    const source = await storeSource(storeOf(server), id, 'backup-1.zip');
  if (source === undefined) return t.fail('backup-1.zip missing');
  const report = await verifySnapshot(source);
    t.true(report.ok, JSON.stringify(report.error));
    t.is(report.integrity, 'sha256');
  });
}

test('the default Name is {CellName}_yyyyMMdd_HHmmss in UTC; the body is read as JSON whatever the Content-Type', async (t) => {
  const server = await startServer(t, 'root');
  const before = new Date();
  const res = await server.request('POST', 'alice', '__export', { headers: auth });
  t.is(res.status, 202);
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  const id = await cellIdOf(server.dataDir, 'alice');
  const zip = (await names(server, id)).find((f) => f.endsWith('.zip'));
  t.regex(zip ?? '', /^alice_\d{8}_\d{6}\.zip$/);
  const stamp = before.toISOString().slice(0, 10).replaceAll('-', '');
  t.true(zip?.startsWith(`alice_${stamp}`));
  const text = await server.request('POST', 'alice', '__export', {
    headers: { ...auth, 'content-type': 'text/plain' },
    body: '{"Name":"as-text"}',
  });
  t.is(text.status, 202);
});

test('bad bodies and names: 400 PR400-CM-0004 and PR400-CM-0002', async (t) => {
  const server = await startServer(t, 'root');
  for (const body of ['{', '[]', '"x"', '12']) {
    const res = await server.request('POST', 'alice', '__export', { headers: auth, body });
    t.is(res.status, 400, body);
    t.is(res.json<{ code: string }>().code, 'PR400-CM-0004');
  }
  for (const name of ['', 'a.b', 'a/b', 'x'.repeat(193), 12, true]) {
    const res = await post(server, { Name: name });
    t.is(res.status, 400, String(name));
    t.deepEqual(res.json(), {
      code: 'PR400-CM-0002',
      message: { lang: 'en', value: 'Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$].' },
    });
  }
});

test('an existing {Name}.zip answers 409 PR409-DV-0002; a success removes an older {Name}.error', async (t) => {
  const server = await startServer(t, 'root');
  const id = await cellIdOf(server.dataDir, 'alice');
  const older = await storeOf(server).write(id, 'twice.error', { contentType: 'application/json' });
  older.stream.end('{"code":"PR500-SV-0000","message":{"lang":"en","value":"Unknown error."}}');
  await new Promise((resolve) => older.stream.once('finish', resolve));
  await older.commit();
  t.deepEqual(await names(server, id), ['twice.error']);
  t.is((await post(server, { Name: 'twice' })).status, 202);
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  t.deepEqual(await names(server, id), ['twice.zip']);
  const again = await post(server, { Name: 'twice' });
  t.is(again.status, 409);
  t.deepEqual(again.json(), { code: 'PR409-DV-0002', message: { lang: 'en', value: 'File [twice.zip] already exists.' } });
});

test('20 concurrent POSTs on one cell: exactly one 202, the rest 409 PR409-CM-0002', async (t) => {
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { delayMs: 20 }) });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(server, { Name: `race-${i}` })));
  const statuses = answers.map((r) => r.status).sort();
  t.is(statuses.filter((s) => s === 202).length, 1);
  t.is(statuses.filter((s) => s === 409).length, 19);
  for (const res of answers.filter((r) => r.status === 409)) {
    t.deepEqual(res.json(), {
      code: 'PR409-CM-0002',
      message: { lang: 'en', value: 'Because [cell export] is being executed, writing to cell can not be done.' },
    });
  }
});

test('DELETE cancels an export that would never end (its view hangs): .error holds PR409-SN-0002, no .zip', async (t) => {
  // The view's WebDAV tree never starts, so only the cancel can end this export: the DELETE's answer
  // and the status after it prove the cancel reached a job stuck in its source (no clock involved).
  const never = new Promise<void>(() => undefined);
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { exportGate: never }) });
  const id = await cellIdOf(server.dataDir, 'alice');
  t.is((await post(server, { Name: 'cancelled' })).status, 202);
  const nothing = await server.request('DELETE', 'bob', '__export', { headers: auth });
  t.is(nothing.status, 409);
  t.deepEqual(nothing.json(), { code: 'PR409-SN-0001', message: { lang: 'en', value: 'No [cell export] is running.' } });
  t.is((await status(server)).body['status'], 'exportation in progress');
  const res = await server.request('DELETE', 'alice', '__export', { headers: auth });
  t.is(res.status, 202);
  t.deepEqual((await status(server)).body, { status: 'ready' });
  t.deepEqual(await names(server, id), ['cancelled.error']);
  const stored = await readErrorFile(server, id, 'cancelled.error');
  t.deepEqual(stored, { code: 'PR409-SN-0002', message: { lang: 'en', value: '[cell export] was cancelled.' } });
});

test('a data source failing midway: .error with its code, no .zip, status ready', async (t) => {
  const failure = new PersoniumError('PR503-SV-0001');
  const server = await startServer(t, 'root', {
    wrapCells: (cells) => wrapCells(cells, { failExportAfter: { nodes: 3, error: failure } }),
  });
  const id = await cellIdOf(server.dataDir, 'alice');
  t.is((await post(server, { Name: 'broken' })).status, 202);
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  t.deepEqual(await readErrorFile(server, id, 'broken.error'), failure.toJSON());
  t.deepEqual(await names(server, id), ['broken.error']);
  const plain = await startServer(t, 'root', {
    wrapCells: (cells) => wrapCells(cells, { failExportAfter: { nodes: 1, error: new Error('disk on fire') } }),
    options: { onError: () => {} },
  });
  const plainId = await cellIdOf(plain.dataDir, 'alice');
  t.is((await post(plain, { Name: 'plain' })).status, 202);
  await waitFor(async () => (await status(plain)).body['status'] === 'ready');
  t.deepEqual(await readErrorFile(plain, plainId, 'plain.error'), {
    code: 'PR500-SV-0000',
    message: { lang: 'en', value: 'Unknown error.' },
  });
});

test('a view whose totals cannot be counted fails the export: .error with its code, no .zip', async (t) => {
  const failure = new PersoniumError('PR503-SV-0001');
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { failTotals: failure }) });
  const id = await cellIdOf(server.dataDir, 'alice');
  t.is((await post(server, { Name: 'uncounted' })).status, 202);
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  t.deepEqual(await readErrorFile(server, id, 'uncounted.error'), failure.toJSON());
  t.deepEqual(await names(server, id), ['uncounted.error']);
});

test('the job limit answers 503 PR503-SV-0001 with Retry-After', async (t) => {
  const server = await startServer(t, 'root', {
    wrapCells: (cells) => wrapCells(cells, { delayMs: 100 }),
    options: { limits: { maxRunningJobs: 1 } },
  });
  t.is((await post(server, { Name: 'first' })).status, 202);
  const res = await post(server, { Name: 'second' }, 'bob');
  t.is(res.status, 503);
  t.deepEqual(res.json(), { code: 'PR503-SV-0001', message: { lang: 'en', value: 'Too many concurrent requests.' } });
  t.regex(String(res.headers['retry-after']), /^\d+$/);
  await server.request('DELETE', 'alice', '__export', { headers: auth });
});

/**
 * A server on an FsJobStore, and a worker of another process (a second store on the same files)
 * that claimed an export of alice named `orphan`; `die()` lets that worker's lease run out.
 */
async function withDeadWorker(t: ExecutionContext, options: { events?: EventLogger } = {}) {
  const dataDir = await makeDataDir(t);
  const jobsRoot = join(dataDir, 'jobs');
  const dead = new FsJobStore({ root: jobsRoot });
  const server = await startServer(t, 'root', { dataDir, options: { jobs: new FsJobStore({ root: jobsRoot }), ...options } });
  const id = await cellIdOf(server.dataDir, 'alice');
  const claim = await dead.claim(
    { cellId: id, kind: 'export', name: 'orphan', requestKey: 'k', subject: null },
    { leaseMs: 60_000, maxRunning: 4 },
  );
  if (claim.status !== 'claimed') throw new Error(`the dead worker's claim: ${claim.status}`);
  const die = async (): Promise<void> => {
    t.truthy(await dead.renew(id, claim.job.token, 5, 1), 'the dead worker stops renewing: its lease runs out');
  };
  return { server, id, die };
}

test('a job whose worker vanished is finished as interrupted by the next reader: .error PR500-SN-0001, cell free', async (t) => {
  const { server, id, die } = await withDeadWorker(t);
  const busy = await post(server, { Name: 'meanwhile' });
  t.is(busy.status, 409);
  t.is((await status(server)).body['status'], 'exportation in progress');
  await die();
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  t.deepEqual(await readErrorFile(server, id, 'orphan.error'), {
    code: 'PR500-SN-0001',
    message: { lang: 'en', value: '[cell export] was interrupted.' },
  });
  t.is((await post(server, { Name: 'after' })).status, 202);
});

test('a job whose worker vanished after committing its zip is finished as completed: the zip stays, an older .error goes', async (t) => {
  const events: CellEvent[] = [];
  const { server, id, die } = await withDeadWorker(t, { events: { log: (event) => void events.push(event) } });
  const store = storeOf(server);
  // An earlier export of the same name failed and left its .error.
  const stale = await store.write(id, 'orphan.error', { contentType: 'application/json' });
  stale.stream.end('{"code":"PR500-SV-0000"}');
  await stale.commit();
  // The worker commits its zip, then dies before it can record the job finished.
  const zip = await store.write(id, 'orphan.zip', { contentType: 'application/zip' });
  zip.stream.end('the committed snapshot');
  await zip.commit({ ifNoneMatch: '*' });
  await die();
  await waitFor(async () => (await status(server)).body['status'] === 'ready');
  t.deepEqual((await names(server, id)).filter((name) => name.startsWith('orphan.')), ['orphan.zip']);
  t.deepEqual(events.map((event) => event.info), ['completed']);
  t.is((await post(server, { Name: 'after' })).status, 202);
});

test('events: accepted and completed with the request key; a throwing or hanging logger changes nothing', async (t) => {
  const events: CellEvent[] = [];
  const server = await startServer(t, 'root', {
    options: {
      events: {
        log(event) {
          events.push(event);
          if (event.info === 'accepted') throw new Error('logger down');
          return new Promise<void>(() => {});
        },
      },
      onError: () => {},
    },
  });
  const res = await server.request('POST', 'alice', '__export', {
    headers: { ...auth, 'x-personium-requestkey': 'trace-1' },
    body: '{"Name":"evented"}',
  });
  t.is(res.status, 202);
  await waitFor(async () => events.some((e) => e.info === 'completed'));
  t.deepEqual(events.map((e) => e.info), ['accepted', 'completed']);
  for (const event of events) {
    t.is(event.requestKey, 'trace-1');
    t.is(event.type, 'cell.export');
    t.is(event.object, 'personium-localcell:/__export');
    t.false(event.external);
    t.is(event.subject, 'https://unit.test/alice/#owner');
  }
});

test('a status seen as running is never shown again once the job finished on this instance (status reads are shared per second)', async (t) => {
  const events: CellEvent[] = [];
  let open!: () => void;
  const exportGate = new Promise<void>((resolve) => (open = resolve));
  const server = await startServer(t, 'root', {
    wrapCells: (cells) => wrapCells(cells, { exportGate }),
    options: { events: { log: (event) => void events.push(event) } },
  });
  t.is((await post(server, { Name: 'shared' })).status, 202);
  const seen = await Promise.all([status(server), status(server), status(server)]);
  for (const { body } of seen) t.is(body['status'], 'exportation in progress');
  // The job ends well within the second for which the status just read is shared.
  open();
  await waitFor(async () => events.some((e) => e.info === 'completed'));
  t.deepEqual((await status(server)).body, { status: 'ready' });
});

test('a misspelled Name: the export runs under the generated name, which the 202 says, and a WARN event names the ignored key', async (t) => {
  const events: CellEvent[] = [];
  const server = await startServer(t, 'root', { options: { events: { log: (event) => void events.push(event) } } });
  const res = await post(server, { name: 'typo', Extra: 1 });
  t.is(res.status, 202);
  const body = res.json<{ status: string; exportation_name: string }>();
  t.is(body.status, 'exportation in progress');
  t.regex(body.exportation_name, /^alice_\d{8}_\d{6}$/);
  await waitFor(async () => events.some((e) => e.info === 'completed'));
  const ignored = events.find((e) => e.info.startsWith('ignored '));
  t.is(ignored?.info, 'ignored body keys "name", "Extra" (only Name is read)');
  t.is(ignored?.level, 'WARN');
  t.deepEqual((await status(server)).body, { status: 'ready' });
  const id = await cellIdOf(server.dataDir, 'alice');
  t.truthy(await storeOf(server).stat(id, `${body.exportation_name}.zip`), 'the named snapshot exists');
});
