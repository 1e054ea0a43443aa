/**
 * The contract-test suite every {@link SnapshotStore} must pass. Call it from a test file with a
 * factory that makes a fresh, empty store for one test (and registers its own cleanup on `t`).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExecutionContext, TestFn } from 'ava';
import { PersoniumError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ByteRange, SnapshotInfo, SnapshotStore, SnapshotUpload, WriteConditions } from '../types.js';

/** Makes a fresh, empty store for one test. */
export type MakeSnapshotStore = (t: ExecutionContext) => SnapshotStore | Promise<SnapshotStore>;

const CELL = '0123456789abcdef0123456789abcdef';
const OTHER_CELL = 'fedcba9876543210fedcba9876543210';

/** Collects a stream's bytes. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Writes `bytes` (in chunks of at most 64 KiB) into a writable and ends it. */
export async function send(stream: Writable, bytes: Buffer): Promise<void> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65_536) chunks.push(bytes.subarray(i, i + 65_536));
  await pipeline(Readable.from(chunks), stream);
}

/** Stores `bytes` under `name` and commits with `conditions`. */
export async function put(
  store: SnapshotStore,
  cellId: string,
  name: string,
  bytes: Buffer | string,
  conditions?: WriteConditions,
  contentType = 'application/zip',
): Promise<{ info: SnapshotInfo; created: boolean }> {
  const upload = await store.write(cellId, name, { contentType });
  await send(upload.stream, Buffer.from(bytes));
  return upload.commit(conditions);
}

/** Reads a whole file, failing the test when it is missing. */
async function readAll(t: ExecutionContext, store: SnapshotStore, cellId: string, name: string): Promise<Buffer> {
  const stream = await store.read(cellId, name);
  if (stream === undefined) {
    t.fail(`${name} is missing`);
    return Buffer.alloc(0);
  }
  return collect(stream);
}

/** Asserts that a promise rejects with a PersoniumError of `code`. */
async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await t.throwsAsync(promise);
  t.true(error instanceof PersoniumError, `expected a PersoniumError ${code}, got ${String(error)}`);
  if (error instanceof PersoniumError) t.is(error.code, code);
}

