/**
 * The snapshot writer: layout and bytes exactly as the export_version 2 layout, archives that independent readers
 * accept (yauzl, Info-ZIP unzip, Python's zipfile), the integrity list, the stored-or-deflated choice,
 * abort, progress, failures, and ZIP64 (forced, by entry count, and by a file over 4 GiB).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import test from 'ava';
import { ODATA_FILES, manifestJson, recordJson } from '../../lib/snapshot/format.js';
import { fileSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import { writeSnapshot, type WriteProgress } from '../../lib/snapshot/writer.js';
import type { DavContent, ExportView, ODataType } from '../../lib/types.js';
import { tempDir } from '../helpers/tmp.js';
import { unlessHung, waitFor } from '../helpers/wait.js';
import { davOrder, generatedContent, memoryView, record, sampleData, type DavData } from '../helpers/view.js';
import { centralEntries, drain, entryBytes, pyTestzip, run, writeToFile } from './zip-tools.js';
import { needing } from '../helpers/tools.js';

const unzipTest = needing(test, 'unzip');
const checkersTest = needing(test, 'unzip', 'python3');

const UNIT = 'https://unit.example/';
const CREATED = 1669806000000;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
/** A content the view holds in memory: opening it fails the write. */
const held = (bytes: Buffer): DavContent => ({
  size: bytes.length,
  bytes,
  open: () => Promise.reject(new Error('a held content was opened')),
});

/** The entry names the writer must produce for some data, in order. */
function expectedNames(dav: readonly DavData[]): string[] {
  const names = ['00_manifest.json', '10_odata/00_cell.json', ...ODATA_FILES.map((f) => f.path)];
  for (const node of [...dav].sort((a, b) => davOrder(a.path, b.path))) {
    const folder = node.path === '' ? '20_webdav/' : `20_webdav/${node.path}/`;
    names.push(`${folder}.pmeta`);
    if (node.content !== undefined) names.push(`${folder}content`);
  }
  names.push('99_integrity.json');
  return names;
}

async function contentBytes(content: DavData['content']): Promise<Buffer | undefined> {
  if (content === undefined) return undefined;
  if (Buffer.isBuffer(content)) return content;
  if (typeof content === 'string') return Buffer.from(content);
  return drain(await content.open());
}

test('layout: entry order, exact bytes, line endings and the integrity list (export_version 2)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  const data = sampleData();
  const view = memoryView(data);
  await writeToFile(view, file);
  const central = await centralEntries(file);
  const names = central.map((e) => e.name);
  t.deepEqual(names, expectedNames(data.dav ?? []));
  t.true(central.every((e) => (e.flags & 0x800) !== 0), 'UTF-8 names');
  t.true(
    central.every((e) => e.extraFieldIds.includes(0x5455)),
    'every entry has an extended timestamp',
  );

  const bytes = await entryBytes(file);
  const manifest = bytes.get('00_manifest.json') as Buffer;
  t.is(manifest.toString(), manifestJson(UNIT, CREATED));
  t.not(manifest.at(-1), 0x0a, 'no trailing newline on the manifest');
  t.deepEqual(JSON.parse(manifest.toString()), { export_version: 2, unit_url: UNIT, create_date: CREATED });
  const cell = bytes.get('10_odata/00_cell.json') as Buffer;
  t.is(cell.toString(), recordJson(await view.cellRecord()));
  t.not(cell.at(-1), 0x0a, 'no trailing newline on the cell record');
  for (const file16 of ODATA_FILES) {
    const records = data.records?.[file16.type] ?? [];
    const text = (bytes.get(file16.path) as Buffer).toString();
    t.is(text, records.map((r) => `${recordJson(r)}\n`).join(''), file16.path);
    if (records.length === 0) t.is(text, '', `${file16.path} is empty`);
    else t.true(text.endsWith('\n'));
  }
  for (const node of data.dav ?? []) {
    const folder = node.path === '' ? '20_webdav/' : `20_webdav/${node.path}/`;
    t.is((bytes.get(`${folder}.pmeta`) as Buffer).toString(), JSON.stringify(node.meta));
    const expected = await contentBytes(node.content);
    if (expected !== undefined) t.true((bytes.get(`${folder}content`) as Buffer).equals(expected), `${folder}content`);
  }

  const integrity = JSON.parse((bytes.get('99_integrity.json') as Buffer).toString()) as {
    algorithm: string;
    entries: { path: string; size: number; sha256: string }[];
  };
  t.is(integrity.algorithm, 'sha256');
  t.deepEqual(
    integrity.entries.map((e) => e.path),
    names.slice(0, -1),
    'every other entry, in order',
  );
  for (const entry of integrity.entries) {
    const entryData = bytes.get(entry.path) as Buffer;
    t.is(entry.size, entryData.length, entry.path);
    t.is(entry.sha256, sha256(entryData), entry.path);
  }
  t.is(view.opened, (data.dav ?? []).filter((n) => n.content !== undefined).length, 'every content opened once');
  t.is(view.closeCount, 0, 'the writer does not close the view');
});

