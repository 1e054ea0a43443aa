import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FsSnapshotStore } from '../../../lib/adapters/fs/snapshot-store.js';
import { fileKey } from '../../../lib/adapters/fs/store-files.js';
import { collect, put, send, snapshotStoreContract } from '../../../lib/contract/snapshot-store.js';
import { deadPid, lockOwnedBy } from '../../helpers/processes.js';
import { tempDir } from '../../helpers/tmp.js';

const CELL = '0123456789abcdef0123456789abcdef';

async function makeStore(t: ExecutionContext): Promise<{ store: FsSnapshotStore; root: string; dir: string }> {
  const root = await tempDir(t, 'kcs-snapshots-');
  return { store: new FsSnapshotStore({ root }), root, dir: join(root, CELL) };
}

/** Sets a file's times `ms` into the past. */
async function age(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

snapshotStoreContract(test, async (t) => (await makeStore(t)).store);

test('fs: the cell directory holds one .meta and one .data per file, nothing hidden after commits', async (t) => {
  const { store, dir } = await makeStore(t);
  await put(store, CELL, 'a.zip', 'one');
  await put(store, CELL, 'a.zip', 'two');
  await put(store, CELL, '.upload-evil', 'a hidden-looking name');
  const entries = (await readdir(dir)).sort();
  t.is(entries.length, 4);
  t.true(entries.every((e) => !e.startsWith('.')), entries.join(', '));
  t.is(entries.filter((e) => e.endsWith('.meta')).length, 2);
  t.is(entries.filter((e) => e.endsWith('.data')).length, 2);
  t.true(entries.some((e) => e.startsWith('a.zip~')));
});

test('fs: no temp file is left after an abort or a 413', async (t) => {
  const { store, dir } = await makeStore(t);
  const aborted = await store.write(CELL, 'x.zip', { contentType: 'application/zip' });
  await new Promise<void>((resolve, reject) => aborted.stream.write('partial', (e) => (e ? reject(e) : resolve())));
  t.is((await readdir(dir)).filter((e) => e.startsWith('.upload-')).length, 1, 'the upload writes a temp file');
  await aborted.abort();
  t.deepEqual(await readdir(dir), []);

  const tooBig = await store.write(CELL, 'x.zip', { contentType: 'application/zip', maxBytes: 5 });
  await t.throwsAsync(send(tooBig.stream, Buffer.from('123456')), { code: 'PR413-SN-0001' });
  t.deepEqual(await readdir(dir), [], 'removed before the stream reports the error');
  await tooBig.abort();

  const failed = await store.write(CELL, 'x.zip', { contentType: 'application/zip' });
  await send(failed.stream, Buffer.from('abc'));
  await t.throwsAsync(failed.commit({ ifMatch: '*' }), { code: 'PR412-DV-0001' });
  t.deepEqual(await readdir(dir), [], 'a 412 leaves nothing either');

  const destroyed = await store.write(CELL, 'x.zip', { contentType: 'application/zip' });
  const closed = new Promise((resolve) => destroyed.stream.once('close', resolve));
  destroyed.stream.once('error', () => undefined);
  destroyed.stream.destroy(new Error('client went away'));
  await closed;
  t.deepEqual(await readdir(dir), [], 'a destroyed stream removes its temp file');
  await t.throwsAsync(destroyed.commit());
});

test('fs: commit before the stream ended rejects and the upload can still be finished', async (t) => {
  const { store } = await makeStore(t);
  const upload = await store.write(CELL, 'late.zip', { contentType: 'application/zip' });
  await new Promise<void>((resolve, reject) => upload.stream.write('abc', (e) => (e ? reject(e) : resolve())));
  await t.throwsAsync(upload.commit(), { message: /End the upload stream/ });
  upload.stream.end('def');
  const { info } = await upload.commit();
  t.is(info.size, 6);
});

test('fs: sweep removes old temp files and unreferenced content, nothing else', async (t) => {
  const { store, dir } = await makeStore(t);
  const { info } = await put(store, CELL, 'kept.zip', 'kept');
  const key = fileKey('kept.zip');
  // What crashes leave: an upload temp, a metadata temp, content renamed but never committed.
  const crashedUpload = join(dir, '.upload-0123456789abcdef0123456789abcdef');
  const crashedMeta = join(dir, '.meta-0123456789abcdef0123456789abcdef');
  const orphan = join(dir, `${key}.ffffffffffffffffffffffffffffffff.data`);
  for (const path of [crashedUpload, crashedMeta, orphan]) await writeFile(path, 'left over');
  // A live upload of this process, made to look old.
  const live = await store.write(CELL, 'live.zip', { contentType: 'application/zip' });
  await new Promise<void>((resolve, reject) => live.stream.write('in progress', (e) => (e ? reject(e) : resolve())));
  const liveTemp = (await readdir(dir)).find((e) => e.startsWith('.upload-') && !crashedUpload.endsWith(e));
  t.truthy(liveTemp);

  t.is(await store.sweep(60_000), 0, 'everything is too young');
  for (const path of [crashedUpload, crashedMeta, orphan]) await age(path, 120_000);
  if (liveTemp !== undefined) await age(join(dir, liveTemp), 120_000);
  for (const entry of await readdir(dir)) {
    if (entry.endsWith('.data') && join(dir, entry) !== orphan) await age(join(dir, entry), 120_000);
  }
  t.is(await store.sweep(60_000), 3);
  const left = await readdir(dir);
  t.false(left.includes('.upload-0123456789abcdef0123456789abcdef'));
  t.false(left.includes('.meta-0123456789abcdef0123456789abcdef'));
  t.false(left.some((e) => join(dir, e) === orphan));
  t.true(liveTemp !== undefined && left.includes(liveTemp), 'the live upload is kept');
  t.deepEqual(await store.list(CELL), [info]);
  const stream = await store.read(CELL, 'kept.zip');
  t.is(stream === undefined ? undefined : (await collect(stream)).toString(), 'kept');
  live.stream.end();
  t.is((await live.commit()).info.size, 'in progress'.length);
  t.is(await store.sweep(0), 0);
});

test('fs: sweep removes a name lock whose holder no longer runs, and keeps a live one', async (t) => {
  const { store, dir } = await makeStore(t);
  await put(store, CELL, 'kept.zip', 'kept');
  await lockOwnedBy(join(dir, `.lock-${fileKey('dead.zip')}`), [await deadPid()]);
  await lockOwnedBy(join(dir, `.lock-${fileKey('live.zip')}`), [process.ppid]); // the test runner
  t.is(await store.sweep(60_000), 1, 'young as it is, the dead holder’s lock goes');
  const left = await readdir(dir);
  t.false(left.includes(`.lock-${fileKey('dead.zip')}`));
  t.true(left.includes(`.lock-${fileKey('live.zip')}`));
  t.is((await store.list(CELL)).length, 1);
});

test('fs: sweep on a missing root or with a bad age', async (t) => {
  const root = join(await tempDir(t), 'never-created');
  const store = new FsSnapshotStore({ root });
  t.is(await store.sweep(0), 0);
  await t.throwsAsync(store.sweep(-1), { instanceOf: TypeError });
});

test('fs: a crash between content rename and metadata write leaves the old file listed', async (t) => {
  const { store, dir } = await makeStore(t);
  const { info } = await put(store, CELL, 'c.zip', 'committed');
  // Simulate: new content renamed into place, then the process died before the metadata rename.
  const key = fileKey('c.zip');
  await writeFile(join(dir, `${key}.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.data`), 'new but never committed');
  await writeFile(join(dir, '.meta-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee'), '{"half": ');
  t.deepEqual(await store.list(CELL), [info]);
  t.deepEqual(await store.stat(CELL, 'c.zip'), info);
  const stream = await store.read(CELL, 'c.zip');
  t.is(stream === undefined ? undefined : (await collect(stream)).toString(), 'committed');
  // And the next commit works normally.
  const next = await put(store, CELL, 'c.zip', 'next', { ifMatch: info.etag });
  t.is(next.info.size, 4);
});

test('fs: concurrent commits with If-None-Match: * from two store instances: exactly one wins', async (t) => {
  const { store, root } = await makeStore(t);
  const second = new FsSnapshotStore({ root });
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => put(i % 2 ? store : second, CELL, 'race.zip', `w${i}`, { ifNoneMatch: '*' })),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.is((await store.list(CELL)).length, 1);
  t.is((await readdir(join(root, CELL))).filter((e) => e.startsWith('.')).length, 0);
});

