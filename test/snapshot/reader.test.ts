/**
 * The snapshot reader: round trips with the writer, archives from other zip writers (Info-ZIP zip
 * with and without directory entries, Java's zip file system as Personium uses it, Python's
 * zipfile), the block-cached central directory, every refusal of openSnapshot, integrity checks
 * while reading (CRC-32, size, SHA-256), record lines, the WebDAV tree, abort and close.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { isPersoniumError } from '../../lib/errors.js';
import { ODATA_FILES, ODATA_TYPES, REQUIRED_PATHS, manifestJson, recordJson } from '../../lib/snapshot/format.js';
import { compareDavPaths } from '../../lib/snapshot/central-directory.js';
import { DEFAULT_READER_LIMITS, openSnapshot, type OpenSnapshotOptions, type SnapshotReader } from '../../lib/snapshot/reader.js';
import { fileSource, storeSource, type RandomAccessSource } from '../../lib/snapshot/source.js';
import type { ByteRange, DavMeta, ODataRecord, ODataType } from '../../lib/types.js';
import { BOMB_MIB, baseEntries, zeroBomb } from '../../fixtures/hostile/generate.js';
import { writeZip } from '../../fixtures/hostile/zip-bytes.js';
import { tempDir } from '../helpers/tmp.js';
import { needing } from '../helpers/tools.js';
import { cellRecord, davOrder, generatedContent, memoryView, record, sampleData, type DavData, type ViewData } from '../helpers/view.js';
import { centralEntries, dataOffset, drain, flipByte, patchCentral, craftEntriesOf, craftZip, run, writeToFile, type CraftEntry } from './zip-tools.js';

const JAVA_WRITER = fileURLToPath(new URL('fixtures/ZipFsWriter.java', import.meta.url));
const zipTest = needing(test, 'zip', 'unzip');
const javaTest = needing(test, 'java', 'unzip');

/** Everything a reader yields, contents read whole. */
interface ReadBack {
  cell: ODataRecord;
  records: Record<string, ODataRecord[]>;
  dav: { path: string; meta: DavMeta; content: Buffer | undefined }[];
}

async function readBack(reader: SnapshotReader): Promise<ReadBack> {
  const cell = await reader.cellRecord();
  const records: Record<string, ODataRecord[]> = {};
  for (const type of ODATA_TYPES) {
    records[type] = [];
    for await (const r of reader.records(type)) records[type].push(r);
  }
  const dav: ReadBack['dav'] = [];
  for await (const node of reader.dav()) {
    dav.push({ path: node.path, meta: node.meta, content: node.content === undefined ? undefined : await drain(node.content) });
  }
  return { cell, records, dav };
}

/** What reading the data back must give. */
async function expected(data: ViewData): Promise<ReadBack> {
  const records: Record<string, ODataRecord[]> = {};
  for (const type of ODATA_TYPES) records[type] = [...(data.records?.[type] ?? [])];
  const dav: ReadBack['dav'] = [];
  for (const node of [...(data.dav ?? [])].sort((a, b) => davOrder(a.path, b.path))) {
    let content: Buffer | undefined;
    if (Buffer.isBuffer(node.content)) content = node.content;
    else if (typeof node.content === 'string') content = Buffer.from(node.content);
    else if (node.content !== undefined) content = await drain(await node.content.open());
    dav.push({ path: node.path, meta: node.meta, content });
  }
  return { cell: data.cell ?? cellRecord(), records, dav };
}

async function open(file: string, options?: OpenSnapshotOptions): Promise<SnapshotReader> {
  return openSnapshot(await fileSource(file), options);
}

/** Opens and reads everything, closing the reader. */
async function readFile_(file: string, options?: OpenSnapshotOptions): Promise<ReadBack & { hasIntegrity: boolean }> {
  const reader = await open(file, options);
  try {
    return { ...(await readBack(reader)), hasIntegrity: reader.hasIntegrity };
  } finally {
    await reader.close();
  }
}

/** Asserts that a promise rejects with a PersoniumError of that code (and message). */
async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  const error = await t.throwsAsync(promise);
  t.true(isPersoniumError(error), `a PersoniumError, got ${String(error)}`);
  t.is((error as { code?: string } | undefined)?.code, code, String(error?.message));
  if (typeof message === 'string') t.is(error?.message, message);
  else if (message !== undefined) t.regex(error?.message ?? '', message);
}

// ---------------------------------------------------------------------------------------------

test('round trip: the reader yields every record, resource and byte the writer wrote', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  const data = sampleData();
  await writeToFile(memoryView(data), file);
  const reader = await open(file);
  t.deepEqual(reader.manifest, { export_version: 2, unit_url: 'https://unit.example/', create_date: 1669806000000 });
  t.true(reader.hasIntegrity);
  const want = await expected(data);
  const contentBytes = want.dav.reduce((sum, n) => sum + (n.content?.length ?? 0), 0);
  t.like(reader.totals, { davNodes: want.dav.length, contentBytes, ignoredEntries: 0 });
  t.is(reader.totals.entries, (await centralEntries(file)).length);
  const got = await readBack(reader);
  await reader.close();
  t.deepEqual(got, want);
});