checkersTest('Info-ZIP unzip -t and Python zipfile testzip() accept the archive', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const unzip = await run('unzip', ['-t', file]);
  t.is(unzip.code, 0, unzip.stdout + unzip.stderr);
  t.regex(unzip.stdout, /No errors detected/);
  t.is(await pyTestzip(file), null);
});

unzipTest('an empty cell: manifest, cell record and 16 empty .pjson files, nothing else but the integrity list', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'empty.zip');
  await writeToFile(memoryView({}), file);
  const central = await centralEntries(file);
  t.deepEqual(central.map((e) => e.name), expectedNames([]));
  for (const f of ODATA_FILES) t.is(central.find((e) => e.name === f.path)?.uncompressedSize, 0);
  t.is((await run('unzip', ['-t', file])).code, 0);
});

unzipTest('stored or deflated: by content type, else by a trial deflate of the head', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mix.zip');
  const f = (name: string, ct: string | undefined, content: DavData['content']): DavData => ({
    path: `__/${name}`,
    meta: ct === undefined ? { t: 'dav.file' } : { t: 'dav.file', ct },
    ...(content === undefined ? {} : { content }),
  });
  const dav: DavData[] = [
    { path: '', meta: { t: 'Cell' } },
    { path: '__', meta: { t: 'col.box' } },
    f('small.jpg', 'image/jpeg', generatedContent(10_000, 'text')),
    f('large.jpg', 'image/jpeg', generatedContent(300_000, 'text')),
    f('movie.mp4', 'video/mp4', generatedContent(200_000, 'text')),
    f('song.mp3', 'audio/mpeg', generatedContent(100_000, 'zero')),
    f('archive.zip', 'application/zip', generatedContent(70_000, 'text')),
    f('small.txt', 'text/plain', generatedContent(5_000, 'text')),
    f('large.txt', 'text/plain', generatedContent(500_000, 'text')),
    f('noise-small.bin', 'application/octet-stream', generatedContent(20_000, 'random')),
    f('noise-large.bin', 'application/octet-stream', generatedContent(400_000, 'random')),
    f('text.bin', 'application/octet-stream', generatedContent(200_000, 'text')),
    f('untyped.dat', undefined, generatedContent(100_000, 'text')),
    f('empty.txt', 'text/plain', Buffer.alloc(0)),
    f('held.txt', 'text/plain', held(Buffer.alloc(3_000, 'line of text\n'))),
    f('held-noise.bin', undefined, held(randomBytes(3_000))),
    // Under 64 bytes: stored without a trial, however well it would deflate.
    f('tiny.txt', 'text/plain', held(Buffer.alloc(63, 'a'))),
    f('tiny-opened.txt', 'text/plain', Buffer.alloc(63, 'a')),
    f('just-enough.txt', 'text/plain', held(Buffer.alloc(64, 'a'))),
    // Deflate saves about 2.5% of it: under the 5% rule, so it is stored.
    f('barely.bin', undefined, held(Buffer.concat([randomBytes(3_900), Buffer.alloc(100)]))),
    f('barely-opened.bin', undefined, Buffer.concat([randomBytes(3_900), Buffer.alloc(100)])),
  ];
  await writeToFile(memoryView({ dav }), file);
  const methods = new Map((await centralEntries(file)).map((e) => [e.name, e.method]));
  const method = (name: string): string => (methods.get(`20_webdav/__/${name}/content`) === 8 ? 'deflated' : 'stored');
  t.deepEqual(
    Object.fromEntries(dav.slice(2).map((n) => [n.path.slice(3), method(n.path.slice(3))])),
    {
      'small.jpg': 'stored',
      'large.jpg': 'stored',
      'movie.mp4': 'stored',
      'song.mp3': 'stored',
      'archive.zip': 'stored',
      'small.txt': 'deflated',
      'large.txt': 'deflated',
      'noise-small.bin': 'stored',
      'noise-large.bin': 'stored',
      'text.bin': 'deflated',
      'untyped.dat': 'deflated',
      'empty.txt': 'stored',
      'held.txt': 'deflated',
      'held-noise.bin': 'stored',
      'tiny.txt': 'stored',
      'tiny-opened.txt': 'stored',
      'just-enough.txt': 'deflated',
      'barely.bin': 'stored',
      'barely-opened.bin': 'stored',
    },
  );
  for (const f16 of ODATA_FILES) t.is(methods.get(f16.path), 8, `${f16.path} deflated`);
  t.is(methods.get('99_integrity.json'), 8);
  t.is((await run('unzip', ['-t', file])).code, 0);
  const report = await verifySnapshot(await fileSource(file));
  t.true(report.ok, JSON.stringify(report.error));
});

