/**
 * The data-path benchmark, on generated cells of the shapes of `make-cell.ts` (records-heavy,
 * small files, large files): our export (the export view streamed into a zip) against `zip -r -6` of
 * the same snapshot unpacked, our verifying reader against `unzip -t`, and our import (verify, stage,
 * swap) against `unzip -d` of the same snapshot, all measured in the same run, with peak memory for
 * each (our phases report their own maxRSS; the tools are measured by /usr/bin/time). Each phase runs
 * in its own process.
 *
 * The machine's speed drifts from minute to minute (the same run can take a third longer a minute
 * later), so each shape runs in rounds: in a round each of our phases runs right next to its
 * reference, and the table gives the median time of each side and the median of the rounds' ratios.
 * Each round imports into an empty cell of its own.
 *
 * Every measured step starts once the disk has written back what the steps before it wrote (`sync`)
 * and with its input read just before (into the page cache), and the two sides of a pair take turns
 * going first. Without this the order of the pair, not the code, decided much of the ratio: an
 * import that starts while the disk still writes back the 300 MB `unzip -d` just wrote runs up to
 * half as fast again, and this machine's page cache lets go of files within a minute, so `zip -r`
 * read a tree `unzip -d` had just written while our export read a cell written minutes before (the
 * WebDAV walk of the small-file cell: 0.4 s from the cache, 7.8 s from the disk).
 *
 *   npx tsx bench/data-path.ts [--rounds N] [shape ...]
 *       shapes: records small-files large-files (default: all), or a size in MB for the older
 *       2%-records shape; N rounds per shape (default 4: an even number, so that each side
 *       goes first as often as the other)
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type CellShape, SHAPES, makeCell, shapeOfMb } from './make-cell.js';
import { median, takeRounds } from './rounds.js';

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

/** One side of a pair: what it reads, and how it runs. */
interface Side {
  /** Files or folders it reads: read into the page cache just before it runs. */
  readonly input: string;
  readonly measure: () => Promise<Measure>;
}

/** Runs a side once the disk has written back what earlier steps wrote, with its input cached. */
async function settled(side: Side): Promise<Measure> {
  await run('sync');
  await run('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', 'warm', side.input], { maxBuffer: 2 ** 20 });
  return side.measure();
}

/** Our side and the reference's, each settled, the reference first in even rounds, ours in odd. */
async function pair(round: number, oursSide: Side, reference: Side): Promise<[Measure, Measure]> {
  if (round % 2 === 0) {
    const theirs = await settled(reference);
    return [await settled(oursSide), theirs];
  }
  const mine = await settled(oursSide);
  return [mine, await settled(reference)];
}

async function tool(command: string, args: string[], cwd: string): Promise<Measure> {
  const started = performance.now();
  const { stderr } = await run('/usr/bin/time', ['-f', '%M', command, ...args], { cwd, maxBuffer: 64 * 2 ** 20 });
  const ms = Math.round(performance.now() - started);
  return { ms, maxRssMb: Math.round(Number(stderr.trim().split('\n').at(-1)) / 1024) };
}

/** One of our phases and its reference, over the rounds. */
class Pair {
  readonly ours: Measure[] = [];
  readonly reference: Measure[] = [];

  constructor(readonly what: string) {}

  add(ours: Measure, reference: Measure): void {
    this.ours.push(ours);
    this.reference.push(reference);
  }

  row(): string {
    const ms = (list: Measure[]): number => Math.round(median(list.map((m) => m.ms)));
    const rss = (list: Measure[]): number => Math.max(...list.map((m) => m.maxRssMb));
    const ratios = this.ours.map((m, i) => m.ms / (this.reference[i] as Measure).ms);
    const each = ratios.length > 1 ? ` (${ratios.map((r) => r.toFixed(2)).join(', ')})` : '';
    return `| ${this.what} | ${ms(this.ours)} ms | ${ms(this.reference)} ms | ${median(ratios).toFixed(2)}${each} | ${rss(this.ours)} MB | ${rss(this.reference)} MB |`;
  }
}

function shapeOf(arg: string): [string, CellShape] {
  if (arg in SHAPES) return [arg, SHAPES[arg as keyof typeof SHAPES]];
  const mb = Number(arg);
  if (!(mb > 0)) throw new Error(`unknown shape ${arg}: use ${Object.keys(SHAPES).join(', ')} or a size in MB`);
  return [`${mb} MB`, shapeOfMb(mb)];
}

const args = process.argv.slice(2);
const rounds = takeRounds(args, 4);
const shapes = (args.length > 0 ? args : Object.keys(SHAPES)).map(shapeOf);
const work = await mkdtemp(join(tmpdir(), 'kcs-bench-'));
try {
  console.log(`node ${process.version}, ${(await run('nproc')).stdout.trim()} cores, ${rounds} round(s) per shape; the reference goes first in rounds 1, 3, …, ours in rounds 2, 4, …`);
  for (const [label, shape] of shapes) {
    const root = join(work, 'cells');
    await mkdir(root);
    await makeCell(root, 'source', shape);
    const zip = join(work, 'ours.zip');
    const extractDir = join(work, 'extract');
    const refZip = join(work, 'ref.zip');
    await ours('write', root, 'source', zip);
    const exported = new Pair('export (export view → zip) vs `zip -r -6` of the unpacked snapshot');
    const verified = new Pair('verify (SHA-256 + parse) vs `unzip -t`');
    const imported = new Pair('import (verify + stage + swap) vs `unzip -d`');
    for (let round = 0; round < rounds; round += 1) {
      const target = `target${round}`;
      await makeCell(root, target, { records: 0, files: 0, fileBytes: 0 });
      await rm(extractDir, { recursive: true, force: true });
      imported.add(...(await pair(round, { input: zip, measure: () => ours('import', root, target, zip) }, { input: zip, measure: () => tool('unzip', ['-q', '-o', zip, '-d', extractDir], work) })));
      await rm(join(root, target), { recursive: true, force: true });
      await rm(refZip, { force: true });
      exported.add(
        ...(await pair(
          round,
          { input: join(root, 'source'), measure: () => ours('write', root, 'source', zip) },
          { input: extractDir, measure: () => tool('zip', ['-r', '-q', '-6', refZip, '.'], extractDir) },
        )),
      );
      verified.add(...(await pair(round, { input: zip, measure: () => ours('verify', zip) }, { input: zip, measure: () => tool('unzip', ['-t', '-q', zip], work) })));
    }
    const size = (await stat(zip)).size;
    const files = shape.fileBytes === 0 ? 'one-line' : `${shape.fileBytes / 2 ** 20} MiB`;
    console.log(`\n### ${label}: ${shape.records} records, ${shape.files} ${files} files; snapshot ${Math.round(size / 2 ** 20)} MB\n`);
    console.log('| phase | ours (median) | reference (median) | ratio (median of the rounds) | our peak RSS | reference peak RSS |');
    console.log('|---|---|---|---|---|---|');
    for (const pair of [exported, verified, imported]) console.log(pair.row());
    for (const path of [root, extractDir, zip, refZip]) await rm(path, { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