test('siblings sorted by code unit, parents first, whatever the archive order', async (t) => {
  const paths = ['', '__', '__/a', '__/a-b', '__/a/b', '__/a b', '__/B', '__/é', '__/a/b/c', 'Bx', '__/~'];
  t.deepEqual([...paths].sort(compareDavPaths), [...paths].sort(davOrder));
  const dir = await tempDir(t);
  const file = join(dir, 'shuffled.zip');
  const written = join(dir, 'written.zip');
  const data: ViewData = { dav: paths.map((path, i) => ({ path, meta: { i }, ...(i % 3 === 0 ? { content: `c${i}` } : {}) })) };
  await writeToFile(memoryView(data), written);
  // Rewritten in reverse order, alternating stored and deflated, without the integrity list.
  const entries = (await craftEntriesOf(written)).filter((e) => e.name !== '99_integrity.json').reverse();
  await craftZip(file, entries.map((e, i) => ({ ...e, compress: i % 2 === 0 })));
  const got = await readFile_(file);
  t.false(got.hasIntegrity);
  t.deepEqual(got.dav.map((n) => n.path), [...paths].sort(davOrder));
  t.deepEqual(got, { ...(await expected(data)), hasIntegrity: false });
});

/** Extracts an archive into a directory tree with Info-ZIP unzip. */
async function extract(file: string, tree: string): Promise<void> {
  const result = await run('unzip', ['-q', file, '-d', tree]);
  if (result.code !== 0) throw new Error(result.stderr);
}

/** Writes the sample data as a snapshot and extracts it without its integrity list into `{dir}/tree`. */
async function sampleTree(dir: string): Promise<{ data: ViewData; tree: string }> {
  const written = join(dir, 'written.zip');
  const data = sampleData();
  await writeToFile(memoryView(data), written);
  const tree = join(dir, 'tree');
  await extract(written, tree);
  await rm(join(tree, '99_integrity.json'));
  return { data, tree };
}

for (const directoryEntries of [true, false]) {
  zipTest(`an archive made by Info-ZIP zip -r${directoryEntries ? '' : ' -D (no directory entries)'} reads correctly`, async (t) => {
    const dir = await tempDir(t);
    const { data, tree } = await sampleTree(dir);
    const file = join(dir, 'zip-cli.zip');
    const zip = await run('zip', ['-r', '-q', '-X', ...(directoryEntries ? [] : ['-D']), file, '00_manifest.json', '10_odata', '20_webdav'], { cwd: tree });
    t.is(zip.code, 0, zip.stderr);
    const names = (await centralEntries(file)).map((e) => e.name);
    t.is(names.some((n) => n.endsWith('/')), directoryEntries);
    const got = await readFile_(file);
    t.false(got.hasIntegrity);
    t.deepEqual(got, { ...(await expected(data)), hasIntegrity: false });
  });
}

javaTest("an archive made by Java's zip file system, as Personium writes it, reads correctly", async (t) => {
  const dir = await tempDir(t);
  const { data, tree } = await sampleTree(dir);
  // json-simple escapes every '/' as '\/'.
  const escapeSlashes = async (path: string): Promise<void> => {
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/\//g, '\\/'));
  };
  await escapeSlashes(join(tree, '00_manifest.json'));
  for (const name of await readdir(join(tree, '10_odata'))) await escapeSlashes(join(tree, '10_odata', name));
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(folder, entry.name));
      else if (entry.name === '.pmeta') await escapeSlashes(join(folder, entry.name));
    }
  };
  await walk(join(tree, '20_webdav'));
  t.regex(await readFile(join(tree, '00_manifest.json'), 'utf8'), /https:\\\/\\\/unit\.example\\\//);
  const file = join(dir, 'java.zip');
  const java = await run('java', [JAVA_WRITER, tree, file, ...ODATA_FILES.map((f) => f.path.slice('10_odata/'.length))]);
  t.is(java.code, 0, java.stderr);
  const central = await centralEntries(file);
  t.true(central.some((e) => e.name === '20_webdav/__/'), 'directory entries');
  const deflated = central.filter((e) => !e.name.endsWith('/'));
  t.true(deflated.every((e) => e.method === 8 && (e.flags & 0x0008) !== 0), 'deflated with data descriptors');
  t.true(central.every((e) => e.extraFieldIds.includes(0x5455)), 'UT extra fields');
  const got = await readFile_(file);
  t.false(got.hasIntegrity);
  t.deepEqual(got, { ...(await expected(data)), hasIntegrity: false });
});

/** A source that counts what is asked of it. */
function counting(inner: RandomAccessSource): RandomAccessSource & { ranges: ByteRange[] } {
  const ranges: ByteRange[] = [];
  return {
    size: inner.size,
    ranges,
    read(range: ByteRange) {
      ranges.push(range);
      return inner.read(range);
    },
  };
}

test('the central directory of 20,000 entries is read through the block cache, in a few dozen reads', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'many.zip');
  const dav: DavData[] = [{ path: '', meta: { t: 'Cell' } }];
  for (let i = 0; i < 10_000; i += 1) dav.push({ path: `f${i}`, meta: { i }, content: `${i}` });
  await writeToFile(memoryView({ dav }), file);
  const central = await centralEntries(file);
  const directoryStart = Math.max(...central.map((e) => e.offset));
  const source = counting(await fileSource(file));
  const reader = await openSnapshot(source);
  const directorySize = source.size - directoryStart;
  const requested = source.ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0);
  t.log(`${central.length} entries, central directory ${directorySize} bytes, ${source.ranges.length} reads, ${requested} bytes`);
  t.is(reader.totals.entries, central.length);
  t.true(source.ranges.length <= Math.ceil(directorySize / 65536) + 6, `${source.ranges.length} reads`);
  t.true(requested <= directorySize + 6 * 65536);
  let nodes = 0;
  for await (const node of reader.dav()) {
    if (node.content !== undefined) await drain(node.content);
    nodes += 1;
  }
  t.is(nodes, 10_001);
  t.true(source.ranges.length < 400, `all data of the small entries read in ${source.ranges.length} block reads`);
  await reader.close();
});

