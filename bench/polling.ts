/**
 * Status polling while an export runs: `GET __export` under load during a running export, as a ratio
 * to the same load on a bare Koa route of the same host, in the same run; with p99 latency and the
 * event loop's longest block during the export. Then the same with the job store in Redis, as a ratio
 * to the in-memory job store.
 *
 *   npx tsx bench/polling.ts [cellMb]     (default 400; needs redis-server for the Redis part)
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

async function startExport(base: string, name: string): Promise<void> {
  const post = await fetch(`${base}/source/__export`, { method: 'POST', headers: AUTH, body: JSON.stringify({ Name: name }) });
  if (post.status !== 202) throw new Error(`export: ${post.status}`);
}

/**
 * Polls under load during one running export; then runs another export with no load and reads the
 * event loop's longest block during it (under load, the load generator shares the two cores, so the
 * loaded figure also counts time the server's thread was not scheduled at all).
 */
async function measure(base: string, name: string) {
  const bare = await load(`${base}/bare`);
  await json(`${base}/__loop`);
  await startExport(base, `${name}-loaded`);
  const status = await load(`${base}/source/__export`, AUTH);
  const loadedLoopMs = Number((await json(`${base}/__loop`))['maxMs']);
  const stillRunning = (await json(`${base}/source/__export`, { headers: AUTH }))['status'] === 'exportation in progress';
  await fetch(`${base}/source/__export`, { method: 'DELETE', headers: AUTH });
  await json(`${base}/__loop`);
  await startExport(base, `${name}-alone`);
  while ((await json(`${base}/source/__export`, { headers: AUTH }))['status'] !== 'ready') await new Promise((r) => setTimeout(r, 200));
  const aloneLoopMs = Number((await json(`${base}/__loop`))['maxMs']);
  return { bare, status, loadedLoopMs, aloneLoopMs, stillRunning };
}

const mb = Number(process.argv[2] ?? 400);
const work = await mkdtemp(join(tmpdir(), 'kcs-poll-'));
const children: ChildProcess[] = [];
try {
  await mkdir(join(work, 'cells'));
  await makeCell(join(work, 'cells'), 'source', mb);
  console.log(`node ${process.version}; ${CONNECTIONS} connections for ${DURATION_S} s per load; a ${mb} MB cell exporting meanwhile\n`);
  const memoryHost = await startHost({ DATA_DIR: work });
  children.push(memoryHost.child);
  const memory = await measure(memoryHost.base, 'poll-memory');
  memoryHost.child.kill('SIGTERM');
  console.log('| load | req/s | p99 latency | ratio |');
  console.log('|---|---|---|---|');
  console.log(`| bare Koa route | ${memory.bare.rps} | ${memory.bare.p99} ms | 1 |`);
  console.log(`| GET __export during an export (MemoryJobStore) | ${memory.status.rps} | ${memory.status.p99} ms | ${(memory.status.rps / memory.bare.rps).toFixed(2)} |`);
  console.log(
    `\nevent loop's longest block: ${memory.aloneLoopMs.toFixed(1)} ms during a whole export (200 ms status polls), ` +
      `${memory.loadedLoopMs.toFixed(1)} ms during the export under load; export still running at the end of the load: ${memory.stillRunning}`,
  );

  const redisDir = join(work, 'redis');
  await mkdir(redisDir);
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  children.push(redis);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const redisHost = await startHost({ DATA_DIR: work, REDIS_URL: `redis://127.0.0.1:${port}` });
  children.push(redisHost.child);
  const shared = await measure(redisHost.base, 'poll-redis');
  console.log(`\n| job store | GET __export req/s | p99 latency | ratio to MemoryJobStore |`);
  console.log('|---|---|---|---|');
  console.log(`| MemoryJobStore | ${memory.status.rps} | ${memory.status.p99} ms | 1 |`);
  console.log(`| RedisJobStore | ${shared.status.rps} | ${shared.status.p99} ms | ${(shared.status.rps / memory.status.rps).toFixed(2)} |`);
  console.log(
    `\n(Redis run: bare route ${shared.bare.rps} req/s; loop's longest block ${shared.aloneLoopMs.toFixed(1)} ms alone, ` +
      `${shared.loadedLoopMs.toFixed(1)} ms under load; still running: ${shared.stillRunning})`,
  );
} finally {
  for (const child of children) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
}