test('content the view holds in memory is written from its bytes, never opened, and must match its size', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'held.zip');
  const bytes = Buffer.from('held in memory\n');
  await writeToFile(memoryView({ dav: [{ path: '', meta: {} }, { path: 'a.txt', meta: {}, content: held(bytes) }] }), file);
  const entries = await entryBytes(file);
  t.deepEqual(entries.get('20_webdav/a.txt/content'), bytes);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const lying = memoryView({ dav: [{ path: 'a', meta: {}, content: { ...held(bytes), size: bytes.length + 1 } }] });
  await t.throwsAsync(writeSnapshot(lying, sink, { unitUrl: UNIT }), { message: /has 15 bytes, not its declared 16/ });
});

/** A view whose one file is endless (as far as the test goes), with a handle on the stream. */
function endlessView(kind: 'random' | 'zero' = 'random'): { view: ExportView; stream: () => Readable | undefined } {
  let opened: Readable | undefined;
  const endless: DavContent = {
    size: 2 ** 40,
    open: async () => {
      opened = await generatedContent(2 ** 40, kind).open();
      return opened;
    },
  };
  const view = memoryView({ dav: [{ path: '', meta: { t: 'Cell' } }, { path: 'huge.bin', meta: { t: 'dav.file' }, content: endless }] });
  return { view, stream: () => opened };
}

test('abort stops a running write: rejects with the reason, destroys the content stream, leaves out alone', async (t) => {
  const dir = await tempDir(t);
  const out = createWriteStream(join(dir, 'aborted.zip'));
  const { view, stream } = endlessView();
  const controller = new AbortController();
  let progressed = 0;
  const writing = writeSnapshot(view, out, {
    unitUrl: UNIT,
    signal: controller.signal,
    progressIntervalMs: 50,
    onProgress: (p) => {
      progressed = p.bytes;
    },
  });
  await waitFor(async () => progressed > 0);
  const reason = new Error('cancelled by the test');
  controller.abort(reason);
  const error = await t.throwsAsync(unlessHung(writing, 'the aborted write'));
  t.is(error, reason);
  t.true(stream()?.destroyed, 'the content stream was destroyed');
  t.false(out.destroyed, 'out is not destroyed');
  t.false(out.writableEnded, 'out is not ended');
  out.destroy();
});

