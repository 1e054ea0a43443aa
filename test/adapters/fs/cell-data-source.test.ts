import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FsCellDataSource } from '../../../lib/adapters/fs/cell-data-source.js';
import { journalName, oldName, stagingName } from '../../../lib/adapters/fs/cell-layout.js';
import { releasePath, writeJournal } from '../../../lib/adapters/fs/swap.js';
import { isPersoniumError } from '../../../lib/errors.js';
import { ODATA_TYPES, recordJson } from '../../../lib/snapshot/format.js';
import type { CellInfo, ODataRecord } from '../../../lib/types.js';
import { type CellDigest, cellDataSourceContract, digestCell, stageCell } from '../../../lib/contract/cell-data-source.js';
import { measuredEvery, retainedHeap } from '../../helpers/retained-heap.js';
import { tempDir } from '../../helpers/tmp.js';

const FIXTURE_CELLS = fileURLToPath(new URL('../../../fixtures/cells/', import.meta.url));

/** A fresh root holding a copy of the fixture cells. */
async function fixtureRoot(t: ExecutionContext): Promise<string> {
  const root = join(await tempDir(t, 'kcs-cells-'), 'cells');
  await cp(FIXTURE_CELLS, root, { recursive: true });
  return root;
}

cellDataSourceContract(test, async (t) => new FsCellDataSource({ root: await fixtureRoot(t) }), 'FsCellDataSource');

async function mustGetCell(source: FsCellDataSource, name: string): Promise<CellInfo> {
  const cell = await source.getCell(name);
  if (cell === undefined) throw new Error(`no cell ${name}`);
  return cell;
}

/** The entries of a root that are not cells (staging, old, journal…), sorted. */
async function leftovers(root: string): Promise<string[]> {
  return (await readdir(root)).filter((n) => n.startsWith('.')).sort();
}

/**
 * Stages alice's content as bob's next content through a real transaction, then forgets the
 * transaction as a crashed process would (its in-memory claim is released). Returns the swap id.
 */
async function stageAliceIntoBob(root: string): Promise<string> {
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
  await tx.flush();
  const staging = (await readdir(root)).find((n) => n.startsWith('.staging-bob-'));
  if (staging === undefined) throw new Error('no staging directory');
  releasePath(join(root, staging));
  return staging.slice('.staging-bob-'.length);
}

/** The on-disk states a crash leaves at each point of a commit of bob, built by hand. */
const CRASH_POINTS: readonly { name: string; expect: 'old' | 'new'; make: (root: string, id: string) => Promise<void> }[] = [
  { name: 'while staging', expect: 'old', make: async () => undefined },
  {
    name: 'while writing the journal',
    expect: 'old',
    make: async (root) => writeFile(join(root, `${journalName('bob')}.tmp`), '{"version":1,"cell":"bo'),
  },
  {
    name: 'after writing the journal',
    expect: 'old',
    make: async (root, id) => writeJournal(root, { version: 1, cell: 'bob', id }),
  },
  {
    name: 'after moving the live cell aside',
    expect: 'old',
    make: async (root, id) => {
      await writeJournal(root, { version: 1, cell: 'bob', id });
      await rename(join(root, 'bob'), join(root, oldName('bob', id)));
    },
  },
  {
    name: 'after moving the staging copy in',
    expect: 'old',
    make: async (root, id) => {
      await writeJournal(root, { version: 1, cell: 'bob', id });
      await rename(join(root, 'bob'), join(root, oldName('bob', id)));
      await rename(join(root, stagingName('bob', id)), join(root, 'bob'));
    },
  },
  {
    name: 'with an unreadable journal after moving the live cell aside',
    expect: 'old',
    make: async (root, id) => {
      await writeFile(join(root, journalName('bob')), 'garbage');
      await rename(join(root, 'bob'), join(root, oldName('bob', id)));
    },
  },
  {
    name: 'after deleting the journal (the commit point)',
    expect: 'new',
    make: async (root, id) => {
      await rename(join(root, 'bob'), join(root, oldName('bob', id)));
      await rename(join(root, stagingName('bob', id)), join(root, 'bob'));
    },
  },
  {
    name: 'while deleting the old content',
    expect: 'new',
    make: async (root, id) => {
      await rename(join(root, 'bob'), join(root, oldName('bob', id)));
      await rename(join(root, stagingName('bob', id)), join(root, 'bob'));
      await rm(join(root, oldName('bob', id), 'dav', '__'), { recursive: true });
      await rm(join(root, oldName('bob', id), 'cell.json'));
    },
  },
];