test('openSnapshot reads nothing but the central directory and the manifest', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(
    memoryView({
      records: { UserData: Array.from({ length: 20_000 }, (_, i) => record('UserData', `u${i}`, { x: 'y'.repeat(100) })) },
      dav: [{ path: '', meta: {} }, { path: 'big.bin', meta: {}, content: generatedContent(3_000_000, 'random') }],
    }),
    file,
  );
  const source = counting(await fileSource(file));
  const reader = await openSnapshot(source);
  const central = await centralEntries(file);
  const contentStart = central.find((e) => e.name === '20_webdav/big.bin/content')?.offset ?? 0;
  // yauzl looks for the end record in the last 65,557 bytes (the longest possible comment).
  const tailStart = Math.floor((source.size - 65_557) / 65536) * 65536;
  for (const range of source.ranges) {
    t.true(range.end < 65536 || range.start >= tailStart, `range ${range.start}-${range.end}`);
  }
  t.true(tailStart > contentStart + 2_000_000, 'most of the big entry lies between');
  t.true(source.ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0) < 4 * 65536);
  await reader.close();
});

// ---------------------------------------------------------------------------------------------
// Refusals at open

/** The entries of a minimal valid snapshot (empty types, a root resource). */
function base(): CraftEntry[] {
  return [
    { name: '00_manifest.json', data: manifestJson('https://unit.example/', 1) },
    { name: '10_odata/00_cell.json', data: recordJson(cellRecord()) },
    ...ODATA_FILES.map((f) => ({ name: f.path, data: '' })),
    { name: '20_webdav/.pmeta', data: '{"t":"Cell"}' },
  ];
}

function replace(entries: CraftEntry[], name: string, data: string | Buffer | undefined): CraftEntry[] {
  return data === undefined ? entries.filter((e) => e.name !== name) : entries.map((e) => (e.name === name ? { ...e, data } : e));
}

async function zipOf(t: ExecutionContext, entries: CraftEntry[]): Promise<string> {
  const file = join(await tempDir(t), 'case.zip');
  await craftZip(file, entries);
  return file;
}

test('a minimal snapshot opens; its WebDAV part may even be empty', async (t) => {
  const got = await readFile_(await zipOf(t, base()));
  t.deepEqual(got.dav, [{ path: '', meta: { t: 'Cell' }, content: undefined }]);
  const empty = await readFile_(await zipOf(t, base().filter((e) => !e.name.startsWith('20_webdav/'))));
  t.deepEqual(empty.dav, []);
});

test('not a zip, empty, truncated: PR400-MC-0004', async (t) => {
  const dir = await tempDir(t);
  const text = join(dir, 'text.zip');
  await writeFile(text, 'this is not a zip file\n'.repeat(100));
  await rejectsWith(t, open(text), 'PR400-MC-0004', 'The specified snapshot file is not zip file.');
  const empty = join(dir, 'empty.zip');
  await writeFile(empty, '');
  await rejectsWith(t, open(empty), 'PR400-MC-0004');
  const good = await zipOf(t, base());
  const bytes = await readFile(good);
  const truncated = join(dir, 'truncated.zip');
  await writeFile(truncated, bytes.subarray(0, bytes.length - 10));
  await rejectsWith(t, open(truncated), 'PR400-MC-0004');
  // The end record intact but the central directory cut away.
  const hollow = join(dir, 'hollow.zip');
  await writeFile(hollow, Buffer.concat([bytes.subarray(0, 100), bytes.subarray(bytes.length - 22)]));
  await rejectsWith(t, open(hollow), 'PR400-MC-0004');
});

test('manifest: missing (MC-0001), not a JSON object (CM-0004), export_version not the number 2 (MC-0003)', async (t) => {
  await rejectsWith(t, open(await zipOf(t, replace(base(), '00_manifest.json', undefined))), 'PR400-MC-0001', '[00_manifest.json] does not exist in the snapshot file.');
  await rejectsWith(t, open(await zipOf(t, replace(base(), '00_manifest.json', '{"export_version":2'))), 'PR400-CM-0004', 'JSON parse error. [{"export_version":2].');
  await rejectsWith(t, open(await zipOf(t, replace(base(), '00_manifest.json', '[2]'))), 'PR400-CM-0004');
  await rejectsWith(t, open(await zipOf(t, replace(base(), '00_manifest.json', 'null'))), 'PR400-CM-0004');
  const version = async (json: string, shown: string): Promise<void> =>
    rejectsWith(t, open(await zipOf(t, replace(base(), '00_manifest.json', json))), 'PR400-MC-0003', `Version of the snapshot file is invalid. Expected [2] but was [${shown}].`);
  await version('{"export_version":1,"unit_url":"x","create_date":1}', '1');
  await version('{"export_version":"2"}', '"2"');
  await version('{"unit_url":"x"}', 'null');
  await version('{"export_version":null}', 'null');
  await version('{"export_version":2.5}', '2.5');
  await version('{"export_version":[2]}', '[2]');
  // The version check comes before the required entries.
  await rejectsWith(t, open(await zipOf(t, replace(replace(base(), '00_manifest.json', '{"export_version":1}'), '10_odata/10_box.pjson', undefined))), 'PR400-MC-0003');
});

test('required entries: the first missing one in layout order (MC-0001); a directory entry does not count', async (t) => {
  let entries = base();
  for (const path of REQUIRED_PATHS.slice(1).reverse()) {
    entries = replace(entries, path, undefined);
    await rejectsWith(t, open(await zipOf(t, entries)), 'PR400-MC-0001', `[${path}] does not exist in the snapshot file.`);
  }
  await rejectsWith(t, open(await zipOf(t, [...replace(base(), '10_odata/80_link.pjson', undefined), { name: '10_odata/80_link.pjson/' }])), 'PR400-MC-0001');
});

