/**
 * The data-path benchmark, on generated cells of the shapes of `make-cell.ts` (records-heavy,
 * small files, large files): our export (the export view streamed into a zip) against `zip -r -6` of
 * the same snapshot unpacked, our verifying reader against `unzip -t`, and our import (verify, stage,
 * swap) against `unzip -d` of the same snapshot, all measured in the same run, with peak memory for
 * each (our phases report their own maxRSS; the tools are measured by /usr/bin/time). Each phase runs
 * in its own process.
 *
 *   npx tsx bench/data-path.ts [shape ...]     shapes: records small-files large-files (default: all),
 *                                              or a size in MB for the older 2%-records shape
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type CellShape, SHAPES, makeCell, shapeOfMb } from './make-cell.js';

const run = promisify(execFile);
const PHASE = fileURLToPath(new URL('./phase.ts', import.meta.url));

interface Measure {
  readonly ms: number;
  readonly maxRssMb: number;
}

async function ours(...args: string[]): Promise<Measure> {
  const { stdout } = await run(process.execPath, ['--import=tsx', PHASE, ...args], { maxBuffer: 2 ** 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Measure;
}

async function tool(command: string, args: string[], cwd: string): Promise<Measure> {
  const started = performance.now();
  const { stderr } = await run('/usr/bin/time', ['-f', '%M', command, ...args], { cwd, maxBuffer: 64 * 2 ** 20 });
  const ms = Math.round(performance.now() - started);
  return { ms, maxRssMb: Math.round(Number(stderr.trim().split('\n').at(-1)) / 1024) };
}

const row = (what: string, a: Measure, b: Measure): string =>
  `| ${what} | ${a.ms} ms | ${b.ms} ms | ${(a.ms / b.ms).toFixed(2)} | ${a.maxRssMb} MB | ${b.maxRssMb} MB |`;

function shapeOf(arg: string): [string, CellShape] {
  if (arg in SHAPES) return [arg, SHAPES[arg as keyof typeof SHAPES]];
  const mb = Number(arg);
  if (!(mb > 0)) throw new Error(`unknown shape ${arg}: use ${Object.keys(SHAPES).join(', ')} or a size in MB`);
  return [`${mb} MB`, shapeOfMb(mb)];
}

const args = process.argv.slice(2);
const shapes = (args.length > 0 ? args : Object.keys(SHAPES)).map(shapeOf);
const work = await mkdtemp(join(tmpdir(), 'kcs-bench-'));
try {
  console.log(`node ${process.version}, ${(await run('nproc')).stdout.trim()} cores`);
  for (const [label, shape] of shapes) {
    const root = join(work, 'cells');
    await mkdir(root);
    await makeCell(root, 'source', shape);
    await makeCell(root, 'target', { records: 0, files: 0, fileBytes: 0 });
    const zip = join(work, 'ours.zip');
    const extractDir = join(work, 'extract');
    const write = await ours('write', root, 'source', zip);
    const verify = await ours('verify', zip);
    const testRef = await tool('unzip', ['-t', '-q', zip], work);
    const extractRef = await tool('unzip', ['-q', '-o', zip, '-d', extractDir], work);
    const zipRef = await tool('zip', ['-r', '-q', '-6', join(work, 'ref.zip'), '.'], extractDir);
    const imported = await ours('import', root, 'target', zip);
    const size = (await stat(zip)).size;
    const files = shape.fileBytes === 0 ? 'one-line' : `${shape.fileBytes / 2 ** 20} MiB`;
    console.log(`\n### ${label}: ${shape.records} records, ${shape.files} ${files} files; snapshot ${Math.round(size / 2 ** 20)} MB\n`);
    console.log('| phase | ours | reference | ratio | our peak RSS | reference peak RSS |');
    console.log('|---|---|---|---|---|---|');
    console.log(row('export (export view → zip) vs `zip -r -6` of the unpacked snapshot', write, zipRef));
    console.log(row('verify (CRC-32 + SHA-256 + parse) vs `unzip -t`', verify, testRef));
    console.log(row('import (verify + stage + swap) vs `unzip -d`', imported, extractRef));
    for (const path of [root, extractDir, zip, join(work, 'ref.zip')]) await rm(path, { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