/** The content of bob after alice is imported into it, committed normally in a root of its own; made once for every crash point. */
let committedBob: Promise<CellDigest> | undefined;
function newBobDigest(t: ExecutionContext): Promise<CellDigest> {
  committedBob ??= (async () => {
    const refSource = new FsCellDataSource({ root: await fixtureRoot(t) });
    const refBob = await mustGetCell(refSource, 'bob');
    await (await stageCell(refSource, await mustGetCell(refSource, 'alice'), refBob)).commit();
    return digestCell(refSource, 'bob');
  })();
  return committedBob;
}

for (const point of CRASH_POINTS) {
  test(`crash ${point.name}: recovery leaves the ${point.expect} cell, whole`, async (t) => {
    const newBob = await newBobDigest(t);

    const root = await fixtureRoot(t);
    const before = new FsCellDataSource({ root });
    const oldBob = await digestCell(before, 'bob');
    const aliceBefore = await digestCell(before, 'alice');
    const id = await stageAliceIntoBob(root);
    await point.make(root, id);

    const after = new FsCellDataSource({ root });
    t.deepEqual(await digestCell(after, 'bob'), point.expect === 'old' ? oldBob : newBob);
    t.deepEqual(await digestCell(after, 'alice'), aliceBefore);
    t.deepEqual(await leftovers(root), []);
    t.deepEqual((await readdir(root)).sort(), ['alice', 'bob']);
  });
}

test('recovery is idempotent: a crash during recovery is recovered again', async (t) => {
  const root = await fixtureRoot(t);
  const oldBob = await digestCell(new FsCellDataSource({ root }), 'bob');
  const id = await stageAliceIntoBob(root);
  await writeJournal(root, { version: 1, cell: 'bob', id });
  await rename(join(root, 'bob'), join(root, oldName('bob', id)));
  await rename(join(root, stagingName('bob', id)), join(root, 'bob'));
  // Recovery's first step (moving the new content aside) done, then a crash:
  await rename(join(root, 'bob'), join(root, stagingName('bob', id)));
  const source = new FsCellDataSource({ root });
  await source.recover();
  await source.recover();
  t.deepEqual(await digestCell(source, 'bob'), oldBob);
  t.deepEqual(await leftovers(root), []);
});

test('recovery deletes abandoned staging and old directories, and leaves other entries alone', async (t) => {
  const root = await fixtureRoot(t);
  await mkdir(join(root, stagingName('alice', '0123456789abcdef'), 'dav'), { recursive: true });
  await writeFile(join(root, stagingName('alice', '0123456789abcdef'), '10_box.pjson'), '{}\n');
  await mkdir(join(root, oldName('bob', 'fedcba9876543210')));
  await writeFile(join(root, `${journalName('alice')}.tmp`), '');
  await writeFile(join(root, '.keep-me'), 'not ours');
  await mkdir(join(root, '.staging-not-a-swap'));
  await writeFile(join(root, 'notes.txt'), 'not a cell');
  const source = new FsCellDataSource({ root });
  t.truthy(await source.getCell('alice'));
  t.deepEqual(await leftovers(root), ['.keep-me', '.staging-not-a-swap']);
  t.deepEqual((await readdir(root)).sort(), ['.keep-me', '.staging-not-a-swap', 'alice', 'bob', 'notes.txt']);
});

test("recovery leaves the staging directory of this process's live transactions alone", async (t) => {
  const root = await fixtureRoot(t);
  const first = new FsCellDataSource({ root });
  const bob = await mustGetCell(first, 'bob');
  const tx = await first.beginImport(bob, new AbortController().signal);
  const second = new FsCellDataSource({ root });
  await second.recover();
  t.is((await leftovers(root)).filter((n) => n.startsWith('.staging-bob-')).length, 1);
  await tx.rollback();
  t.deepEqual(await leftovers(root), []);
});