test('unsafe central directories: PR400-SN-0002 with a reason', async (t) => {
  const cases: [string, CraftEntry[], RegExp][] = [
    ['dot-dot', [...base(), { name: '20_webdav/__/../../x/.pmeta', data: '{}' }], /climbs out/],
    ['absolute', [...base(), { name: '/etc/x', data: 'x' }], /absolute/],
    ['drive', [...base(), { name: 'C:/x', data: 'x' }], /absolute/],
    ['backslash', [...base(), { name: '20_webdav\\x', data: 'x' }], /backslash/],
    ['control character', [...base(), { name: '20_webdav/a\u0001b/.pmeta', data: '{}' }], /control character/],
    ['empty segment', [...base(), { name: '20_webdav//x/.pmeta', data: '{}' }], /empty or "\." segment/],
    ['dot segment', [...base(), { name: '20_webdav/./x/.pmeta', data: '{}' }], /empty or "\." segment/],
    ['symlink', [...base(), { name: '20_webdav/l/.pmeta', data: '{}' }, { name: '20_webdav/l/content', data: '/etc/passwd', externalAttr: (0o120777 << 16) >>> 0 }], /symbolic link/],
    ['fifo', [...base(), { name: 'x', data: '', externalAttr: (0o010644 << 16) >>> 0 }], /special file/],
    ['duplicate', [...base(), { name: '10_odata/10_box.pjson', data: '' }], /duplicate entry "10_odata\/10_box.pjson"/],
    ['duplicate folder and file', [...base(), { name: '20_webdav/x/' }, { name: '20_webdav/x', data: 'x' }], /duplicate entry/],
    ['file and folder', [...base(), { name: '20_webdav/a', data: 'x' }, { name: '20_webdav/a/.pmeta', data: '{}' }], /both a file and a folder/],
    ['content without .pmeta', [...base(), { name: '20_webdav/__/.pmeta', data: '{}' }, { name: '20_webdav/__/x/content', data: 'x' }], /"20_webdav\/__\/x\/content" has no \.pmeta/],
    ['directory with data', [...base(), { name: 'd/', data: 'x', compress: false }], /directory entry with data/],
  ];
  for (const [name, entries, reason] of cases) {
    await rejectsWith(t, open(await zipOf(t, entries)), 'PR400-SN-0002', reason);
    t.log(`${name}: ok`);
  }
});

test('an encrypted entry is refused: PR400-SN-0002', async (t) => {
  const file = await zipOf(t, [...base(), { name: '20_webdav/e/.pmeta', data: '{"x":1}' }]);
  await patchCentral(file, '20_webdav/e/.pmeta', (bytes, at) => bytes.writeUInt16LE(bytes.readUInt16LE(at + 8) | 1, at + 8));
  await rejectsWith(t, open(file), 'PR400-SN-0002', /encrypted entry "20_webdav\/e\/.pmeta"/);
  const strong = await zipOf(t, [...base(), { name: '20_webdav/e/.pmeta', data: '{"x":1}' }]);
  await patchCentral(strong, '20_webdav/e/.pmeta', (bytes, at) => bytes.writeUInt16LE(bytes.readUInt16LE(at + 8) | 0x41, at + 8));
  await rejectsWith(t, open(strong), 'PR400-SN-0002', /encrypted/);
});

test('very repetitive files read whatever their ratio while the archive expands less than 1 GiB; limits are configurable', async (t) => {
  const entries = [...base(), { name: '20_webdav/b/.pmeta', data: '{}' }, { name: '20_webdav/b/content', data: Buffer.alloc(8 * 2 ** 20) }];
  const file = await zipOf(t, entries);
  const got = await readFile_(file);
  t.is(got.dav.find((n) => n.path === 'b')?.content?.length, 8 * 2 ** 20, 'a ratio of about 1000 is fine below the floor');
  const dir = await tempDir(t);
  const bomb = join(dir, 'bomb.zip');
  await writeZip(bomb, [
    ...baseEntries(),
    { name: '20_webdav/__/z/.pmeta', data: new TextEncoder().encode('{}') },
    { name: '20_webdav/__/z/content', ...zeroBomb(BOMB_MIB) },
  ]);
  await rejectsWith(t, open(bomb), 'PR400-SN-0002', /expands to over 200 times its \d+ bytes/);
  const relaxed = await openSnapshot(await fileSource(bomb), { limits: { maxCompressionRatio: 5000 } });
  t.true(relaxed.totals.contentBytes > BOMB_MIB * 2 ** 20, 'a raised ratio limit lets it open');
  await relaxed.close();
  await rejectsWith(t, open(file, { limits: { maxEntries: 5 } }), 'PR400-SN-0002', /entries, over the limit of 5/);
  await rejectsWith(t, open(file, { limits: { maxUncompressedBytes: 1000 } }), 'PR400-SN-0002', /over the limit of 1000 bytes/);
  t.deepEqual(DEFAULT_READER_LIMITS, { maxEntries: 1_000_000, maxUncompressedBytes: 64 * 2 ** 30, maxCompressionRatio: 200, maxLineBytes: 16 * 2 ** 20 });
});

