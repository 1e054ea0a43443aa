/**
 * The writer at sizes that need ZIP64 for real, checked by Info-ZIP unzip, Python's zipfile and the
 * module's reader: 70,000 entries (past the 65,535 of a plain zip) and a 4 GiB + 5 MiB file with
 * entries beyond 4 GiB, written with flat memory. Minutes and gigabytes: `npm run test:slow`.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { openSnapshot } from '../../lib/snapshot/reader.js';
import { fileSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import type { DavNode, ExportView } from '../../lib/types.js';
import { tempDir } from '../helpers/tmp.js';
import { needing } from '../helpers/tools.js';
import { davOrder, generatedContent, memoryView } from '../helpers/view.js';
import { centralEntries, drain, pyTestzip, run, writeToFile } from './zip-tools.js';

const checkersTest = needing(test, 'unzip', 'python3');

/** Reads back everything with the module's reader and compares with the view's data. */
async function roundTrip(t: import('ava').ExecutionContext, file: string, files: number): Promise<void> {
  const reader = await openSnapshot(await fileSource(file));
  try {
    let nodes = 0;
    let previous: string | undefined;
    for await (const node of reader.dav()) {
      if (previous !== undefined) t.true(davOrder(previous, node.path) < 0);
      previous = node.path;
      if (node.content !== undefined) await drain(node.content);
      nodes += 1;
    }
    t.is(nodes, files);
  } finally {
    await reader.close();
  }
}

checkersTest.serial('ZIP64 by entry count: 70,006 entries', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'many.zip');
  const count = 35_000;
  const view: ExportView = {
    totals: { records: 0, davNodes: count + 1, bytes: count * 3 },
    cellRecord: () => memoryView({}).cellRecord(),
    async *records() {
      // none
    },
    async *dav(): AsyncGenerator<DavNode> {
      yield { path: '', meta: { t: 'Cell' } };
      for (let i = 0; i < count; i += 1) {
        const bytes = Buffer.from(`${i % 1000}\n`.padStart(3, '0'));
        yield { path: `f${String(i).padStart(6, '0')}`, meta: { t: 'dav.file', i }, content: { size: bytes.length, open: async () => Readable.from([bytes]) } };
      }
    },
    close: async () => undefined,
  };
  const started = Date.now();
  await writeToFile(view, file);
  t.log(`wrote ${2 * count + 19} entries in ${Date.now() - started} ms`);
  const unzip = await run('unzip', ['-tq', file]);
  t.is(unzip.code, 0, unzip.stdout + unzip.stderr);
  t.is(await pyTestzip(file), null);
  await roundTrip(t, file, count + 1);
});

checkersTest.serial('ZIP64 by size: a 4 GiB + 5 MiB file (stored), entries after it beyond 4 GiB', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'big.zip');
  const size = 2 ** 32 + 5 * 2 ** 20;
  const view = memoryView({
    dav: [
      { path: '', meta: { t: 'Cell' } },
      { path: '__', meta: { t: 'col.box' } },
      { path: '__/big.mp4', meta: { t: 'dav.file', ct: 'video/mp4' }, content: generatedContent(size, 'zero') },
      { path: '__/small.txt', meta: { t: 'dav.file', ct: 'text/plain' }, content: 'after the big one\n' },
    ],
  });
  let peak = 0;
  const before = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  let started = Date.now();
  await writeToFile(view, file);
  clearInterval(sampler);
  t.log(`wrote ${size} bytes in ${Date.now() - started} ms; RSS +${Math.round((peak - before) / 2 ** 20)} MiB`);
  t.true(peak - before < 200 * 2 ** 20, 'memory stays flat while writing 4 GiB');
  t.true((await stat(file)).size > size);
  const central = await centralEntries(file);
  const big = central.find((e) => e.name === '20_webdav/__/big.mp4/content');
  t.is(big?.uncompressedSize, size);
  const after = central.find((e) => e.name === '20_webdav/__/small.txt/content');
  t.true((after?.offset ?? 0) > 2 ** 32, 'an entry whose local header is beyond 4 GiB');
  // unzip checks the entries after the big one, found through ZIP64 offsets.
  const unzip = await run('unzip', ['-t', file, '20_webdav/__/small.txt/*', '99_integrity.json']);
  t.is(unzip.code, 0, unzip.stdout + unzip.stderr);
  const python = await run('python3', [
    '-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.getinfo("20_webdav/__/big.mp4/content").file_size, z.read("20_webdav/__/small.txt/content").decode())',
    file,
  ]);
  t.is(python.stdout, `${size} after the big one\n\n`);
  started = Date.now();
  const report = await verifySnapshot(await fileSource(file));
  t.log(`verified in ${Date.now() - started} ms`);
  t.true(report.ok, JSON.stringify(report.error));
  t.is(report.contentBytes, size + 18);
});