test('a committed import leaves no staging, old or journal entries', async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
  t.is((await leftovers(root)).length, 1, 'the staging directory exists while the transaction is open');
  await tx.commit();
  t.deepEqual(await leftovers(root), []);
  const cellJson = JSON.parse(await readFile(join(root, 'bob', 'cell.json'), 'utf8')) as ODataRecord;
  t.is(cellJson._id, bob.id);
  for (const type of ['10_box', '70_userdata', '80_link']) {
    t.true((await readFile(join(root, 'bob', `${type}.pjson`), 'utf8')).endsWith('\n'));
  }
  t.is((await readFile(join(root, 'bob', 'dav', '__', 'docs', 'empty.txt', 'content'))).length, 0);
});

test("an import keeps the cell's key pair and authentication history, which exports never include", async (t) => {
  const root = await fixtureRoot(t);
  await mkdir(join(root, 'bob', 'dav', '.pkeys'));
  await writeFile(join(root, 'bob', 'dav', '.pkeys', 'key.pem'), 'not a real key');
  await mkdir(join(root, 'bob', 'dav', '.pauthhistory'));
  await writeFile(join(root, 'bob', 'dav', '.pauthhistory', 'history'), '{}');
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const exported = await digestCell(source, 'bob');
  t.false(exported.dav.some((n) => n.path.startsWith('.p')));
  const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
  await t.throwsAsync(tx.putDav({ path: '.pkeys', meta: {} }), { code: 'PR400-SN-0002' });
  await tx.commit();
  t.is(await readFile(join(root, 'bob', 'dav', '.pkeys', 'key.pem'), 'utf8'), 'not a real key');
  t.is(await readFile(join(root, 'bob', 'dav', '.pauthhistory', 'history'), 'utf8'), '{}');
});

test('an export view fails instead of mixing contents when a commit replaces the cell', async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const reading = await source.openExport(bob, new AbortController().signal);
  const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
  await tx.commit();
  await t.throwsAsync(async () => {
    for await (const node of reading.dav()) void node;
  }, { message: /replaced/ });
  await reading.close();
});

test('putDav creates missing intermediate folders, which exports skip, and refuses a duplicate', async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const before = await digestCell(source, 'bob');
  const tx = await source.beginImport(bob, new AbortController().signal);
  await tx.putCellRecord(before.cellRecord);
  await tx.putDav({ path: '', meta: { t: 'Cell' } });
  await tx.putDav({ path: '__/a/b.txt', meta: { t: 'dav.file' }, content: Readable.from([Buffer.from('deep')]) });
  const duplicate = await t.throwsAsync(tx.putDav({ path: '__/a/b.txt', meta: {} }));
  t.true(isPersoniumError(duplicate) && duplicate.code === 'PR400-SN-0002', String(duplicate));
  await t.throwsAsync(tx.putDav({ path: '__/x', meta: [] as unknown as Record<string, unknown> }), {
    instanceOf: TypeError,
    message: 'Metadata of WebDAV resource [__/x] is not an object',
  });
  await t.throwsAsync(
    tx.putDav({ path: '__/a/b.txt/content', meta: {} }),
    { code: 'PR400-SN-0002', message: /inside the file/ },
    'a child folder cannot replace content',
  );
  await tx.commit();
  const after = await digestCell(source, 'bob');
  t.deepEqual(
    after.dav.map((n) => [n.path, n.content?.size]),
    [
      ['', undefined],
      ['__/a/b.txt', 4],
    ],
  );
  t.deepEqual(after.totals, { records: 0, davNodes: 2, bytes: 4 });
  t.deepEqual(await leftovers(root), []);
});

test("putCellRecord refuses a record that is not the target's, and commit needs one", async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const alice = await digestCell(source, 'alice');
  const tx = await source.beginImport(bob, new AbortController().signal);
  await t.throwsAsync(tx.putCellRecord(alice.cellRecord), { message: /not the target cell's/ });
  await t.throwsAsync(tx.commit(), { message: /cell record/ });
  await tx.rollback();
});

test('a commit fails and changes nothing when the cell was deleted meanwhile', async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const before = await digestCell(source, 'bob');
  const tx = await source.beginImport(bob, new AbortController().signal);
  await tx.putCellRecord(before.cellRecord);
  await rename(join(root, 'bob'), join(root, 'bob-moved'));
  await t.throwsAsync(tx.commit(), { code: 'PR404-DV-0003' });
  await tx.rollback();
  t.deepEqual(await leftovers(root), []);
  t.deepEqual((await readdir(root)).sort(), ['alice', 'bob-moved']);
});

