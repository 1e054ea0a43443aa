/**
 * A host process for tests that kill or restart servers: the router on the Fs adapters over
 * DATA_DIR, with a slowed-down cell source and short leases. Prints `{"port":N}` once listening.
 */
import { join } from 'node:path';
import Koa from 'koa';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsJobStore } from '../../lib/adapters/fs/job-store.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { createCellSnapshotRouter } from '../../lib/router.js';
import { testAuth } from './auth.js';
import { wrapCells } from './cells.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const dataDir = process.env['DATA_DIR'];
if (dataDir === undefined) throw new Error('DATA_DIR is required');

const router = createCellSnapshotRouter({
  cellUrl: 'path',
  cells: wrapCells(new FsCellDataSource({ root: join(dataDir, 'cells') }), {
    delayMs: env('DELAY_MS', 0),
    importDelayMs: env('IMPORT_DELAY_MS', 0),
  }),
  snapshots: new FsSnapshotStore({ root: join(dataDir, 'snapshots') }),
  jobs: new FsJobStore({ root: join(dataDir, 'jobs') }),
  auth: testAuth,
  lease: { ttlMs: env('LEASE_TTL_MS', 1000), renewMs: env('LEASE_RENEW_MS', 250) },
});
const app = new Koa();
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