test('overlapping entries are refused: PR400-SN-0002', async (t) => {
  // Two central directory records pointing at one local header: rewrite the second record's offset.
  const file = await zipOf(t, [...base(), { name: '20_webdav/a/.pmeta', data: '{"a":1}', compress: false }, { name: '20_webdav/b/.pmeta', data: '{"b":2}', compress: false }]);
  const bytes = await readFile(file);
  const central = await centralEntries(file);
  const a = central.find((e) => e.name === '20_webdav/a/.pmeta');
  let at = bytes.lastIndexOf(Buffer.from('20_webdav/b/.pmeta')) - 46;
  t.is(bytes.readUInt32LE(at), 0x02014b50);
  bytes.writeUInt32LE(a?.offset ?? 0, at + 42);
  const overlapping = join(await tempDir(t), 'overlap.zip');
  await writeFile(overlapping, bytes);
  await rejectsWith(t, open(overlapping), 'PR400-SN-0002', /overlaps/);
  // An entry whose data would run into the central directory.
  const bytes2 = await readFile(file);
  at = bytes2.lastIndexOf(Buffer.from('20_webdav/b/.pmeta')) - 46;
  bytes2.writeUInt32LE(bytes2.readUInt32LE(at + 20) + 5000, at + 20);
  bytes2.writeUInt32LE(bytes2.readUInt32LE(at + 24) + 5000, at + 24);
  const long = join(await tempDir(t), 'long.zip');
  await writeFile(long, bytes2);
  await rejectsWith(t, open(long), 'PR400-SN-0002', /overlaps the central directory/);
});

test('entries outside the known layout are ignored (never decompressed), but still vetted and counted', async (t) => {
  const entries = [
    ...base(),
    { name: 'README.txt', data: 'hello' },
    { name: '10_odata/10_data.pjson', data: '{"old":"format"}\n' },
    { name: '20_webdav/__/.pmeta', data: '{}' },
    { name: '20_webdav/__/import.error', data: 'stray' },
    { name: '__MACOSX/' },
  ];
  const file = await zipOf(t, entries);
  const reader = await open(file);
  t.is(reader.totals.ignoredEntries, 3);
  t.is(reader.totals.entries, entries.length);
  const got = await readBack(reader);
  t.deepEqual(got.dav.map((n) => n.path), ['', '__']);
  t.is(await reader.checkUnused(), 3);
  await reader.close();
  // An ignored entry's corruption shows only when it is read (verify does).
  const bad = await zipOf(t, [...base(), { name: 'README.txt', data: 'hello world', compress: false }]);
  await flipByte(bad, await dataOffset(bad, 'README.txt'));
  const badReader = await open(bad);
  await readBack(badReader);
  await rejectsWith(t, badReader.checkUnused(), 'PR400-SN-0003', 'Snapshot integrity check failed. [README.txt]');
  await badReader.close();
});

test('a name not in UTF-8 is refused; Java-style UTF-8 names without the flag are read', async (t) => {
  // Non-ASCII names carry the UTF-8 flag (as Python and Info-ZIP write them); strip the flag to mimic Java's directory entries.
  const file = await zipOf(t, [...base(), { name: '20_webdav/日本/.pmeta', data: '{"x":1}' }]);
  const bytes = await readFile(file);
  for (let at = bytes.indexOf(Buffer.from([0x50, 0x4b])); at >= 0; at = bytes.indexOf(Buffer.from([0x50, 0x4b]), at + 1)) {
    const signature = bytes.readUInt32LE(at);
    if (signature === 0x04034b50) bytes.writeUInt16LE(bytes.readUInt16LE(at + 6) & ~0x800, at + 6);
    if (signature === 0x02014b50) bytes.writeUInt16LE(bytes.readUInt16LE(at + 8) & ~0x800, at + 8);
  }
  const noFlag = join(await tempDir(t), 'noflag.zip');
  await writeFile(noFlag, bytes);
  t.deepEqual((await readFile_(noFlag)).dav.map((n) => n.path), ['', '日本']);
  const latin = Buffer.from(bytes);
  for (let at = latin.indexOf(Buffer.from('日本')); at >= 0; at = latin.indexOf(Buffer.from('日本'), at + 1)) latin[at] = 0xff;
  const invalid = join(await tempDir(t), 'latin.zip');
  await writeFile(invalid, latin);
  await rejectsWith(t, open(invalid), 'PR400-SN-0002', /not UTF-8/);
});

// ---------------------------------------------------------------------------------------------
// Integrity while reading

test('CRC-32 mismatch in a stored entry: the content stream errors with PR400-SN-0003 (small and large entries)', async (t) => {
  for (const size of [30_000, 300_000]) {
    const dir = await tempDir(t);
    const written = join(dir, 'written.zip');
    await writeToFile(memoryView({ dav: [{ path: '', meta: {} }, { path: 'noise', meta: { ct: 'image/png' }, content: generatedContent(size, 'random') }] }), written);
    // Without the integrity list, every entry stored (as zip -0 writes it), only CRC-32 can catch it.
    const file = join(dir, 'stored.zip');
    const entries = (await craftEntriesOf(written)).filter((e) => e.name !== '99_integrity.json');
    await craftZip(file, entries.map((e) => ({ ...e, compress: false })));
    await flipByte(file, (await dataOffset(file, '20_webdav/noise/content')) + Math.floor(size / 2));
    const reader = await open(file);
    t.false(reader.hasIntegrity);
    await reader.cellRecord();
    const nodes = reader.dav()[Symbol.asyncIterator]();
    t.is((await nodes.next()).value?.path, '');
    const noise = (await nodes.next()).value;
    t.is(noise?.path, 'noise');
    await rejectsWith(t, drain(noise?.content ?? Buffer.alloc(0) as never), 'PR400-SN-0003', 'Snapshot integrity check failed. [20_webdav/noise/content]');
    await reader.close();
  }
});