test('an aborted import signal rejects further writes and the commit', async (t) => {
  const root = await fixtureRoot(t);
  const source = new FsCellDataSource({ root });
  const bob = await mustGetCell(source, 'bob');
  const before = await digestCell(source, 'bob');
  const abort = new AbortController();
  const tx = await source.beginImport(bob, abort.signal);
  await tx.putCellRecord(before.cellRecord);
  abort.abort();
  await t.throwsAsync(tx.putRecords('Box', Readable.from(before.records.Box)), { any: true, name: 'AbortError' });
  await t.throwsAsync(tx.commit(), { any: true, name: 'AbortError' });
  await tx.rollback();
  t.deepEqual(await digestCell(source, 'bob'), before);
  t.deepEqual(await leftovers(root), []);
});

test('getCell: a directory whose record names another cell, a symbolic link or a corrupt record', async (t) => {
  const root = await fixtureRoot(t);
  await cp(join(root, 'bob'), join(root, 'carol'), { recursive: true });
  await symlink(join(root, 'alice'), join(root, 'dave'));
  await mkdir(join(root, 'erin'));
  await writeFile(join(root, 'erin', 'cell.json'), '{"_type":"Cell"');
  await mkdir(join(root, 'frank'));
  const source = new FsCellDataSource({ root });
  t.is(await source.getCell('carol'), undefined, 'cell.json names bob');
  t.is(await source.getCell('dave'), undefined, 'symbolic links are not followed');
  t.is(await source.getCell('frank'), undefined, 'no cell.json');
  await t.throwsAsync(source.getCell('erin'), { message: /Invalid JSON/ });
  t.deepEqual(await source.getCell('alice'), {
    id: (await digestCell(source, 'alice')).cellRecord._id,
    name: 'alice',
    owner: 'personium-localunit:/alice/#me',
  });
  const bob = await mustGetCell(source, 'bob');
  t.false('owner' in bob, 'bob has no owner');
});

test('export: blank lines and CRLF are tolerated, symbolic links ignored, intermediate folders walked', async (t) => {
  const root = await fixtureRoot(t);
  await mkdir(join(root, 'bob', 'dav', '__', 'no-meta', 'child'), { recursive: true });
  await writeFile(join(root, 'bob', 'dav', '__', 'no-meta', 'child', '.pmeta'), '{"t":"col.webdav"}');
  const box = await readFile(join(root, 'bob', '10_box.pjson'), 'utf8');
  await writeFile(join(root, 'bob', '10_box.pjson'), `\n  \r\n${box.trimEnd().replaceAll('\n', '\r\n')}\r\n\n${box.trimEnd()}`);
  await symlink(join(root, 'alice', 'dav', '__'), join(root, 'bob', 'dav', '__', 'linked'));
  await symlink(join(root, 'alice', 'cell.json'), join(root, 'bob', 'dav', '__', 'content'));
  const source = new FsCellDataSource({ root });
  const digest = await digestCell(source, 'bob');
  t.is(digest.records.Box.length, 2);
  t.is(digest.totals.records, Object.values(digest.records).reduce((n, l) => n + l.length, 0));
  t.is(digest.totals.davNodes, digest.dav.length);
  t.false(digest.dav.some((n) => n.path.includes('linked')));
  t.false(digest.dav.some((n) => n.path === '__/no-meta'), 'a folder without .pmeta is not a resource');
  t.true(digest.dav.some((n) => n.path === '__/no-meta/child'), 'but resources below it are');
  t.is(digest.dav.find((n) => n.path === '__')?.content, undefined);
});

