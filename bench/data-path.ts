/**
 * The data-path benchmark: the writer against `zip -r`, the verifying reader against `unzip -t`, and
 * the import against `unzip -d`, on the same generated cell, measured in the same run, with peak
 * memory for each (our phases report their own maxRSS; the tools are measured by /usr/bin/time).
 *
 *   npx tsx bench/data-path.ts [sizeMb ...]     (default: 200 2000)
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeCell } from './make-cell.js';

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

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const work = await mkdtemp(join(tmpdir(), 'kcs-bench-'));
try {
  console.log(`node ${process.version}, ${(await run('nproc')).stdout.trim()} cores`);
  for (const mb of sizes.length > 0 ? sizes : [200, 2000]) {
    const root = join(work, `cells-${mb}`);
    await mkdir(root);
    const made = await makeCell(root, 'source', mb);
    await makeCell(root, 'target', 1);
    const zip = join(work, `ours-${mb}.zip`);
    const write = await ours('write', root, 'source', zip);
    const zipRef = await tool('zip', ['-r', '-q', join(work, `ref-${mb}.zip`), 'source'], root);
    const verify = await ours('verify', zip);
    const testRef = await tool('unzip', ['-t', '-q', zip], work);
    const imported = await ours('import', root, 'target', zip);
    const extractDir = join(work, `extract-${mb}`);
    const extractRef = await tool('unzip', ['-q', '-o', zip, '-d', extractDir], work);
    const size = (await stat(zip)).size;
    console.log(`\n### ${mb} MB cell (${made.records} records, ${made.files} files; snapshot ${Math.round(size / 2 ** 20)} MB)\n`);
    console.log('| phase | ours | reference | ratio | our peak RSS | reference peak RSS |');
    console.log('|---|---|---|---|---|---|');
    console.log(row('write (export view → zip) vs `zip -r`', write, zipRef));
    console.log(row('verify (CRC-32 + SHA-256 + parse) vs `unzip -t`', verify, testRef));
    console.log(row('import (verify + stage + swap) vs `unzip -d`', imported, extractRef));
    await rm(root, { recursive: true, force: true });
    await rm(extractDir, { recursive: true, force: true });
    await rm(zip, { force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
