/**
 * Faults of the machine on a real, small file system (a tmpfs mounted by the test, root only): a
 * full disk and a read-only one, for every path that writes (upload, export, `.error`, import staging,
 * the import's swap, the job store). Each fails with its storage code, changes no stored byte, leaves
 * no temporary file, gives the space back, and succeeds once the space is free again.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import avaTest, { type ExecutionContext } from 'ava';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { PersoniumError } from '../../lib/errors.js';
import { importSnapshot } from '../../lib/jobs/import-job.js';
import { openSnapshot } from '../../lib/snapshot/reader.js';
import { storeSource } from '../../lib/snapshot/source.js';
import type { CellDataSource, CellEvent, ImportTransaction } from '../../lib/types.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellInfo, digestOf, expectedAfterImport } from '../helpers/cell-digest.js';
import { randomFile, sha256 } from '../helpers/files.js';
import { FIXTURE_CELLS, type TestServer, makeDataDir, startServer } from '../helpers/server.js';
import { type Tmpfs, mountTmpfs, treeDigest } from '../helpers/tmpfs.js';
import { needingTmpfs } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const test = needingTmpfs(avaTest);

const MiB = 1024 * 1024;
const KiB = 1024;
/** Room for the fixture cells (2.4 MB), two exports of alice and the uploads of the tests. */
const TMPFS_BYTES = 16 * MiB;
const auth = { authorization: `Bearer ${ROOT_TOKEN}` };

type Body = { status?: string; code?: string; message?: { value?: string; code?: string } | string; exportation_name?: string };

/** What a test host on a tmpfs recorded. */
interface Host {
  readonly fs: Tmpfs;
  readonly server: TestServer;
  readonly events: CellEvent[];
  readonly errors: unknown[];
}

/** A host whose cells, snapshot area (and job store, with `fsJobs`) live on a fresh small tmpfs. */
async function hostOnTmpfs(t: ExecutionContext, fsJobs = false): Promise<Host> {
  const fs = await mountTmpfs(t, TMPFS_BYTES);
  await cp(FIXTURE_CELLS, join(fs.dir, 'cells'), { recursive: true });
  await mkdir(join(fs.dir, 'snapshots'));
  const events: CellEvent[] = [];
  const errors: unknown[] = [];
  const server = await startServer(t, 'root', {
    dataDir: fs.dir,
    options: {
      events: { log: (event) => void events.push(event) },
      onError: (error) => void errors.push(error),
      ...(fsJobs ? { jobs: new FsJobStore({ root: join(fs.dir, 'jobs') }) } : {}),
    },
  });
  return { fs, server, events, errors };
}

/** Asserts a storage fault answer: its status and code, a message naming the store and no path. */
function assertFault(t: ExecutionContext, body: Body, code: string, store: string, what: string): void {
  t.is(body.code, code, what);
  const message = typeof body.message === 'object' ? body.message.value : body.message;
  t.true(message?.includes(`[${store}]`), `${what}: ${message}`);
  t.false(message?.includes('/'), `${what}: no path in ${message}`);
}

function put(server: TestServer, cell: string, name: string, body: Buffer) {
  return server.request('PUT', cell, `__snapshot/${name}`, { headers: { ...auth, 'content-type': 'application/zip' }, body });
}

function post(server: TestServer, cell: string, kind: 'export' | 'import', name: string) {
  return server.request('POST', cell, `__${kind}`, { headers: auth, body: JSON.stringify({ Name: name }) });
}

/** The status of the cell's export or import once no job runs. */
function settled(server: TestServer, cell: string, kind: 'export' | 'import'): Promise<Body> {
  return waitFor(async () => {
    const body = (await server.request('GET', cell, `__${kind}`, { headers: auth })).json<Body>();
    return body.status?.endsWith('in progress') === true ? undefined : body;
  });
}

/** Exports `from` as `name` and copies the zip into `to`'s snapshot area. */
async function exportInto(server: TestServer, from: string, to: string, name: string): Promise<void> {
  if ((await post(server, from, 'export', name)).status !== 202) throw new Error('export refused');
  await settled(server, from, 'export');
  const zip = await server.request('GET', from, `__snapshot/${name}.zip`, { headers: auth });
  if ((await put(server, to, `${name}.zip`, zip.body)).status !== 201) throw new Error('PUT of the zip failed');
}

