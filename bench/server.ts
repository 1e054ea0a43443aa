/**
 * The benchmark host, run as its own process: the router on the Fs adapters over DATA_DIR (jobs in
 * memory, in DATA_DIR/jobs when JOB_STORE=fs, or in Redis when REDIS_URL is set), a bare Koa route
 * `/bare` answering what a status GET answers (the host's own route), and `/__loop`: the event loop's
 * longest delay (ms), the share of the time it was busy, and where the process's CPU time went
 * (`thread-times.ts`), since the last call. Prints `{"port":N}` once listening.
 */
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Koa from 'koa';
import { FsCellDataSource } from '../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../lib/adapters/fs/snapshot-store.js';
import { FsJobStore } from '../lib/adapters/fs/job-store.js';
import { MemoryJobStore } from '../lib/adapters/memory/job-store.js';
import { RedisJobStore } from '../lib/adapters/redis/job-store.js';
import { staticTokenAuth } from '../lib/adapters/auth/static-token.js';
import { createCellSnapshotRouter } from '../lib/router.js';
import type { JobStore } from '../lib/types.js';
import { ThreadTimes } from './thread-times.js';

const dataDir = process.env['DATA_DIR'] ?? '';
const redisUrl = process.env['REDIS_URL'];

async function jobStore(): Promise<JobStore> {
  if (process.env['JOB_STORE'] === 'fs') return new FsJobStore({ root: join(dataDir, 'jobs') });
  if (redisUrl === undefined) return new MemoryJobStore({ quiet: true });
  const { createClient } = await import('redis');
  const client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  return new RedisJobStore({ client });
}

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let utilisation = performance.eventLoopUtilization();
const threads = new ThreadTimes();
const router = createCellSnapshotRouter({
  cellUrl: 'path',
  cells: new FsCellDataSource({ root: join(dataDir, 'cells') }),
  snapshots: new FsSnapshotStore({ root: join(dataDir, 'snapshots') }),
  jobs: await jobStore(),
  auth: staticTokenAuth({ token: 'bench-token' }),
});
const app = new Koa();
app.use(async (ctx, next) => {
  if (ctx.path === '/bare') {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ status: 'exportation in progress', started_at: new Date().toISOString(), progress: '42%', exportation_name: 'bench' });
  } else if (ctx.path === '/__loop') {
    const now = performance.eventLoopUtilization();
    ctx.body = { maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6, busy: performance.eventLoopUtilization(now, utilisation).utilization, ...threads.sample() };
    loop.reset();
    utilisation = now;
  } else {
    await next();
  }
});
app.use(router.middleware());
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.on('SIGTERM', () => void router.close().then(() => process.exit(0)));