/** Writes some bytes into an upload without ending it. */
async function writePart(upload: SnapshotUpload, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    upload.stream.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

const INVALID_NAMES = [
  '',
  '.',
  '..',
  'a/b',
  '/',
  'a\\b',
  'a\u0000b',
  'a\nb',
  'tab\there',
  '\u007f',
  '\u0085',
  'x'.repeat(256),
  'é'.repeat(128), // 256 bytes in UTF-8
  'lone\ud800surrogate',
];

/** Registers the whole {@link SnapshotStore} contract as tests titled `snapshot store: …`. */
export function snapshotStoreContract(test: TestFn, makeStore: MakeSnapshotStore): void {
  const title = (what: string): string => `snapshot store: ${what}`;

  test(title('an empty area lists nothing, stats, reads and deletes nothing'), async (t) => {
    const store = await makeStore(t);
    t.deepEqual(await store.list(CELL), []);
    t.is(await store.stat(CELL, 'a.zip'), undefined);
    t.is(await store.read(CELL, 'a.zip'), undefined);
    t.is(await store.read(CELL, 'a.zip', { start: 0, end: 0 }), undefined);
    t.false(await store.delete(CELL, 'a.zip'));
    t.false(await store.delete(CELL, 'a.zip', { ifMatch: '*' }));
  });

  test(title('a committed upload is created, listed, stat-ed and read back exactly'), async (t) => {
    const store = await makeStore(t);
    const bytes = randomBytes(300_000);
    const before = Date.now();
    const upload = await store.write(CELL, 'backup.zip', { contentType: 'application/zip' });
    await send(upload.stream, bytes);
    const { info, created } = await upload.commit();
    const after = Date.now();
    t.true(created);
    t.is(info.name, 'backup.zip');
    t.is(info.size, bytes.length);
    t.is(info.contentType, 'application/zip');
    t.regex(info.etag, /^"[^"]+"$/, 'a strong, quoted ETag');
    t.true(info.created instanceof Date && info.modified instanceof Date);
    t.true(info.modified.getTime() >= before - 1000 && info.modified.getTime() <= after + 1000);
    t.is(info.created.getTime(), info.modified.getTime());
    t.deepEqual(await store.stat(CELL, 'backup.zip'), info);
    t.deepEqual(await store.list(CELL), [info]);
    t.true((await readAll(t, store, CELL, 'backup.zip')).equals(bytes));
  });

  test(title('an empty file and a text file keep their content type'), async (t) => {
    const store = await makeStore(t);
    const empty = await put(store, CELL, 'empty.zip', '', undefined, 'application/zip');
    t.is(empty.info.size, 0);
    t.is((await readAll(t, store, CELL, 'empty.zip')).length, 0);
    await put(store, CELL, 'x.error', '{"code":"x"}', undefined, 'application/json');
    t.is((await store.stat(CELL, 'x.error'))?.contentType, 'application/json');
    t.is((await readAll(t, store, CELL, 'x.error')).toString(), '{"code":"x"}');
  });

  test(title('list is sorted by name (code-unit order) and holds complete files only'), async (t) => {
    const store = await makeStore(t);
    for (const name of ['b.zip', 'a.zip', 'B.zip', 'c.error', '.hidden', 'a b.zip', '日本.zip', '.upload-x']) {
      await put(store, CELL, name, name);
    }
    const pending = await store.write(CELL, 'pending.zip', { contentType: 'application/zip' });
    await writePart(pending, Buffer.from('partial'));
    const ended = await store.write(CELL, 'ended.zip', { contentType: 'application/zip' });
    await send(ended.stream, Buffer.from('ended but not committed'));
    const names = (await store.list(CELL)).map((info) => info.name);
    t.deepEqual(names, ['.hidden', '.upload-x', 'B.zip', 'a b.zip', 'a.zip', 'b.zip', 'c.error', '日本.zip']);
    for (const name of ['pending.zip', 'ended.zip']) {
      t.is(await store.stat(CELL, name), undefined, `${name} is invisible`);
      t.is(await store.read(CELL, name), undefined);
      t.false(await store.delete(CELL, name));
    }
    for (const name of names) t.is((await readAll(t, store, CELL, name)).toString(), name);
    await pending.abort();
    await ended.abort();
    t.deepEqual(
      (await store.list(CELL)).map((info) => info.name),
      names,
    );
  });

  test(title('areas of different cells are separate'), async (t) => {
    const store = await makeStore(t);
    await put(store, CELL, 'same.zip', 'one');
    await put(store, OTHER_CELL, 'same.zip', 'two');
    t.is((await readAll(t, store, CELL, 'same.zip')).toString(), 'one');
    t.is((await readAll(t, store, OTHER_CELL, 'same.zip')).toString(), 'two');
    t.true(await store.delete(OTHER_CELL, 'same.zip'));
    t.is((await store.list(OTHER_CELL)).length, 0);
    t.is((await store.list(CELL)).length, 1);
  });

  test(title('names differing only in case are different files'), async (t) => {
    const store = await makeStore(t);
    await put(store, CELL, 'Backup.zip', 'upper');
    const lower = await put(store, CELL, 'backup.zip', 'lower');
    t.true(lower.created);
    t.is((await readAll(t, store, CELL, 'Backup.zip')).toString(), 'upper');
    t.is((await readAll(t, store, CELL, 'backup.zip')).toString(), 'lower');
  });

  test(title('ranged reads return exactly the inclusive range'), async (t) => {
    const store = await makeStore(t);
    const bytes = randomBytes(200_000);
    await put(store, CELL, 'r.zip', bytes);
    const ranges: Array<[number, number]> = [
      [0, 0],
      [0, bytes.length - 1],
      [1, 1],
      [17, 65_553],
      [65_536, 131_071],
      [bytes.length - 1, bytes.length - 1],
      [bytes.length - 22, bytes.length - 1],
    ];
    for (const [start, end] of ranges) {
      const stream = await store.read(CELL, 'r.zip', { start, end });
      if (stream === undefined) {
        t.fail('missing');
        continue;
      }
      t.true((await collect(stream)).equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
  });

  test(title('a range past the end, or reversed, rejects with PR416-DV-0001'), async (t) => {
    const store = await makeStore(t);
    await put(store, CELL, 'r.zip', '0123456789');
    const rejects416 = async (name: string, range: ByteRange): Promise<void> => {
      const error = await t.throwsAsync(store.read(CELL, name, range), undefined, `${name} ${range.start}-${range.end}`);
      t.is((error as { code?: unknown } | undefined)?.code, 'PR416-DV-0001', `${name} ${range.start}-${range.end}`);
    };
    await rejects416('r.zip', { start: 0, end: 10 });
    await rejects416('r.zip', { start: 10, end: 12 });
    await rejects416('r.zip', { start: 5, end: 4 });
    await rejects416('r.zip', { start: -1, end: 4 });
    await put(store, CELL, 'empty.zip', '');
    await rejects416('empty.zip', { start: 0, end: 0 });
    // The store is still fine afterwards.
    t.is((await readAll(t, store, CELL, 'r.zip')).toString(), '0123456789');
  });

  test(title('replacing keeps the created time, changes the ETag and the content'), async (t) => {
    const store = await makeStore(t);
    const first = await put(store, CELL, 'f.zip', 'version one', undefined, 'application/zip');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await put(store, CELL, 'f.zip', 'version two, longer', undefined, 'application/octet-stream');
    t.false(second.created);
    t.not(second.info.etag, first.info.etag);
    t.is(second.info.created.getTime(), first.info.created.getTime());
    t.true(second.info.modified.getTime() >= first.info.modified.getTime());
    t.is(second.info.size, 'version two, longer'.length);
    t.is(second.info.contentType, 'application/octet-stream');
    t.deepEqual(await store.list(CELL), [second.info]);
    t.is((await readAll(t, store, CELL, 'f.zip')).toString(), 'version two, longer');
    // Immediately again: still a new ETag.
    const third = await put(store, CELL, 'f.zip', 'version two, longer');
    t.not(third.info.etag, second.info.etag);
  });

  test(title('a delete and re-create gives a new ETag and a new created time'), async (t) => {
    const store = await makeStore(t);
    const first = await put(store, CELL, 'd.zip', 'a');
    t.true(await store.delete(CELL, 'd.zip'));
    const again = await put(store, CELL, 'd.zip', 'a');
    t.true(again.created);
    t.not(again.info.etag, first.info.etag);
    t.true(again.info.created.getTime() >= first.info.created.getTime());
  });

  test(title('If-Match: the current ETag (also in W/ form, as Personium) or * passes, anything else is 412 and the old file stays'), async (t) => {
    const store = await makeStore(t);
    const { info } = await put(store, CELL, 'm.zip', 'old');
    await rejectsWith(t, put(store, CELL, 'm.zip', 'new', { ifMatch: '"nope"' }), 'PR412-DV-0001');
    t.deepEqual(await store.stat(CELL, 'm.zip'), info);
    t.is((await readAll(t, store, CELL, 'm.zip')).toString(), 'old');
    const weak = await put(store, CELL, 'm.zip', 'weak', { ifMatch: `W/${info.etag}` });
    t.false(weak.created);
    const replaced = await put(store, CELL, 'm.zip', 'new', { ifMatch: weak.info.etag });
    t.false(replaced.created);
    await rejectsWith(t, put(store, CELL, 'm.zip', 'newer', { ifMatch: info.etag }), 'PR412-DV-0001');
    const listed = await put(store, CELL, 'm.zip', 'newer', { ifMatch: `"other", ${replaced.info.etag}` });
    t.false(listed.created);
    const star = await put(store, CELL, 'm.zip', 'newest', { ifMatch: '*' });
    t.false(star.created);
    t.is((await readAll(t, store, CELL, 'm.zip')).toString(), 'newest');
    t.deepEqual(
      (await store.list(CELL)).map((i) => i.name),
      ['m.zip'],
    );
  });

  test(title('If-Match on a missing file is 412 and nothing is created'), async (t) => {
    const store = await makeStore(t);
    await rejectsWith(t, put(store, CELL, 'none.zip', 'x', { ifMatch: '*' }), 'PR412-DV-0001');
    await rejectsWith(t, put(store, CELL, 'none.zip', 'x', { ifMatch: '"1-1"' }), 'PR412-DV-0001');
    t.is(await store.stat(CELL, 'none.zip'), undefined);
    t.deepEqual(await store.list(CELL), []);
  });

  test(title('If-None-Match: * creates only a new name; on an existing one it is 412'), async (t) => {
    const store = await makeStore(t);
    const created = await put(store, CELL, 'n.zip', 'first', { ifNoneMatch: '*' });
    t.true(created.created);
    await rejectsWith(t, put(store, CELL, 'n.zip', 'second', { ifNoneMatch: '*' }), 'PR412-DV-0001');
    await rejectsWith(t, put(store, CELL, 'n.zip', 'second', { ifNoneMatch: created.info.etag }), 'PR412-DV-0001');
    t.deepEqual(await store.stat(CELL, 'n.zip'), created.info);
    t.is((await readAll(t, store, CELL, 'n.zip')).toString(), 'first');
    const other = await put(store, CELL, 'n.zip', 'third', { ifNoneMatch: '"something-else"' });
    t.false(other.created);
  });

  test(title('a failed condition discards the upload'), async (t) => {
    const store = await makeStore(t);
    await put(store, CELL, 'c.zip', 'old');
    const upload = await store.write(CELL, 'c.zip', { contentType: 'application/zip' });
    await send(upload.stream, Buffer.from('new'));
    await rejectsWith(t, upload.commit({ ifNoneMatch: '*' }), 'PR412-DV-0001');
    await t.throwsAsync(upload.commit());
    await upload.abort();
    t.is((await readAll(t, store, CELL, 'c.zip')).toString(), 'old');
  });

  test(title('maxBytes: over the limit the stream errors with 413 and nothing is kept'), async (t) => {
    const store = await makeStore(t);
    const upload = await store.write(CELL, 'big.zip', { contentType: 'application/zip', maxBytes: 100_000 });
    const error = await t.throwsAsync(send(upload.stream, randomBytes(100_001)));
    t.true(error instanceof PersoniumError);
    if (error instanceof PersoniumError) {
      t.is(error.code, 'PR413-SN-0001');
      t.is(error.status, 413);
      t.true(error.message.includes('100000'));
    }
    await t.throwsAsync(upload.commit());
    await upload.abort();
    t.is(await store.stat(CELL, 'big.zip'), undefined);
    t.deepEqual(await store.list(CELL), []);
  });

  test(title('maxBytes: exactly the limit is accepted'), async (t) => {
    const store = await makeStore(t);
    const bytes = randomBytes(100_000);
    const upload = await store.write(CELL, 'edge.zip', { contentType: 'application/zip', maxBytes: 100_000 });
    await send(upload.stream, bytes);
    const { info } = await upload.commit();
    t.is(info.size, 100_000);
    t.true((await readAll(t, store, CELL, 'edge.zip')).equals(bytes));
  });

  test(title('maxBytes: a replacement over the limit leaves the previous file intact'), async (t) => {
    const store = await makeStore(t);
    const { info } = await put(store, CELL, 'keep.zip', 'previous');
    const upload = await store.write(CELL, 'keep.zip', { contentType: 'application/zip', maxBytes: 10 });
    await rejectsWith(t, send(upload.stream, Buffer.from('far too many bytes')), 'PR413-SN-0001');
    await upload.abort();
    t.deepEqual(await store.stat(CELL, 'keep.zip'), info);
    t.is((await readAll(t, store, CELL, 'keep.zip')).toString(), 'previous');
  });

  test(title('abort keeps the previous version and may be called again'), async (t) => {
    const store = await makeStore(t);
    const { info } = await put(store, CELL, 'a.zip', 'previous');
    const half = await store.write(CELL, 'a.zip', { contentType: 'application/zip' });
    await writePart(half, Buffer.from('half of a new'));
    await half.abort();
    await half.abort();
    const whole = await store.write(CELL, 'a.zip', { contentType: 'application/zip' });
    await send(whole.stream, Buffer.from('a whole new version'));
    await whole.abort();
    await whole.abort();
    await t.throwsAsync(whole.commit());
    t.deepEqual(await store.stat(CELL, 'a.zip'), info);
    t.is((await readAll(t, store, CELL, 'a.zip')).toString(), 'previous');
    const fresh = await store.write(CELL, 'fresh.zip', { contentType: 'application/zip' });
    await writePart(fresh, Buffer.from('x'));
    await fresh.abort();
    t.is(await store.stat(CELL, 'fresh.zip'), undefined);
    t.deepEqual(
      (await store.list(CELL)).map((i) => i.name),
      ['a.zip'],
    );
  });

  test(title('abort after commit changes nothing'), async (t) => {
    const store = await makeStore(t);
    const upload = await store.write(CELL, 'kept.zip', { contentType: 'application/zip' });
    await send(upload.stream, Buffer.from('kept'));
    const { info } = await upload.commit();
    await upload.abort();
    t.deepEqual(await store.stat(CELL, 'kept.zip'), info);
  });

  test(title('a reader that opened the old version reads the old bytes entirely'), async (t) => {
    const store = await makeStore(t);
    const old = randomBytes(500_000);
    await put(store, CELL, 'v.zip', old);
    const stream = await store.read(CELL, 'v.zip');
    await put(store, CELL, 'v.zip', randomBytes(400_000));
    if (stream === undefined) {
      t.fail('missing');
      return;
    }
    t.true((await collect(stream)).equals(old));
    t.is((await readAll(t, store, CELL, 'v.zip')).length, 400_000);
  });

  test(title('delete: true, then false; If-Match checked'), async (t) => {
    const store = await makeStore(t);
    const { info } = await put(store, CELL, 'del.zip', 'bytes');
    await rejectsWith(t, store.delete(CELL, 'del.zip', { ifMatch: '"wrong"' }), 'PR412-DV-0001');
    await rejectsWith(t, store.delete(CELL, 'del.zip', { ifNoneMatch: '*' }), 'PR412-DV-0001');
    t.deepEqual(await store.stat(CELL, 'del.zip'), info);
    t.is((await readAll(t, store, CELL, 'del.zip')).toString(), 'bytes');
    t.true(await store.delete(CELL, 'del.zip', { ifMatch: info.etag }));
    t.is(await store.stat(CELL, 'del.zip'), undefined);
    t.is(await store.read(CELL, 'del.zip'), undefined);
    t.deepEqual(await store.list(CELL), []);
    t.false(await store.delete(CELL, 'del.zip'));
    await put(store, CELL, 'plain.zip', 'x');
    t.true(await store.delete(CELL, 'plain.zip'));
    t.false(await store.delete(CELL, 'plain.zip'));
  });

  test(title('concurrent commits with If-None-Match: * on one name: exactly one wins'), async (t) => {
    const store = await makeStore(t);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => put(store, CELL, 'race.zip', `writer ${i}`, { ifNoneMatch: '*' })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    t.is(won.length, 1);
    for (const r of results) {
      if (r.status === 'rejected') t.is((r.reason as PersoniumError).code, 'PR412-DV-0001');
    }
    const winner = won[0];
    if (winner?.status === 'fulfilled') {
      t.deepEqual(await store.list(CELL), [winner.value.info]);
      t.regex((await readAll(t, store, CELL, 'race.zip')).toString(), /^writer \d$/);
    }
  });

  test(title('names are validated: PR400-SN-0001 for every operation'), async (t) => {
    const store = await makeStore(t);
    for (const name of INVALID_NAMES) {
      await rejectsWith(t, store.write(CELL, name, { contentType: 'application/zip' }), 'PR400-SN-0001');
      await rejectsWith(t, store.stat(CELL, name), 'PR400-SN-0001');
      await rejectsWith(t, store.read(CELL, name), 'PR400-SN-0001');
      await rejectsWith(t, store.delete(CELL, name), 'PR400-SN-0001');
    }
    t.deepEqual(await store.list(CELL), []);
  });

  test(title('valid edge names: 255 bytes, non-ASCII, spaces, leading dot'), async (t) => {
    const store = await makeStore(t);
    const names = ['x'.repeat(255), 'é'.repeat(127) + 'x', 'with space.zip', '...', '.zip', 'a..b', '~'];
    for (const name of names) await put(store, CELL, name, name);
    t.deepEqual(
      (await store.list(CELL)).map((i) => i.name),
      [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    for (const name of names) t.is((await readAll(t, store, CELL, name)).toString(), name);
  });
}