test('export: a line over maxLineBytes, a bad record or a .pmeta that is not a JSON object fails', async (t) => {
  const root = await fixtureRoot(t);
  const long = { _index: 'x', _type: 'Box', _source: { pad: 'x'.repeat(5000) }, _id: 'long' };
  await writeFile(join(root, 'bob', '12_extcell.pjson'), recordJson(long) + '\n');
  await writeFile(join(root, 'bob', '21_rule.pjson'), '{"_index":"x","_type":"Rule","_id":"r"}\n');
  await mkdir(join(root, 'bob', 'dav', '__', 'bad-meta'));
  await writeFile(join(root, 'bob', 'dav', '__', 'bad-meta', '.pmeta'), '[1,2]');
  const source = new FsCellDataSource({ root, maxLineBytes: 4096 });
  const bob = await mustGetCell(source, 'bob');
  const view = await source.openExport(bob, new AbortController().signal);
  const drain = async (iterable: AsyncIterable<unknown>): Promise<void> => {
    for await (const item of iterable) void item;
  };
  await t.throwsAsync(drain(view.records('ExtCell')), { message: /longer than 4096/ });
  await t.throwsAsync(drain(view.records('Rule')), { message: /21_rule\.pjson:1.*_source/ });
  await t.throwsAsync(drain(view.dav()), { message: /bad-meta.*not a JSON object/ });
  await view.close();
  await t.throwsAsync(view.cellRecord(), { message: /closed/ });
  t.throws(() => new FsCellDataSource({ root: '' }));
  t.throws(() => new FsCellDataSource({ root, maxLineBytes: 0 }));
});

/** Every piece `recordLines` yields for a type, joined, as text. */
async function recordText(source: FsCellDataSource, name: string, type: 'Box' | 'Role' | 'Rule' | 'ExtCell'): Promise<string> {
  const view = await source.openExport(await mustGetCell(source, name), new AbortController().signal);
  try {
    const pieces: Buffer[] = [];
    for await (const piece of view.recordLines?.(type) ?? []) pieces.push(piece);
    return Buffer.concat(pieces).toString('utf8');
  } finally {
    await view.close();
  }
}

test('export: recordLines copies lines written as recordJson and writes any other line anew, blank ones dropped', async (t) => {
  const root = await fixtureRoot(t);
  const canonical: ODataRecord = { _index: 'u0', _type: 'Role', _source: { s: { Name: 'é€😀 \\ "' }, c: 'x', n: 1.5 }, _id: 'a' };
  const spaced = '{ "_index": "u0", "_type": "Role", "_source": {"n": 2.50, "c": "x"}, "_id": "b" }';
  const reordered = '{"_id":"c","_type":"Role","_index":"u0","_source":{"t":"\\u0041\\/"},"extra":1}';
  const twice = '{"_index":"u0","_type":"Role","_source":{"k":1,"k":2},"_id":"d"}';
  const text = `\n  \r\n${recordJson(canonical)}\r\n${spaced}\n\n${reordered}\n${twice}\n${recordJson(canonical)}`;
  await writeFile(join(root, 'bob', '20_role.pjson'), text);
  const source = new FsCellDataSource({ root });
  const expected = [
    canonical,
    { _index: 'u0', _type: 'Role', _source: { n: 2.5, c: 'x' }, _id: 'b' },
    { _index: 'u0', _type: 'Role', _source: { t: 'A/' }, _id: 'c' },
    { _index: 'u0', _type: 'Role', _source: { k: 2 }, _id: 'd' },
    canonical,
  ];
  t.is(await recordText(source, 'bob', 'Role'), expected.map((r) => `${recordJson(r)}\n`).join(''));
  t.is(await recordText(source, 'bob', 'Rule'), '', 'a type without a file has no lines');
});

test('export: recordLines refuses what records refuses, with the same line numbers', async (t) => {
  const root = await fixtureRoot(t);
  const good = recordJson({ _index: 'x', _type: 'Box', _source: {}, _id: 'g' });
  await writeFile(join(root, 'bob', '10_box.pjson'), `${good}\n\n${good}\n{"_index":"x"\n`);
  await writeFile(join(root, 'bob', '20_role.pjson'), `${good}\r\n${good}\r\n  \r\nnot json`);
  await writeFile(join(root, 'bob', '21_rule.pjson'), '{"_index":"x","_type":"Rule","_id":"r"}\n');
  await writeFile(join(root, 'bob', '12_extcell.pjson'), `${good}\n${recordJson({ _index: 'x', _type: 'ExtCell', _source: { pad: 'x'.repeat(5000) }, _id: 'long' })}\n`);
  const source = new FsCellDataSource({ root, maxLineBytes: 4096 });
  await t.throwsAsync(recordText(source, 'bob', 'Box'), { message: 'Invalid JSON at 10_box.pjson:4' });
  await t.throwsAsync(recordText(source, 'bob', 'Role'), { message: 'Invalid JSON at 20_role.pjson:4' });
  await t.throwsAsync(recordText(source, 'bob', 'Rule'), { message: 'Invalid record at 21_rule.pjson:1: _source is not an object' });
  await t.throwsAsync(recordText(source, 'bob', 'ExtCell'), { message: 'Line 2 is longer than 4096 bytes' });
});

