/**
 * One measured phase of a benchmark, run in its own process so that its peak memory (maxRSS) is its
 * own. Prints one JSON line: `{ phase, ms, maxRssMb }`.
 *
 *   tsx bench/phase.ts write  <cellsRoot> <cell> <out.zip>
 *   tsx bench/phase.ts verify <file.zip>
 *   tsx bench/phase.ts import <cellsRoot> <cell> <file.zip>
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { FsCellDataSource } from '../lib/adapters/fs/cell-data-source.js';
import { importSnapshot } from '../lib/jobs/import-job.js';
import { openSnapshot } from '../lib/snapshot/reader.js';
import { fileSource } from '../lib/snapshot/source.js';
import { verifySnapshot } from '../lib/snapshot/verify.js';
import { writeSnapshot } from '../lib/snapshot/writer.js';

const [phase, ...args] = process.argv.slice(2);
const started = performance.now();
const signal = new AbortController().signal;

async function cellOf(root: string, name: string) {
  const cells = new FsCellDataSource({ root });
  const cell = await cells.getCell(name);
  if (cell === undefined) throw new Error(`no cell ${name} in ${root}`);
  return { cells, cell };
}

if (phase === 'write') {
  const [root = '', name = '', out = ''] = args;
  const { cells, cell } = await cellOf(root, name);
  const view = await cells.openExport(cell, signal);
  const sink = new PassThrough();
  await Promise.all([writeSnapshot(view, sink, { unitUrl: 'https://unit.example/' }), pipeline(sink, createWriteStream(out))]);
  await view.close();
} else if (phase === 'verify') {
  const report = await verifySnapshot(await fileSource(args[0] ?? ''));
  if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.error)}`);
} else if (phase === 'import') {
  const [root = '', name = '', zip = ''] = args;
  const { cells, cell } = await cellOf(root, name);
  const reader = await openSnapshot(await fileSource(zip));
  await importSnapshot({ cells, cell, reader, signal, onError: (e) => console.error(e) });
} else {
  throw new Error(`unknown phase ${String(phase)}`);
}
const ms = Math.round(performance.now() - started);
const cpu = process.cpuUsage();
const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
process.stdout.write(`${JSON.stringify({ phase, ms, cpuMs, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