test('CRC-32 mismatch in a .pjson: SN-0003 wins over the parse error the corruption causes', async (t) => {
  const lines = Array.from({ length: 50 }, (_, i) => recordJson(record('Role', `r${i}`))).join('\n');
  const file = await zipOf(t, replace(base(), '10_odata/20_role.pjson', `${lines}\n`).map((e) => ({ ...e, compress: false })));
  // Turn the '{' that opens line 10 into '#'.
  const offset = (await dataOffset(file, '10_odata/20_role.pjson')) + lines.split('\n').slice(0, 9).join('\n').length + 1;
  await flipByte(file, offset, 0x7b ^ 0x23);
  const reader = await open(file);
  const seen: ODataRecord[] = [];
  await rejectsWith(
    t,
    (async () => {
      for await (const r of reader.records('Role')) seen.push(r);
    })(),
    'PR400-SN-0003',
    'Snapshot integrity check failed. [10_odata/20_role.pjson]',
  );
  // A small entry is checked whole before its first record; a large one while it streams.
  t.true(seen.length <= 9);
  await reader.close();
});

test('with the integrity list, an entry is checked by its SHA-256 instead of its CRC-32 (small and large entries)', async (t) => {
  for (const size of [30_000, 300_000]) {
    const dir = await tempDir(t);
    const file = join(dir, 'written.zip');
    await writeToFile(memoryView({ dav: [{ path: '', meta: {} }, { path: 'noise', meta: { ct: 'image/png' }, content: generatedContent(size, 'random') }] }), file);
    const name = '20_webdav/noise/content';
    // The CRC-32 the central directory gives is one bit off; the bytes are intact: SHA-256 says so.
    await patchCentral(file, name, (bytes, at) => bytes.writeUInt32LE((bytes.readUInt32LE(at + 16) ^ 1) >>> 0, at + 16));
    const reader = await open(file);
    t.true(reader.hasIntegrity);
    await reader.cellRecord();
    const nodes = reader.dav()[Symbol.asyncIterator]();
    await nodes.next();
    const noise = (await nodes.next()).value;
    t.is((await drain(noise?.content ?? (Buffer.alloc(0) as never))).length, size);
    await reader.close();
    // A changed byte of the content still fails, by its SHA-256.
    await flipByte(file, (await dataOffset(file, name)) + Math.floor(size / 2));
    const corrupt = await open(file);
    await corrupt.cellRecord();
    const again = corrupt.dav()[Symbol.asyncIterator]();
    await again.next();
    const changed = (await again.next()).value;
    await rejectsWith(t, drain(changed?.content ?? (Buffer.alloc(0) as never)), 'PR400-SN-0003', `Snapshot integrity check failed. [${name}]`);
    await corrupt.close();
  }
});

/** Rewrites the integrity list of an archive (every other entry copied). */
async function withIntegrity(t: ExecutionContext, file: string, edit: (list: { path: string; size: number; sha256: string }[]) => unknown): Promise<string> {
  const entries = await craftEntriesOf(file);
  const integrity = entries.find((e) => e.name === '99_integrity.json');
  const parsed = JSON.parse(String(integrity?.data)) as { algorithm: string; entries: { path: string; size: number; sha256: string }[] };
  const edited = edit(parsed.entries) ?? parsed;
  return zipOf(t, replace(entries, '99_integrity.json', JSON.stringify(edited)));
}

test('SHA-256 mismatch against 99_integrity.json: PR400-SN-0003 for that entry, the others read', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const target = '20_webdav/__/docs/readme.txt/content';
  const altered = await withIntegrity(t, file, (list) => {
    const entry = list.find((e) => e.path === target);
    if (entry !== undefined) entry.sha256 = createHash('sha256').update('something else').digest('hex');
  });
  const reader = await open(altered);
  t.true(reader.hasIntegrity);
  t.is((await reader.cellRecord())._type, 'Cell');
  for (const type of ODATA_TYPES) for await (const r of reader.records(type)) void r;
  let failure: unknown;
  for await (const node of reader.dav()) {
    if (node.content === undefined) continue;
    try {
      await drain(node.content);
    } catch (error) {
      failure = error;
      t.is(node.path, '__/docs/readme.txt');
      break;
    }
  }
  t.is((failure as { code?: string } | undefined)?.code, 'PR400-SN-0003');
  t.is((failure as Error | undefined)?.message, `Snapshot integrity check failed. [${target}]`);
  await reader.close();
});

test('integrity list: size lies, missing or unknown paths, a changed manifest, a bad shape: PR400-SN-0003', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const readAll = async (archive: string): Promise<void> => {
    const reader = await open(archive);
    try {
      await readBack(reader);
    } finally {
      await reader.close();
    }
  };
  await t.notThrowsAsync(readAll(await withIntegrity(t, file, () => undefined)), 'copied into a new archive, the list still matches');
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => void ((l[3] as { size: number }).size += 1))), 'PR400-SN-0003', `Snapshot integrity check failed. [${ODATA_FILES[1]?.path}]`);
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => void l.splice(5, 1))), 'PR400-SN-0003', `Snapshot integrity check failed. [${ODATA_FILES[3]?.path}]`);
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => void l.push({ path: 'nowhere.txt', size: 0, sha256: '0'.repeat(64) }))), 'PR400-SN-0003', 'Snapshot integrity check failed. [nowhere.txt]');
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => void ((l[0] as { sha256: string }).sha256 = 'f'.repeat(64)))), 'PR400-SN-0003', 'Snapshot integrity check failed. [00_manifest.json]');
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => ({ algorithm: 'md5', entries: l }))), 'PR400-SN-0003', 'Snapshot integrity check failed. [99_integrity.json]');
  await rejectsWith(t, readAll(await withIntegrity(t, file, (l) => ({ algorithm: 'sha256', entries: [...l, l[1]] }))), 'PR400-SN-0003', 'Snapshot integrity check failed. [99_integrity.json]');
  const entries = await craftEntriesOf(file);
  await rejectsWith(t, readAll(await zipOf(t, replace(entries, '99_integrity.json', '{"algorithm":'))), 'PR400-CM-0004');
});