test('a missing root has no cells', async (t) => {
  const source = new FsCellDataSource({ root: join(await tempDir(t), 'absent') });
  t.is(await source.getCell('alice'), undefined);
});

/** Writes a cell of `count` UserData records (about 600 bytes each) and an empty target cell. */
async function writeBigCell(root: string, count: number): Promise<void> {
  const cell = (name: string, id: string): string =>
    recordJson({ _index: 'u0_ad.cell', _type: 'Cell', _source: { s: { Name: name }, h: {}, p: 0, u: 0 }, _id: id });
  await mkdir(join(root, 'big', 'dav'), { recursive: true });
  await writeFile(join(root, 'big', 'cell.json'), cell('big', 'b'.repeat(32)));
  await writeFile(join(root, 'big', 'dav', '.pmeta'), '{"t":"Cell"}');
  await mkdir(join(root, 'copy'));
  await writeFile(join(root, 'copy', 'cell.json'), cell('copy', 'c'.repeat(32)));
  const out = createWriteStream(join(root, 'big', '70_userdata.pjson'));
  for (let i = 0; i < count; i++) {
    const line =
      recordJson({
        _index: 'u0_big.userdata',
        _type: 'UserData',
        _source: {
          p: i,
          b: 'box0000000000000000000',
          s: { __id: `row-${i}`, text: `${i}:`.padEnd(400, 'lorem ipsum ') },
          c: 'b'.repeat(32),
          t: 'type000000000000000000',
          u: i,
          h: {},
          l: [],
          type: 'UserData',
          n: 'node000000000000000000',
        },
        _id: `${i}`.padStart(22, '0'),
      }) + '\n';
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

test.serial('a cell of 100,000 records exports and imports with flat memory', async (t) => {
  const count = 100_000;
  const root = join(await tempDir(t, 'kcs-big-'), 'cells');
  await writeBigCell(root, count);
  const source = new FsCellDataSource({ root });
  const big = await mustGetCell(source, 'big');
  const copy = await mustGetCell(source, 'copy');

  // What the export and import hold while the records flow, measured after a full collection every
  // 10,000 records (garbage not yet collected is no memory the code holds).
  const baseline = retainedHeap();
  const peak = { bytes: baseline };
  const view = await source.openExport(big, new AbortController().signal);
  t.is((await view.totals).records, count);
  const tx = await source.beginImport(copy, new AbortController().signal);
  try {
    const record = await view.cellRecord();
    await tx.putCellRecord({ ...record, _id: copy.id, _source: { ...record._source, s: { Name: 'copy' } } });
    for (const type of ODATA_TYPES) await tx.putRecords(type, measuredEvery(view.records(type), 10_000, peak));
    for await (const node of view.dav()) await tx.putDav({ path: node.path, meta: node.meta });
    await tx.commit();
  } finally {
    await view.close();
  }
  const after = await source.openExport(await mustGetCell(source, 'copy'), new AbortController().signal);
  let n = 0;
  for await (const record of measuredEvery(after.records('UserData'), 10_000, peak)) {
    if (n === count - 1) t.is(record._id, `${count - 1}`.padStart(22, '0'));
    n++;
  }
  t.is((await after.totals).records, count);
  await after.close();
  t.is(n, count);
  const growth = peak.bytes - baseline;
  t.log(`retained heap growth during a ${count}-record export + import + re-export: ${(growth / 2 ** 20).toFixed(1)} MiB`);
  // The records are ~60 MB of JSON; holding them (as text or objects) would grow the heap far beyond this.
  t.true(growth < 48 * 2 ** 20, `heap grew by ${growth} bytes`);
});