test('abort stops a write whose view hangs', async (t) => {
  const dir = await tempDir(t);
  const out = createWriteStream(join(dir, 'hang.zip'));
  const base = memoryView({});
  const view: ExportView = {
    ...base,
    totals: base.totals,
    cellRecord: () => base.cellRecord(),
    records: (type: ODataType) =>
      type === 'Role'
        ? {
            [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<never>>(() => undefined) }),
          }
        : base.records(type),
    dav: () => base.dav(),
    close: () => base.close(),
  };
  const controller = new AbortController();
  const writing = writeSnapshot(view, out, { unitUrl: UNIT, signal: controller.signal });
  await new Promise((resolve) => setTimeout(resolve, 200));
  controller.abort(new Error('stop'));
  await t.throwsAsync(unlessHung(writing, 'the aborted write'), { message: 'stop' });
  out.destroy();
});

test('an already aborted signal rejects at once, writing nothing', async (t) => {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const controller = new AbortController();
  controller.abort(new Error('too late'));
  await t.throwsAsync(writeSnapshot(memoryView(sampleData()), out, { unitUrl: UNIT, signal: controller.signal }), { message: 'too late' });
  t.is(chunks.length, 0);
});

test('progress: reported while work advances, never decreasing, final = totals', async (t) => {
  const data: DavData[] = [{ path: '', meta: { t: 'Cell' } }];
  for (let i = 0; i < 20; i += 1) {
    data.push({ path: `f${i}.bin`, meta: { t: 'dav.file', ct: 'application/octet-stream' }, content: generatedContent(1_000_000, 'random', i) });
  }
  const view = memoryView({ records: { UserData: Array.from({ length: 1000 }, (_, i) => record('UserData', `u${i}`)) }, dav: data });
  // A slow destination: every chunk waits on a timer (about two seconds in all, longer on a loaded
  // machine), so the 50 ms progress timer fires many times while the write runs.
  const out = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _e, cb) {
      setTimeout(cb, Math.ceil(chunk.length / 10_000));
    },
  });
  const reports: WriteProgress[] = [];
  const onProgress = (progress: WriteProgress): void => void reports.push(progress);
  await unlessHung(writeSnapshot(view, out, { unitUrl: UNIT, progressIntervalMs: 50, onProgress }), 'the slow write');
  const totals = await view.totals;
  t.true(reports.filter((report) => report.bytes < totals.bytes).length >= 3, 'reports while the write was under way');
  let previous: WriteProgress = { records: 0, davNodes: 0, bytes: 0 };
  for (const report of reports) {
    t.true(report.records >= previous.records);
    t.true(report.davNodes >= previous.davNodes);
    t.true(report.bytes >= previous.bytes);
    previous = report;
  }
  t.deepEqual(reports.at(-1), { ...totals });
});

test("a view's recordLines are copied into the .pjson entries as they are, each line counted as a record", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  const roles = Array.from({ length: 300 }, (_, i) => recordJson(record('Role', `r${i}`, { s: { Name: `é${i}` }, c: 'x' })));
  // Pieces of whole lines, of any size.
  const pieces = [roles.slice(0, 1), roles.slice(1, 250), roles.slice(250)].map((lines) => Buffer.from(lines.map((line) => `${line}\n`).join('')));
  const base = memoryView({ records: {}, dav: [{ path: '', meta: { t: 'Cell' } }] });
  const view: ExportView = {
    ...base,
    totals: { records: roles.length, davNodes: 1, bytes: 0 },
    records: () => {
      throw new Error('records() was called though recordLines is there');
    },
    async *recordLines(type: ODataType) {
      if (type === 'Role') yield* pieces;
    },
  };
  const reports: WriteProgress[] = [];
  await writeToFile(view, file, { onProgress: (progress) => void reports.push(progress) });
  const entries = await entryBytes(file);
  t.deepEqual(entries.get('10_odata/20_role.pjson'), Buffer.concat(pieces));
  t.is(entries.get('10_odata/10_box.pjson')?.length, 0);
  t.deepEqual(reports.at(-1), { records: 300, davNodes: 1, bytes: 0 });
  t.true((await verifySnapshot(await fileSource(file))).ok);
});

