/**
 * The benchmark suite: runs each standalone benchmark of bench/ one after another, each in its own
 * Node process with the tsx loader, printing a heading and then the benchmark's own output. The
 * other files of bench/ are helpers (make-cell.ts generates cells, phase.ts is one measured phase of
 * data-path.ts, server.ts is the host that polling.ts and export-start.ts start through host.ts,
 * rounds.ts and thread-times.ts are shared measuring helpers). Exits 1 if any benchmark fails.
 *
 *   npm run bench [-- --quick]          (or: npx tsx bench/run.ts [--quick] [--help])
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Benchmark {
  /** The script in bench/. */
  readonly script: string;
  readonly title: string;
  /** Arguments for `--quick`: small sizes taken from the script's own arguments. */
  readonly quick: readonly string[];
}

const BENCHMARKS: readonly Benchmark[] = [
  // shape ... (default: records small-files large-files), or a size in MB: a 20 MB cell is four
  // 4 MiB files and the records.
  { script: 'data-path.ts', title: 'Data path: export, verify, import against zip -r, unzip -t, unzip -d', quick: ['--rounds', '1', '20'] },
  // cellMb (default 1000): per job store, four rounds of eight 3-second loads whatever the size; a
  // 40 MB cell's export ends before the loads do, so the quick figures only show that it runs.
  { script: 'polling.ts', title: 'Status reads and the host route during an export', quick: ['40'] },
  // cellMb windowMs (default 1000 1500): three fresh hosts, four exports each.
  { script: 'export-start.ts', title: "The event loop's longest block as an export starts", quick: ['--rounds', '1', '40', '500'] },
  // N ... (default 5000 20000 60000): four writers per N, each in its own process.
  { script: 'yazl.ts', title: 'Why the writer is not yazl', quick: ['2000'] },
];

const USAGE = `Usage: npx tsx bench/run.ts [options]      (npm run bench [-- options])

Runs ${BENCHMARKS.map((b) => b.script).join(', ')} one after another, each with its default sizes.

Options:
  --quick     small sizes (${BENCHMARKS.map((b) => `${b.script} ${b.quick.join(' ')}`).join('; ')}): about four minutes in all, most of it the polling loads
  -h, --help  print this help and exit`;

const options = process.argv.slice(2);
if (options.includes('--help') || options.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = options.filter((option) => option !== '--quick');
if (unknown.length > 0) {
  console.error(`bench/run.ts: unknown option ${unknown.join(' ')}\n\n${USAGE}`);
  process.exit(2);
}
const quick = options.includes('--quick');

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);

/** Runs one benchmark with inherited stdio; resolves with a failure description, or undefined. */
async function runOne(benchmark: Benchmark): Promise<string | undefined> {
  const args = quick ? [...benchmark.quick] : [];
  console.log(`\n## ${benchmark.title} (\`npx tsx bench/${[benchmark.script, ...args].join(' ')}\`)\n`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--import=tsx', join(BENCH, benchmark.script), ...args], { cwd: ROOT, stdio: 'inherit' });
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code === 0) {
    console.log(`\n(${benchmark.script}: ${seconds} s)`);
    return undefined;
  }
  const failure = `${benchmark.script} failed (${signal === null ? `exit code ${code}` : `signal ${signal}`}) after ${seconds} s`;
  console.error(`\n${failure}`);
  return failure;
}

console.log(`# Benchmarks${quick ? ' (quick sizes)' : ''}: node ${process.version}, ${new Date().toISOString()}`);
const failures: string[] = [];
for (const benchmark of BENCHMARKS) {
  const failure = await runOne(benchmark);
  if (failure !== undefined) failures.push(failure);
}
if (failures.length > 0) {
  console.error(`\n${failures.length} of ${BENCHMARKS.length} benchmarks failed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
