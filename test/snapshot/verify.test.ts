/**
 * verifySnapshot: a report of everything read, never an exception for a bad archive.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { ODATA_TYPES } from '../../lib/snapshot/format.js';
import { fileSource, type RandomAccessSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryView, sampleData } from '../helpers/view.js';
import { dataOffset, flipByte, craftEntriesOf, craftZip, run, writeToFile } from './zip-tools.js';
import { needing } from '../helpers/tools.js';

const zipTest = needing(test, 'zip', 'unzip');

test('a good snapshot: ok, with the counts, the manifest and sha256 integrity', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  const data = sampleData();
  const view = memoryView(data);
  await writeToFile(view, file);
  let bytes = 0;
  const report = await verifySnapshot(await fileSource(file), { onBytes: (n) => (bytes += n) });
  t.true(report.ok);
  t.is(report.error, undefined);
  t.is(report.integrity, 'sha256');
  t.deepEqual(report.manifest, { export_version: 2, unit_url: 'https://unit.example/', create_date: 1669806000000 });
  const counts: Record<string, number> = {};
  for (const type of ODATA_TYPES) counts[type] = data.records?.[type]?.length ?? 0;
  t.deepEqual(report.counts, counts);
  t.is(report.davNodes, (await view.totals).davNodes);
  t.is(report.contentBytes, (await view.totals).bytes);
  t.true(bytes > report.contentBytes, 'every entry was read');
});

zipTest('a snapshot without 99_integrity.json (made by zip): ok, crc32-only', async (t) => {
  const dir = await tempDir(t);
  const written = join(dir, 'written.zip');
  await writeToFile(memoryView(sampleData()), written);
  const tree = join(dir, 'tree');
  t.is((await run('unzip', ['-q', written, '-d', tree])).code, 0);
  await rm(join(tree, '99_integrity.json'));
  const file = join(dir, 'cli.zip');
  t.is((await run('zip', ['-r', '-q', file, '00_manifest.json', '10_odata', '20_webdav'], { cwd: tree })).code, 0);
  const report = await verifySnapshot(await fileSource(file));
  t.true(report.ok, JSON.stringify(report.error));
  t.is(report.integrity, 'crc32-only');
  t.is(report.davNodes, sampleData().dav?.length ?? 0);
});

test('bad archives are reported, never thrown', async (t) => {
  const dir = await tempDir(t);
  const notZip = join(dir, 'not.zip');
  await writeFile(notZip, 'hello');
  const report = await verifySnapshot(await fileSource(notZip));
  t.false(report.ok);
  t.deepEqual(report.error, { code: 'PR400-MC-0004', message: { lang: 'en', value: 'The specified snapshot file is not zip file.' } });
  t.is(report.manifest, undefined);
  t.is(report.integrity, 'crc32-only');
  t.is(report.davNodes, 0);

  // One byte of a stored content flipped: found while reading, after what came before was counted.
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  await flipByte(file, (await dataOffset(file, '20_webdav/__/docs/noise.bin/content')) + 1000);
  const flipped = await verifySnapshot(await fileSource(file));
  t.false(flipped.ok);
  t.is(flipped.error?.code, 'PR400-SN-0003');
  t.is(flipped.error?.message.value, 'Snapshot integrity check failed. [20_webdav/__/docs/noise.bin/content]');
  t.is(flipped.integrity, 'sha256');
  t.is(flipped.counts['UserData'], 50, 'the records were all read before');
  t.true(flipped.davNodes > 0 && flipped.davNodes < (sampleData().dav?.length ?? 0));
});

test('an ignored entry that is corrupt fails verification (though an import never reads it)', async (t) => {
  const dir = await tempDir(t);
  const written = join(dir, 'written.zip');
  await writeToFile(memoryView(sampleData()), written);
  const entries = (await craftEntriesOf(written)).filter((e) => e.name !== '99_integrity.json');
  const file = join(dir, 'extra.zip');
  await craftZip(file, [...entries, { name: 'notes/readme.txt', data: 'some notes that nobody imports', compress: false }]);
  t.true((await verifySnapshot(await fileSource(file))).ok);
  await flipByte(file, await dataOffset(file, 'notes/readme.txt'));
  const report = await verifySnapshot(await fileSource(file));
  t.false(report.ok);
  t.is(report.error?.message.value, 'Snapshot integrity check failed. [notes/readme.txt]');
  t.is(report.davNodes, sampleData().dav?.length ?? 0);
});

test('a failing source is reported as PR500-SV-0000, not thrown', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const inner = await fileSource(file);
  let reads = 0;
  const source: RandomAccessSource = {
    size: inner.size,
    async read(range) {
      reads += 1;
      if (reads > 4) {
        return new Readable({
          read() {
            this.destroy(new Error('EIO: the disk went away'));
          },
        });
      }
      return inner.read(range);
    },
  };
  const report = await verifySnapshot(source);
  t.false(report.ok);
  t.is(report.error?.code, 'PR500-SV-0000');
});

test('an abort rejects verifySnapshot with the reason', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'snap.zip');
  await writeToFile(memoryView(sampleData()), file);
  const controller = new AbortController();
  const reason = new Error('enough');
  controller.abort(reason);
  await t.throwsAsync(verifySnapshot(await fileSource(file), { signal: controller.signal }), { is: reason });
});