test('fs: a stale lock left by a crashed process is broken', async (t) => {
  const root = await tempDir(t, 'kcs-snapshots-');
  const store = new FsSnapshotStore({ root, lockStaleMs: 200 });
  const lock = join(root, CELL, `.lock-${fileKey('l.zip')}`);
  await mkdir(lock, { recursive: true });
  await age(lock, 1_000);
  const { created } = await put(store, CELL, 'l.zip', 'x');
  t.true(created);
  t.deepEqual(await readdir(join(root, CELL)).then((e) => e.filter((n) => n.startsWith('.'))), []);
});

test('fs: invalid cell ids are refused before touching the disk', async (t) => {
  const { store, root } = await makeStore(t);
  for (const cellId of ['', '.', '..', '../x', 'a/b', 'a\\b', 'a\u0000b']) {
    await t.throwsAsync(store.list(cellId), { instanceOf: TypeError });
    await t.throwsAsync(store.write(cellId, 'x.zip', { contentType: 'application/zip' }), { instanceOf: TypeError });
  }
  t.deepEqual(await readdir(root), []);
});

test('fs: the root option is required and maxBytes must be a non-negative number', async (t) => {
  t.throws(() => new FsSnapshotStore({ root: '' }), { instanceOf: TypeError });
  const { store } = await makeStore(t);
  await t.throwsAsync(store.write(CELL, 'x.zip', { contentType: 'a/b', maxBytes: -1 }), { instanceOf: TypeError });
  await t.throwsAsync(store.write(CELL, 'x.zip', { contentType: 'a/b', maxBytes: Number.NaN }), {
    instanceOf: TypeError,
  });
});

test('fs: a 416 rejection carries Content-Range with the size', async (t) => {
  const { store } = await makeStore(t);
  await put(store, CELL, 'r.zip', '0123456789');
  const error = await t.throwsAsync(store.read(CELL, 'r.zip', { start: 3, end: 10 }));
  t.like(error, { code: 'PR416-DV-0001', headers: { 'Content-Range': 'bytes */10' } });
});