test('sizes that lie: more or fewer bytes than declared is PR400-SN-0003 (records and recordLines)', async (t) => {
  // A deflated .pjson whose declared size is 100 bytes more (CRC of the real data).
  const text = `${Array.from({ length: 3000 }, (_, i) => recordJson(record('Role', `role${i}`))).join('\n')}\n`;
  const file = await zipOf(t, replace(base(), '10_odata/20_role.pjson', text));
  for (const [delta, name] of [
    [100, 'larger'],
    [-100, 'smaller'],
  ] as const) {
    const lying = join(await tempDir(t), `${name}.zip`);
    await writeFile(lying, await readFile(file));
    await patchCentral(lying, '10_odata/20_role.pjson', (bytes, at) => bytes.writeUInt32LE(bytes.readUInt32LE(at + 24) + delta, at + 24));
    const reader = await open(lying);
    await rejectsWith(
      t,
      (async () => {
        for await (const r of reader.records('Role')) void r;
      })(),
      'PR400-SN-0003',
    );
    await reader.close();
    const linesReader = await open(lying);
    await rejectsWith(
      t,
      (async () => {
        for await (const piece of linesReader.recordLines('Role')) void piece;
      })(),
      'PR400-SN-0003',
    );
    await linesReader.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Records and resources

async function rolesOf(t: ExecutionContext, text: string | Buffer, options?: OpenSnapshotOptions): Promise<ODataRecord[]> {
  const reader = await open(await zipOf(t, replace(base(), '10_odata/20_role.pjson', text)), options);
  try {
    const list: ODataRecord[] = [];
    for await (const r of reader.records('Role')) list.push(r);
    return list;
  } finally {
    await reader.close();
  }
}

test('records: one per line, CRLF tolerated, a last line without newline counts, no empty last record', async (t) => {
  const a = record('Role', 'a', { s: { Name: 'with\nnewline / slash' } });
  const b = record('Role', 'b');
  t.deepEqual(await rolesOf(t, `${recordJson(a)}\n${recordJson(b)}\n`), [a, b]);
  t.deepEqual(await rolesOf(t, `${recordJson(a)}\r\n${recordJson(b)}\r\n`), [a, b]);
  t.deepEqual(await rolesOf(t, `${recordJson(a)}\n${recordJson(b)}`), [a, b]);
  t.deepEqual(await rolesOf(t, ''), []);
  // Personium's own escaping of '/'.
  t.deepEqual(await rolesOf(t, `${recordJson(a).replace(/\//g, '\\/')}\n`), [a]);
});

test('records: blank lines, non-JSON, non-records are PR400-CM-0004 with the line; over-long lines PR400-SN-0002', async (t) => {
  const a = recordJson(record('Role', 'a'));
  await rejectsWith(t, rolesOf(t, `${a}\n\n${a}\n`), 'PR400-CM-0004', 'JSON parse error. [].');
  await rejectsWith(t, rolesOf(t, `${a}\n\n`), 'PR400-CM-0004');
  await rejectsWith(t, rolesOf(t, `${a}\nnot json\n`), 'PR400-CM-0004', 'JSON parse error. [not json].');
  await rejectsWith(t, rolesOf(t, '[1,2]\n'), 'PR400-CM-0004', 'JSON parse error. [[1,2]].');
  await rejectsWith(t, rolesOf(t, '{"_index":"x","_type":"Role","_id":"a"}\n'), 'PR400-CM-0004');
  await rejectsWith(t, rolesOf(t, '{"_index":"x","_type":"Role","_id":1,"_source":{}}\n'), 'PR400-CM-0004');
  const long = `{"_index":"x","_type":"Role","_id":"a","_source":{"x":"${'y'.repeat(1000)}"}}`;
  const error = await t.throwsAsync(rolesOf(t, `${long.slice(0, -1)}\n`));
  t.true((error?.message.length ?? 0) < 220, 'the line is truncated in the message');
  await rejectsWith(t, rolesOf(t, `${a}\n${long}\n`, { limits: { maxLineBytes: 500 } }), 'PR400-SN-0002', /a line of "10_odata\/20_role.pjson" is over the limit of 500 bytes/);
  t.is((await rolesOf(t, `${long}\n`, { limits: { maxLineBytes: long.length } })).length, 1);
});

async function roleLinesOf(t: ExecutionContext, text: string | Buffer, options?: OpenSnapshotOptions): Promise<Buffer[]> {
  const reader = await open(await zipOf(t, replace(base(), '10_odata/20_role.pjson', text)), options);
  try {
    const pieces: Buffer[] = [];
    for await (const piece of reader.recordLines('Role')) pieces.push(piece);
    return pieces;
  } finally {
    await reader.close();
  }
}

test('recordLines: the entry in pieces of whole lines, unparsed; over-long lines PR400-SN-0002', async (t) => {
  const a = recordJson(record('Role', 'a'));
  const text = `${a}\n\nnot json\r\n${'x'.repeat(300_000)}\n${a}`;
  const pieces = await roleLinesOf(t, text);
  t.is(Buffer.concat(pieces).toString('utf8'), text, 'every byte, blank and bad lines included');
  t.true(pieces.length > 1, 'in more than one piece');
  for (const piece of pieces.slice(0, -1)) t.is(piece.at(-1), 0x0a, 'each piece but the last ends a line');
  t.deepEqual(await roleLinesOf(t, ''), []);
  await rejectsWith(t, roleLinesOf(t, `${a}\n${'y'.repeat(600)}\n`, { limits: { maxLineBytes: 500 } }), 'PR400-SN-0002', /over the limit of 500 bytes/);
});

test('cell record and .pmeta: JSON objects, else PR400-CM-0004; over maxLineBytes PR400-SN-0002', async (t) => {
  const cell = async (text: string): Promise<ODataRecord> => {
    const reader = await open(await zipOf(t, replace(base(), '10_odata/00_cell.json', text)));
    try {
      return await reader.cellRecord();
    } finally {
      await reader.close();
    }
  };
  t.deepEqual(await cell(recordJson(cellRecord())), cellRecord());
  await rejectsWith(t, cell('{"_type":"Cell"'), 'PR400-CM-0004');
  const pmeta = async (text: string, options?: OpenSnapshotOptions): Promise<unknown> => {
    const reader = await open(await zipOf(t, replace(base(), '20_webdav/.pmeta', text)), options);
    try {
      return (await readBack(reader)).dav[0]?.meta;
    } finally {
      await reader.close();
    }
  };
  t.deepEqual(await pmeta('{"t":"Cell","u":"https:\\/\\/x\\/"}'), { t: 'Cell', u: 'https://x/' });
  await rejectsWith(t, pmeta('"just a string"'), 'PR400-CM-0004');
  await rejectsWith(t, pmeta('{"t":'), 'PR400-CM-0004');
  await rejectsWith(t, pmeta(`{"t":"${'x'.repeat(200)}"}`, { limits: { maxLineBytes: 100 } }), 'PR400-SN-0002');
});

test('a content stream left unconsumed is destroyed when the next resource is asked for', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const reader = await open(file);
  const streams = [];
  for await (const node of reader.dav()) if (node.content !== undefined) streams.push(node.content);
  t.true(streams.length >= 4);
  t.true(streams.every((s) => s.destroyed));
  await reader.close();
});

// ---------------------------------------------------------------------------------------------
// Abort, close, sources

test('abort: pending reads reject with the reason, open streams are destroyed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(
    memoryView({ records: { UserData: Array.from({ length: 50_000 }, (_, i) => record('UserData', `u${i}`)) }, dav: [{ path: '', meta: {} }, { path: 'big', meta: {}, content: generatedContent(20_000_000, 'random') }] }),
    file,
  );
  const controller = new AbortController();
  const reader = await open(file, { signal: controller.signal });
  const reason = new Error('stop reading');
  let count = 0;
  const error = await t.throwsAsync(
    (async () => {
      for await (const r of reader.records('UserData')) {
        void r;
        count += 1;
        if (count === 100) controller.abort(reason);
      }
    })(),
  );
  t.is(error, reason);
  await t.throwsAsync(reader.cellRecord(), { is: reason });
  await reader.close();

  const controller2 = new AbortController();
  const reader2 = await open(file, { signal: controller2.signal });
  const nodes = reader2.dav()[Symbol.asyncIterator]();
  await nodes.next();
  const big = (await nodes.next()).value;
  const draining = drain(big?.content ?? (undefined as never));
  setTimeout(() => controller2.abort(reason), 20);
  await t.throwsAsync(draining, { is: reason });
  await reader2.close();

  const aborted = new AbortController();
  aborted.abort(reason);
  await t.throwsAsync(open(file, { signal: aborted.signal }), { is: reason });
});