test('upload: 507 on a full disk, 503 read-only, the old version intact, no temp file, space back; then it works', async (t) => {
  const { fs, server } = await hostOnTmpfs(t);
  const old = Buffer.alloc(100 * KiB, 7);
  t.is((await put(server, 'bob', 'keep.zip', old)).status, 201);
  const big = Buffer.alloc(2 * MiB, 9);

  await fs.fill(512 * KiB);
  const before = await treeDigest(fs.dir);
  const free = await fs.free();
  const full = await put(server, 'bob', 'keep.zip', big);
  t.is(full.status, 507);
  assertFault(t, full.json(), 'PR507-SN-0001', 'snapshot area', 'PUT on a full disk');
  t.deepEqual(await treeDigest(fs.dir), before, 'no stored byte changed, no temp file left');
  t.is(await fs.free(), free, 'the space is given back');
  t.is(sha256((await server.request('GET', 'bob', '__snapshot/keep.zip', { headers: auth })).body), sha256(old));

  await fs.fill(0);
  t.is((await server.request('DELETE', 'bob', '__snapshot/keep.zip', { headers: auth })).status, 204, 'deleting frees space even on a full disk');
  await fs.fill(0);
  t.is((await put(server, 'bob', 'keep.zip', old)).status, 507);
  await fs.unfill();
  t.is((await put(server, 'bob', 'keep.zip', old)).status, 201);

  await fs.readOnly();
  const readOnly = await put(server, 'bob', 'keep.zip', big);
  t.is(readOnly.status, 503);
  assertFault(t, readOnly.json(), 'PR503-SN-0001', 'snapshot area', 'PUT on a read-only disk');
  const del = await server.request('DELETE', 'bob', '__snapshot/keep.zip', { headers: auth });
  t.is(del.status, 503);
  assertFault(t, del.json(), 'PR503-SN-0001', 'snapshot area', 'DELETE on a read-only disk');
  await fs.writable();
  t.is((await put(server, 'bob', 'keep.zip', big)).status, 204);
  t.is(sha256((await server.request('GET', 'bob', '__snapshot/keep.zip', { headers: auth })).body), sha256(big));
});

/** Puts a small file in the cell's snapshot area, so that its directory exists before a test measures. */
async function seed(server: TestServer, cell: string): Promise<void> {
  if ((await put(server, cell, 'seed.zip', Buffer.from('seed'))).status !== 201) throw new Error('seed failed');
}

