/**
 * The whole data path on a generated cell large enough to need ZIP64 by entry count: FsCellDataSource
 * export view → writer → FsSnapshotStore → reader (ranged reads) → FsCellDataSource import → export
 * view, reproducing every record and every byte with the target's identity. Minutes: `npm run test:slow`.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import avaTest from 'ava';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { importSnapshot } from '../../lib/jobs/import-job.js';
import { ODATA_FILES } from '../../lib/snapshot/format.js';
import { openSnapshot } from '../../lib/snapshot/reader.js';
import { storeSource } from '../../lib/snapshot/source.js';
import { writeSnapshot } from '../../lib/snapshot/writer.js';
import type { CellInfo } from '../../lib/types.js';
import { expectedAfterImport } from '../helpers/cell-digest.js';
import { digestCell } from '../../lib/contract/cell-data-source.js';
import { tempDir } from '../helpers/tmp.js';
import { needing } from '../helpers/tools.js';

const test = needing(avaTest, 'unzip');

const run = promisify(execFile);
const RECORDS = 100_000;
const FILES = 33_000;

const meta = (type: string, extra: Record<string, unknown> = {}) => JSON.stringify({ i: 'I'.repeat(22), t: type, a: {}, d: {}, p: 1, u: 2, v: 1, ...extra });

async function writeCell(root: string, name: string, id: string, records: number, files: number): Promise<void> {
  const dir = join(root, name);
  await mkdir(join(dir, 'dav', '__'), { recursive: true });
  await writeFile(join(dir, 'cell.json'), JSON.stringify({ _index: 'u0_ad.cell', _type: 'Cell', _source: { s: { Name: name }, h: {}, p: 1, u: 1 }, _id: id }));
  const perType = Math.ceil(records / ODATA_FILES.length);
  let written = 0;
  for (const file of ODATA_FILES) {
    const out = createWriteStream(join(dir, file.path.slice('10_odata/'.length)));
    for (let i = 0; i < perType && written < records; i += 1, written += 1) {
      const line = JSON.stringify({ _index: 'u0_x', _type: file.type, _source: { s: { Name: `r${written}`, Text: 'é€😀\\/"' }, c: id, u: written }, _id: `${written}`.padStart(22, 'A') });
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
  await writeFile(join(dir, 'dav', '.pmeta'), meta('Cell'));
  await writeFile(join(dir, 'dav', '__', '.pmeta'), meta('col.box'));
  for (let start = 0; start < files; start += 1000) {
    const folder = join(dir, 'dav', '__', `d${start / 1000}`);
    await mkdir(folder);
    await writeFile(join(folder, '.pmeta'), meta('col.webdav'));
    const writes: Promise<void>[] = [];
    for (let f = start; f < Math.min(files, start + 1000); f += 1) {
      const resource = join(folder, `f${f}.txt`);
      const content = `file ${f}\n`;
      writes.push(
        mkdir(resource).then(async () => {
          await writeFile(join(resource, 'content'), content);
          await writeFile(join(resource, '.pmeta'), meta('dav.file', { ct: 'text/plain', cl: content.length, et: 'NONE' }));
        }),
      );
    }
    await Promise.all(writes);
  }
}

test('a 100,000-record cell with 66,000 entries (ZIP64 by count) survives export → store → import byte for byte', async (t) => {
  t.timeout(600_000);
  let last = Date.now();
  const lap = (what: string): void => {
    t.log(`${what}: ${Date.now() - last} ms`);
    last = Date.now();
  };
  const dir = await tempDir(t, 'kcs-roundtrip-');
  const cellsRoot = join(dir, 'cells');
  await writeCell(cellsRoot, 'big', 'b'.repeat(32), RECORDS, FILES);
  await writeCell(cellsRoot, 'copy', 'c'.repeat(32), 0, 0);
  lap('generate');
  const cells = new FsCellDataSource({ root: cellsRoot });
  const store = new FsSnapshotStore({ root: join(dir, 'snapshots') });
  const big = (await cells.getCell('big')) as CellInfo;
  const copy = (await cells.getCell('copy')) as CellInfo;
  const signal = new AbortController().signal;

  const view = await cells.openExport(big, signal);
  t.is((await view.totals).records, RECORDS);
  const upload = await store.write(big.id, 'big.zip', { contentType: 'application/zip' });
  await writeSnapshot(view, upload.stream, { unitUrl: 'https://unit.example/' });
  await view.close();
  await upload.commit();
  lap('export');

  const source = await storeSource(store, big.id, 'big.zip');
  if (source === undefined) return t.fail('big.zip missing');
  const reader = await openSnapshot(source);
  t.true(reader.totals.entries > 65_535, `${reader.totals.entries} entries need the ZIP64 end records`);
  const zipPath = join(dir, 'copy-of-big.zip');
  const stream = await store.read(big.id, 'big.zip');
  await new Promise<void>((resolve, reject) => stream?.pipe(createWriteStream(zipPath)).on('finish', () => resolve()).on('error', reject));
  const { stdout } = await run('unzip', ['-tq', zipPath], { maxBuffer: 2 ** 24 });
  t.regex(stdout, /No errors detected/);
  lap('unzip -t');

  await importSnapshot({ cells, cell: copy, reader, signal, onError: (error) => t.fail(String(error)) });
  lap('import');

  const original = await digestCell(cells, 'big');
  t.is(original.dav.length, FILES + 2 + Math.ceil(FILES / 1000));
  t.deepEqual(await digestCell(cells, 'copy'), expectedAfterImport(original, copy));
  lap('compare');
});
