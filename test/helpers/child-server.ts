/**
 * A host process for tests that kill or restart servers: the router on the Fs adapters over
 * DATA_DIR (jobs in FsJobStore, or in RedisJobStore when REDIS_URL is set; snapshots in
 * FsSnapshotStore, or in S3SnapshotStore when S3_ENDPOINT, S3_BUCKET and S3_PREFIX are set), with a
 * slowed-down cell source and short leases. FAIL_EXPORT_AFTER=N makes every export fail after N
 * WebDAV resources and FAIL_COMMIT=1 every import's commit. Prints `{"port":N}` once listening.
 */
import { join } from 'node:path';
import Koa from 'koa';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { RedisJobStore } from '../../lib/adapters/redis/job-store.js';
import type { JobStore, SnapshotStore } from '../../lib/types.js';
import { createCellSnapshotRouter } from '../../lib/router.js';
import { testAuth } from './auth.js';
import { wrapCells } from './cells.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const dataDir = process.env['DATA_DIR'];
if (dataDir === undefined) throw new Error('DATA_DIR is required');

async function jobStore(): Promise<JobStore> {
  const url = process.env['REDIS_URL'];
  if (url === undefined) return new FsJobStore({ root: join(dataDir ?? '', 'jobs') });
  const { createClient } = await import('redis');
  const client = createClient({ url, socket: { reconnectStrategy: (retries: number) => Math.min(retries * 50, 500) } });
  client.on('error', () => {});
  await client.connect();
  return new RedisJobStore({ client, prefix: process.env['REDIS_PREFIX'] ?? 'kcs:' });
}

/** The failures injected on purpose are expected: they are not logged. */
const injected = new Set(['the disk went away', 'the database went away']);

async function snapshotStore(): Promise<SnapshotStore> {
  const endpoint = process.env['S3_ENDPOINT'];
  if (endpoint === undefined) return new FsSnapshotStore({ root: join(dataDir ?? '', 'snapshots') });
  const { S3SnapshotStore } = await import('../../lib/adapters/s3/snapshot-store.js');
  const { s3Client } = await import('./s3-server.js');
  return new S3SnapshotStore({
    client: s3Client(endpoint),
    bucket: process.env['S3_BUCKET'] ?? '',
    prefix: process.env['S3_PREFIX'] ?? '',
  });
}

const router = createCellSnapshotRouter({
  onError: (error: unknown) => {
    if (!(error instanceof Error && injected.has(error.message))) console.error('koa-cell-snapshot:', error);
  },
  cellUrl: 'path',
  cells: wrapCells(new FsCellDataSource({ root: join(dataDir, 'cells') }), {
    delayMs: env('DELAY_MS', 0),
    importDelayMs: env('IMPORT_DELAY_MS', 0),
    ...(process.env['FAIL_EXPORT_AFTER'] === undefined
      ? {}
      : { failExportAfter: { nodes: env('FAIL_EXPORT_AFTER', 0), error: new Error('the disk went away') } }),
    ...(process.env['FAIL_COMMIT'] === '1' ? { failCommit: new Error('the database went away') } : {}),
  }),
  snapshots: await snapshotStore(),
  jobs: await jobStore(),
  auth: testAuth,
  lease: { ttlMs: env('LEASE_TTL_MS', 1000), renewMs: env('LEASE_RENEW_MS', 250) },
});
const app = new Koa();
if (process.env['REPORT_RSS'] === '1') {
  // Memory probe for tests: the resident set size sampled every 10 ms; GET /__rss answers the
  // current value and the peak since the last DELETE /__rss (which resets the peak to now).
  let peak = process.memoryUsage.rss();
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  setInterval(sample, 10).unref();
  app.use(async (ctx, next) => {
    if (ctx.path !== '/__rss') return next();
    sample();
    const rss = process.memoryUsage.rss();
    if (ctx.method === 'DELETE') peak = rss;
    ctx.body = { rss, peak };
  });
}
app.use(router.middleware());
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
const stop = (): void => {
  void router.close().then(() => server.close(() => process.exit(0)));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