test('recordLines text that does not end with a whole line fails the write', async (t) => {
  const view: ExportView = {
    ...memoryView({ records: {}, dav: [{ path: '', meta: { t: 'Cell' } }] }),
    async *recordLines(type: ODataType) {
      if (type === 'Role') yield Buffer.from(`${recordJson(record('Role', 'a'))}\n${recordJson(record('Role', 'b'))}`);
    },
  };
  await t.throwsAsync(writeToFile(view, join(await tempDir(t), 'cut.zip')), { message: 'the export view gave .pjson text that does not end with a whole line' });
});

test('the same records give the same snapshot, bytes for bytes, through recordLines or records', async (t) => {
  const dir = await tempDir(t);
  const data = sampleData();
  const plain = memoryView(data);
  const withLines: ExportView = {
    ...memoryView(data),
    async *recordLines(type: ODataType) {
      const lines = (data.records?.[type] ?? []).map((r) => `${recordJson(r)}\n`).join('');
      if (lines !== '') yield Buffer.from(lines);
    },
  };
  await writeToFile(plain, join(dir, 'records.zip'));
  await writeToFile(withLines, join(dir, 'lines.zip'));
  t.deepEqual(await readFile(join(dir, 'lines.zip')), await readFile(join(dir, 'records.zip')));
});

test('an error of the destination rejects the write with it', async (t) => {
  let written = 0;
  const failure = new Error('disk full');
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      written += chunk.length;
      cb(written > 300_000 ? failure : null);
    },
  });
  out.on('error', () => undefined);
  const view = memoryView({ dav: [{ path: 'a', meta: {}, content: generatedContent(5_000_000, 'random') }] });
  const error = await t.throwsAsync(writeSnapshot(view, out, { unitUrl: UNIT }));
  t.is(error, failure);
});

test('content longer or shorter than its declared size fails the write', async (t) => {
  const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
  const lying = (declared: number, actual: number): ExportView =>
    memoryView({
      dav: [{ path: 'a', meta: {}, content: { size: declared, open: () => generatedContent(actual, 'text').open() } }],
    });
  await t.throwsAsync(writeSnapshot(lying(100, 120), sink(), { unitUrl: UNIT }), { message: /longer than its declared 100/ });
  await t.throwsAsync(writeSnapshot(lying(100, 90), sink(), { unitUrl: UNIT }), { message: /has 90 bytes, not its declared 100/ });
  await t.throwsAsync(writeSnapshot(lying(200_000, 300_000), sink(), { unitUrl: UNIT }), { message: /longer than its declared 200000/ });
  await t.throwsAsync(writeSnapshot(lying(200_000, 150_000), sink(), { unitUrl: UNIT }), { message: /has 150000 bytes, not its declared 200000/ });
});

test('an invalid WebDAV path fails the write', async (t) => {
  for (const path of ['a/../b', 'a//b', 'a\\b', 'a/.pmeta', '/a', 'a/']) {
    const view = memoryView({ dav: [{ path, meta: {} }] });
    await t.throwsAsync(writeSnapshot(view, new Writable({ write: (_c, _e, cb) => cb() }), { unitUrl: UNIT }), { message: /invalid WebDAV path/ }, path);
  }
});

checkersTest.serial('ZIP64 forced: unzip -t, Python and the reader accept it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'zip64.zip');
  await writeToFile(memoryView(sampleData()), file, { forceZip64: true });
  const central = await centralEntries(file);
  t.true(central.every((e) => e.extraFieldIds.includes(0x0001) && e.versionNeeded === 45), 'ZIP64 extra field everywhere');
  const unzip = await run('unzip', ['-t', file]);
  t.is(unzip.code, 0, unzip.stdout + unzip.stderr);
  t.is(await pyTestzip(file), null);
  const report = await verifySnapshot(await fileSource(file));
  t.true(report.ok, JSON.stringify(report.error));
  t.is(report.davNodes, sampleData().dav?.length ?? 0);
});
