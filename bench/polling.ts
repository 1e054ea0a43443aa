/**
 * Status polling and the host's own route while an export runs, for each job store (memory, Fs,
 * Redis): `GET __export` under load during a running export, and the host's own route (a bare Koa
 * route of the same app answering the same JSON) under load during an export, each as a ratio to the
 * bare route under the same load with no job running (the higher of a load before and one after the
 * exports), measured in the same run, with p99 latency; and the status route with no job running.
 * The load generator (autocannon) runs in this process; the host runs in its own.
 *
 *   npx tsx bench/polling.ts [cellMb]     (default 1000; the Redis part needs redis-server)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/ports.js';
import { makeCell } from './make-cell.js';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));
const AUTH = { authorization: 'Bearer bench-token' };
const DURATION_S = 5;
const CONNECTIONS = 10;

interface Load {
  readonly rps: number;
  readonly p99: number;
}

async function startHost(env: Record<string, string>): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import=tsx', SERVER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, base: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Load> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: Math.round(result.requests.average), p99: result.latency.p99 };
}

async function json(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  return (await (await fetch(url, init)).json()) as Record<string, unknown>;
}

async function running(base: string): Promise<boolean> {
  return (await json(`${base}/source/__export`, { headers: AUTH }))['status'] === 'exportation in progress';
}

/** Runs `measure` while an export runs; resolves to its result and whether the export outlasted it. */
async function duringExport<T>(base: string, name: string, measure: () => Promise<T>): Promise<{ value: T; outlasted: boolean }> {
  const post = await fetch(`${base}/source/__export`, { method: 'POST', headers: AUTH, body: JSON.stringify({ Name: name }) });
  if (post.status !== 202) throw new Error(`export: ${post.status}`);
  const value = await measure();
  const outlasted = await running(base);
  await fetch(`${base}/source/__export`, { method: 'DELETE', headers: AUTH });
  while (await running(base)) await new Promise((resolve) => setTimeout(resolve, 100));
  return { value, outlasted };
}

interface StoreRun {
  /** The bare route with no job running: the higher of a load before and one after the exports. */
  readonly idle: Load;
  /** `GET __export` with no job running (what the status route costs by itself). */
  readonly statusIdle: Load;
  readonly status: Load;
  readonly host: Load;
  readonly outlasted: boolean;
  readonly loopMs: number;
}

async function measureStore(env: Record<string, string>, label: string): Promise<StoreRun> {
  const host = await startHost(env);
  children.push(host.child);
  try {
    await load(`${host.base}/bare`); // warm-up
    const idleBefore = await load(`${host.base}/bare`);
    const statusIdle = await load(`${host.base}/source/__export`, AUTH);
    const status = await duringExport(host.base, `${label}-status`, () => load(`${host.base}/source/__export`, AUTH));
    await json(`${host.base}/__loop`);
    const hostRoute = await duringExport(host.base, `${label}-host`, () => load(`${host.base}/bare`));
    const loopMs = Number((await json(`${host.base}/__loop`))['maxMs']);
    // The idle rate swings by half between loads on a shared 2-core machine: the higher of two loads
    // is the reference, so a ratio is never flattered by a slow idle measurement.
    const idleAfter = await load(`${host.base}/bare`);
    const idle = idleAfter.rps > idleBefore.rps ? idleAfter : idleBefore;
    return { idle, statusIdle, status: status.value, host: hostRoute.value, outlasted: status.outlasted && hostRoute.outlasted, loopMs };
  } finally {
    host.child.kill('SIGTERM');
  }
}

const mb = Number(process.argv[2] ?? 1000);
const work = await mkdtemp(join(tmpdir(), 'kcs-poll-'));
const children: ChildProcess[] = [];
try {
  await mkdir(join(work, 'cells'));
  await makeCell(join(work, 'cells'), 'source', mb);
  console.log(`node ${process.version}; ${CONNECTIONS} connections for ${DURATION_S} s per load, from the benchmark's process; a ${mb} MB cell exporting meanwhile\n`);
  const runs: [string, StoreRun][] = [];
  runs.push(['MemoryJobStore', await measureStore({ DATA_DIR: work }, 'memory')]);
  runs.push(['FsJobStore', await measureStore({ DATA_DIR: work, JOB_STORE: 'fs' }, 'fs')]);
  const redisDir = join(work, 'redis');
  await mkdir(redisDir);
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  children.push(redis);
  await new Promise((resolve) => setTimeout(resolve, 500));
  runs.push(['RedisJobStore', await measureStore({ DATA_DIR: work, REDIS_URL: `redis://127.0.0.1:${port}` }, 'redis')]);
  console.log('| job store | host route, idle | `GET __export`, idle | `GET __export` during an export | ratio | host route during an export | ratio | loop\'s longest block |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [label, run] of runs) {
    const cell = (l: Load): string => `${l.rps} req/s, p99 ${l.p99} ms`;
    console.log(
      `| ${label} | ${cell(run.idle)} | ${cell(run.statusIdle)} | ${cell(run.status)} | ${(run.status.rps / run.idle.rps).toFixed(2)} | ${cell(run.host)} | ` +
        `${(run.host.rps / run.idle.rps).toFixed(2)} | ${run.loopMs.toFixed(0)} ms |`,
    );
  }
  const short = runs.filter(([, run]) => !run.outlasted).map(([label]) => label);
  console.log(short.length === 0 ? '\nEvery export outlasted its load.' : `\nThe export ended before its load did for ${short.join(', ')}: use a larger cell.`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
}
