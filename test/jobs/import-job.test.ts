/**
 * importSnapshot's records path: into a transaction that takes `.pjson` lines, the cell staged is the
 * one staged record by record; a line that is not a record is `PR400-CM-0004` and a corrupt entry
 * `PR400-SN-0003` (which wins), either way, the target cell unchanged and nothing left over.
 */
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { digestCell } from '../../lib/contract/cell-data-source.js';
import { isPersoniumError } from '../../lib/errors.js';
import { importSnapshot } from '../../lib/jobs/import-job.js';
import { recordJson } from '../../lib/snapshot/format.js';
import { openSnapshot } from '../../lib/snapshot/reader.js';
import { fileSource } from '../../lib/snapshot/source.js';
import type { CellDataSource, CellInfo } from '../../lib/types.js';
import { expectedAfterImport } from '../helpers/cell-digest.js';
import { tempDir } from '../helpers/tmp.js';
import { record } from '../helpers/view.js';
import { craftEntriesOf, craftZip, patchCentral, writeToFile } from '../snapshot/zip-tools.js';

const FIXTURE_CELLS = fileURLToPath(new URL('../../fixtures/cells/', import.meta.url));

interface Setup {
  readonly root: string;
  readonly cells: FsCellDataSource;
  readonly bob: CellInfo;
  /** alice's export, with many more UserData records (so that the entry is read in many pieces). */
  readonly zip: string;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const dir = await tempDir(t);
  const root = join(dir, 'cells');
  await cp(FIXTURE_CELLS, root, { recursive: true });
  const many = Array.from({ length: 5000 }, (_, i) => recordJson(record('UserData', `u${i}`, { s: { Name: `é€😀 ${i}` } })));
  await writeFile(join(root, 'alice', '70_userdata.pjson'), `${many.join('\n')}\n`);
  const cells = new FsCellDataSource({ root });
  const alice = await cells.getCell('alice');
  const bob = await cells.getCell('bob');
  if (alice === undefined || bob === undefined) throw new Error('fixture cells missing');
  const zip = join(dir, 'alice.zip');
  const view = await cells.openExport(alice, new AbortController().signal);
  try {
    await writeToFile(view, zip);
  } finally {
    await view.close();
  }
  return { root, cells, bob, zip };
}

/** The source as an import sees it through a transaction without `putRecordLines` (records one by one). */
function withoutLines(cells: FsCellDataSource): CellDataSource {
  return {
    getCell: (name) => cells.getCell(name),
    openExport: (cell, signal) => cells.openExport(cell, signal),
    async beginImport(cell, signal) {
      const { putCellRecord, putRecords, putDav, commit, rollback } = await cells.beginImport(cell, signal);
      return { putCellRecord, putRecords, putDav, commit, rollback };
    },
  };
}

async function importInto({ cells, bob }: Setup, zip: string, lines: boolean): Promise<void> {
  const reader = await openSnapshot(await fileSource(zip));
  const target = lines ? cells : withoutLines(cells);
  await importSnapshot({ cells: target, cell: bob, reader, signal: new AbortController().signal, onError: (e) => { throw e; } });
}

test('records staged as lines give the same cell as records staged one by one', async (t) => {
  const a = await setup(t);
  const aliceBefore = await digestCell(a.cells, 'alice');
  await importInto(a, a.zip, true);
  t.deepEqual(await digestCell(a.cells, 'bob'), expectedAfterImport(aliceBefore, a.bob));
  const b = await setup(t);
  await importInto(b, b.zip, false);
  t.deepEqual(await digestCell(b.cells, 'bob'), await digestCell(a.cells, 'bob'));
});

test('a line that is not a record: PR400-CM-0004, as lines or records; with a corrupt entry: PR400-SN-0003', async (t) => {
  const s = await setup(t);
  const bobBefore = await digestCell(s.cells, 'bob');
  // Without the integrity list, whose SHA-256 of the changed entry would no longer match.
  const entries = (await craftEntriesOf(s.zip)).filter((e) => e.name !== '99_integrity.json');
  const userData = entries.find((e) => e.name === '10_odata/70_userdata.pjson');
  if (userData === undefined) throw new Error('no UserData entry');
  const lines = Buffer.from(userData.data ?? '').toString('utf8').split('\n');
  lines.splice(4000, 0, '{"_index":"u0","_type":"UserData"}');
  const bad = join(await tempDir(t), 'bad.zip');
  await craftZip(bad, entries.map((e) => (e === userData ? { ...e, data: lines.join('\n') } : e)));
  for (const lines of [true, false]) {
    const error = await t.throwsAsync(importInto(s, bad, lines));
    t.true(isPersoniumError(error));
    t.is((error as { code?: string }).code, 'PR400-CM-0004');
    t.is(error?.message, 'JSON parse error. [{"_index":"u0","_type":"UserData"}].');
  }
  // The same bad line in an entry whose CRC-32 does not match: the failed check wins.
  const corrupt = join(await tempDir(t), 'corrupt.zip');
  await craftZip(corrupt, entries.map((e) => (e === userData ? { ...e, data: lines.join('\n') } : e)));
  // Its CRC-32 in the central directory, one bit off.
  await patchCentral(corrupt, userData.name, (bytes, at) => bytes.writeUInt32LE((bytes.readUInt32LE(at + 16) ^ 1) >>> 0, at + 16));
  for (const lines of [true, false]) {
    const error = await t.throwsAsync(importInto(s, corrupt, lines));
    t.is((error as { code?: string }).code, 'PR400-SN-0003');
  }
  t.deepEqual(await digestCell(s.cells, 'bob'), bobBefore, 'bob unchanged');
  t.deepEqual((await readdir(s.root)).filter((n) => n.startsWith('.')), [], 'no staging left');
});