test('close: idempotent, never rejects, and later calls fail', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const reader = await open(file);
  await reader.close();
  await t.notThrowsAsync(reader.close());
  await t.throwsAsync(reader.cellRecord(), { message: /closed/ });
  await t.throwsAsync(async () => {
    for await (const r of reader.records('Box')) void r;
  });
  t.throws(() => reader.records('Nope' as ODataType), { instanceOf: TypeError });
});

test('onBytes: every uncompressed byte read is reported', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  let bytes = 0;
  const reader = await open(file, { onBytes: (n) => (bytes += n) });
  await readBack(reader);
  await reader.checkUnused();
  t.is(bytes, reader.totals.uncompressedBytes);
  await reader.close();
});

test('storeSource: an archive in a SnapshotStore is read through ranged reads; a missing one is undefined', async (t) => {
  const dir = await tempDir(t);
  const store = new FsSnapshotStore({ root: join(dir, 'store') });
  const cellId = 'c0000000000000000000000000000000';
  const upload = await store.write(cellId, 'snap.zip', { contentType: 'application/zip' });
  const data = sampleData();
  const { writeSnapshot } = await import('../../lib/snapshot/writer.js');
  await writeSnapshot(memoryView(data), upload.stream, { unitUrl: 'https://unit.example/', createDate: 1 });
  await upload.commit();
  t.is(await storeSource(store, cellId, 'missing.zip'), undefined);
  const source = await storeSource(store, cellId, 'snap.zip');
  if (source === undefined) {
    t.fail('no source');
    return;
  }
  const reader = await openSnapshot(source);
  t.deepEqual(await readBack(reader), await expected(data));
  await reader.close();
  await t.throwsAsync(source.read({ start: 0, end: source.size }), { instanceOf: RangeError });
});

test('fileSource: ranges are checked', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'x.bin');
  await writeFile(file, '0123456789');
  const source = await fileSource(file);
  t.is(source.size, 10);
  t.is((await drain(await source.read({ start: 2, end: 4 }))).toString(), '234');
  t.is((await drain(await source.read({ start: 9, end: 9 }))).toString(), '9');
  await t.throwsAsync(source.read({ start: 5, end: 10 }), { instanceOf: RangeError });
  await t.throwsAsync(source.read({ start: 5, end: 4 }), { instanceOf: RangeError });
  await t.throwsAsync(source.read({ start: -1, end: 4 }), { instanceOf: RangeError });
  await t.throwsAsync(fileSource(dir));
});