test('export: {Name}.error says the disk is full, no partial zip, space back; after freeing space it succeeds', async (t) => {
  const { fs, server, events } = await hostOnTmpfs(t);
  await seed(server, 'alice');
  await fs.fill(512 * KiB);
  const before = await treeDigest(fs.dir);
  t.is((await post(server, 'alice', 'export', 'big')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });
  const error = await server.request('GET', 'alice', '__snapshot/big.error', { headers: auth });
  t.is(error.status, 200);
  assertFault(t, error.json(), 'PR507-SN-0001', 'snapshot area', 'big.error');
  const after = await treeDigest(fs.dir);
  const added = Object.keys(after).filter((name) => !(name in before));
  t.is(added.length, 2, `only the .error and its metadata appeared: ${added.join(', ')}`);
  for (const [name, digest] of Object.entries(before)) t.is(after[name], digest, name);
  const failed = await waitFor(async () => events.find((e) => e.info.startsWith('failed ')));
  t.regex(failed.info, /^failed PR507-SN-0001 \(ENOSPC: no space left on device/, 'the event log has the cause');

  await fs.unfill();
  t.is((await post(server, 'alice', 'export', 'big')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });
  t.is((await server.request('GET', 'alice', '__snapshot/big.zip', { headers: auth })).status, 200);
  t.is((await server.request('GET', 'alice', '__snapshot/big.error', { headers: auth })).status, 404, 'the success removed the .error');
});

test('.error on a full or read-only disk: no half .error, the status shows the failure, and it is logged', async (t) => {
  const { fs, server, events, errors } = await hostOnTmpfs(t);
  await seed(server, 'alice');
  await fs.fill(0);
  const before = await treeDigest(fs.dir);
  const free = await fs.free();
  t.is((await post(server, 'alice', 'export', 'nowhere')).status, 202);
  const status = await settled(server, 'alice', 'export');
  t.is(status.status, 'export failed');
  t.is(status.exportation_name, 'nowhere');
  assertFault(t, status.message as Body, 'PR507-SN-0001', 'snapshot area', 'the status');
  t.deepEqual(await treeDigest(fs.dir), before, 'no .error, no zip, no temp file');
  t.is(await fs.free(), free);
  t.regex(
    (await waitFor(async () => events.find((e) => e.info.startsWith('failed ')))).info,
    /^failed PR507-SN-0001 \(ENOSPC[^)]*\); not recorded: PR507-SN-0001 \(ENOSPC/,
  );
  t.true(errors.some((e) => e instanceof PersoniumError && e.code === 'PR507-SN-0001'), 'the hook heard it');

  await fs.unfill();
  await fs.readOnly();
  t.is((await post(server, 'alice', 'export', 'frozen')).status, 202);
  const frozen = await settled(server, 'alice', 'export');
  t.is(frozen.status, 'export failed');
  t.is(frozen.exportation_name, 'frozen');
  assertFault(t, frozen.message as Body, 'PR503-SN-0001', 'snapshot area', 'the status, read-only');
  await fs.writable();
  t.deepEqual(await treeDigest(fs.dir), before);

  t.is((await post(server, 'alice', 'export', 'frozen')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' }, 'a new export clears the failure');
  t.is((await server.request('GET', 'alice', '__snapshot/frozen.zip', { headers: auth })).status, 200);
});

test('import staging: import failed says the disk is full or read-only, the cell unchanged, nothing left; then it works', async (t) => {
  const { fs, server } = await hostOnTmpfs(t);
  await exportInto(server, 'alice', 'bob', 'moving');
  const alice = await digestOf(fs.dir, 'alice');
  const bob = await cellInfo(fs.dir, 'bob');
  const bobBefore = await digestOf(fs.dir, 'bob');

  await fs.fill(512 * KiB);
  const before = await treeDigest(fs.dir);
  const free = await fs.free();
  t.is((await post(server, 'bob', 'import', 'moving')).status, 202);
  const failed = await settled(server, 'bob', 'import');
  t.is(failed.status, 'import failed');
  assertFault(t, failed.message as Body, 'PR507-SN-0001', 'cell data', 'import failed');
  t.deepEqual(await treeDigest(fs.dir), before, 'the cell is unchanged and no staging copy is left');
  t.is(await fs.free(), free, 'the space is given back');

  await fs.unfill();
  await fs.readOnly();
  t.is((await post(server, 'bob', 'import', 'moving')).status, 202);
  const readOnly = await settled(server, 'bob', 'import');
  assertFault(t, readOnly.message as Body, 'PR503-SN-0001', 'cell data', 'import failed, read-only');
  await fs.writable();

  t.is((await post(server, 'bob', 'import', 'moving')).status, 202);
  t.deepEqual(await settled(server, 'bob', 'import'), { status: 'ready' });
  t.notDeepEqual(bobBefore, alice);
  t.deepEqual(await digestOf(fs.dir, 'bob'), expectedAfterImport(alice, bob));
});

/** A data source whose import transaction runs `beforeSwap` once everything is staged and flushed. */
function pausingBeforeSwap(cells: FsCellDataSource, beforeSwap: () => Promise<void>): CellDataSource {
  return {
    getCell: (name) => cells.getCell(name),
    openExport: (cell, signal) => cells.openExport(cell, signal),
    async beginImport(cell, signal): Promise<ImportTransaction> {
      const tx = await cells.beginImport(cell, signal);
      return {
        putCellRecord: (record) => tx.putCellRecord(record),
        putRecords: (type, records) => tx.putRecords(type, records),
        putDav: (node) => tx.putDav(node),
        async commit() {
          await tx.flush();
          await beforeSwap();
          await tx.commit();
        },
        rollback: () => tx.rollback(),
      };
    },
  };
}

test('the swap: a full or read-only disk at the commit fails with its code, the cell unchanged, nothing left; then it works', async (t) => {
  const { fs, server } = await hostOnTmpfs(t);
  await exportInto(server, 'alice', 'bob', 'moving');
  const alice = await digestOf(fs.dir, 'alice');
  const bob = await cellInfo(fs.dir, 'bob');
  const snapshots = new FsSnapshotStore({ root: join(fs.dir, 'snapshots') });
  const rollbackErrors: unknown[] = [];
  const runImport = async (beforeSwap: () => Promise<void>): Promise<void> => {
    const source = await storeSource(snapshots, bob.id, 'moving.zip');
    if (source === undefined) throw new Error('moving.zip missing');
    await importSnapshot({
      cells: pausingBeforeSwap(new FsCellDataSource({ root: join(fs.dir, 'cells') }), beforeSwap),
      cell: bob,
      reader: await openSnapshot(source),
      signal: new AbortController().signal,
      onError: (error) => void rollbackErrors.push(error),
    });
  };

  const before = await treeDigest(fs.dir);
  const free = await fs.free();
  const full = await t.throwsAsync(runImport(() => fs.fill(0)), { instanceOf: PersoniumError });
  t.is(full?.code, 'PR507-SN-0001');
  t.is(full?.status, 507);
  await fs.unfill();
  t.is(await fs.free(), free, 'the staging copy was removed: all its space is back');
  t.deepEqual(await treeDigest(fs.dir), before, 'the cell is unchanged, no staging copy or journal left');

  const readOnly = await t.throwsAsync(runImport(() => fs.readOnly()), { instanceOf: PersoniumError });
  t.is(readOnly?.code, 'PR503-SN-0001');
  t.true(
    rollbackErrors.some((e) => e instanceof PersoniumError && e.code === 'PR503-SN-0001'),
    'the staging copy could not be removed on a read-only disk, and that was reported',
  );
  await fs.writable();
  await runImport(async () => undefined);
  const after = await treeDigest(fs.dir);
  t.deepEqual(
    Object.keys(after).filter((name) => name.startsWith('cells/.')),
    [],
    'the next import removed the staging copy left by the read-only disk',
  );
  t.deepEqual(await digestOf(fs.dir, 'bob'), expectedAfterImport(alice, bob));
});

test('job store: a full or read-only disk answers 507 / 503 for a new job, changes nothing, then works', async (t) => {
  const { fs, server } = await hostOnTmpfs(t, true);
  t.is((await post(server, 'alice', 'export', 'first')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });

  await fs.fill(0);
  const before = await treeDigest(fs.dir);
  const full = await post(server, 'alice', 'export', 'second');
  t.is(full.status, 507);
  assertFault(t, full.json(), 'PR507-SN-0001', 'job store', 'POST on a full job store');
  t.deepEqual(await treeDigest(fs.dir), before, 'no lock, temp or marker file left');
  const status = await server.request('GET', 'alice', '__export', { headers: auth });
  t.deepEqual(status.json(), { status: 'ready' }, 'reading the status still works');
  await fs.unfill();

  await fs.readOnly();
  const readOnly = await post(server, 'alice', 'export', 'second');
  t.is(readOnly.status, 503);
  assertFault(t, readOnly.json(), 'PR503-SN-0001', 'job store', 'POST on a read-only job store');
  await fs.writable();
  t.deepEqual(await treeDigest(fs.dir), before);

  t.is((await post(server, 'alice', 'export', 'second')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });
  t.is((await server.request('GET', 'alice', '__snapshot/second.zip', { headers: auth })).status, 200);
});

avaTest('vanished roots: the snapshot area and the job store are created again', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startServer(t, 'root', { dataDir, options: { jobs: new FsJobStore({ root: join(dataDir, 'jobs') }) } });
  t.is((await put(server, 'bob', 'first.zip', Buffer.from('x'))).status, 201);
  await rm(join(dataDir, 'snapshots'), { recursive: true });
  t.is((await put(server, 'bob', 'again.zip', Buffer.from('x'))).status, 201);
  t.is((await post(server, 'alice', 'export', 'again')).status, 202);
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });
  await rm(join(dataDir, 'jobs'), { recursive: true });
  t.is((await post(server, 'alice', 'export', 'again-2')).status, 202, 'the job store root vanished after its first use');
  t.deepEqual(await settled(server, 'alice', 'export'), { status: 'ready' });
});

test('the tmpfs helper really fills the disk (the tests above prove something)', async (t) => {
  const fs = await mountTmpfs(t, 2 * MiB);
  await fs.fill(0);
  t.is(await fs.free(), 0);
  await t.throwsAsync(randomFile(join(fs.dir, 'x'), 1), { code: 'ENOSPC' });
  await fs.unfill();
  t.true((await fs.free()) >= 2 * MiB - 64 * KiB);
});
