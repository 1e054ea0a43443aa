/**
 * `koa-cell-snapshot serve`: a standalone host on the embedded defaults (FsCellDataSource,
 * FsSnapshotStore or S3SnapshotStore, FsJobStore) with the fixture cells copied into the data
 * directory on first start.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import { bearerMatcher, staticTokenAuth } from '../adapters/auth/static-token.js';
import { PersoniumError } from '../errors.js';
import { FsCellDataSource } from '../adapters/fs/cell-data-source.js';
import { FsJobStore } from '../adapters/fs/job-store.js';
import { createCellSnapshotRouter } from '../router.js';
import { openSnapshotArea } from './snapshot-area.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The port; 0 picks a free one. */
  readonly port: number;
  /** The address to listen on. */
  readonly host: string;
  /** The data directory (`cells/`, `snapshots/`, `jobs/` below it). */
  readonly dataDir: string;
  /** The bearer token; a random one is made (and printed) when absent. */
  readonly token: string | undefined;
  /** Path-based or per-cell host URLs. */
  readonly mode: 'path' | 'host';
  /** The unit host of host mode. */
  readonly unitHost: string;
  /** A path prefix for the routes (`''` for none). */
  readonly prefix: string;
  /** The snapshot area: a directory or `s3://bucket/prefix`; `{dataDir}/snapshots` when absent. */
  readonly snapshots?: string | undefined;
}

/** Error codes of a client that went away mid-response: normal for downloads, not worth a log line. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);
/** Abandoned uploads older than this are swept on start, in ms. */
const SWEEP_AGE_MS = 24 * 3600 * 1000;
const FIXTURE_CELLS = fileURLToPath(new URL('../../fixtures/cells/', import.meta.url));

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Runs the server until SIGINT or SIGTERM. */
export async function serve(options: ServeOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  const cellsDir = join(dataDir, 'cells');
  if (!(await exists(cellsDir))) {
    await mkdir(dataDir, { recursive: true });
    await cp(FIXTURE_CELLS, cellsDir, { recursive: true });
  }
  const token = options.token ?? randomBytes(18).toString('base64url');
  const area = await openSnapshotArea(options.snapshots ?? join(dataDir, 'snapshots'));
  const snapshots = area.store;
  // Housekeeping only: a server without it (s3rver has no ListMultipartUploads) still serves.
  await snapshots.sweep(SWEEP_AGE_MS).catch((error: unknown) => {
    console.error(`koa-cell-snapshot: could not sweep abandoned uploads in ${area.where}: ${error instanceof Error ? error.message : String(error)}`);
  });
  const router = createCellSnapshotRouter({
    cellUrl: options.mode === 'path' ? 'path' : { host: options.unitHost },
    cells: new FsCellDataSource({ root: cellsDir }),
    snapshots,
    jobs: new FsJobStore({ root: join(dataDir, 'jobs') }),
    auth: staticTokenAuth({ token }),
    prefix: options.prefix,
    events: {
      log: (event) => {
        process.stdout.write(`event ${JSON.stringify(event)}\n`);
      },
    },
  });
  const prefix = options.prefix.replace(/\/+$/, '');
  const app = new Koa();
  app.on('error', (error: NodeJS.ErrnoException) => {
    if (!CLIENT_GONE.has(error.code ?? '')) console.error('koa-cell-snapshot:', error);
  });
  app.use(router.middleware());
  app.use(router.writeGuard());
  // The host's own route: the list of cells, for the token holder only, like every other resource.
  const tokenMatches = bearerMatcher(token);
  app.use(async (ctx, next) => {
    if (ctx.path !== `${prefix}/` && ctx.path !== '/') return next();
    const authorization = ctx.get('Authorization');
    if (!tokenMatches(authorization)) {
      const error = new PersoniumError(authorization === '' ? 'PR401-AU-0001' : 'PR401-AU-0006');
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = error.toJSON();
      return;
    }
    ctx.body = { name: 'koa-cell-snapshot', cells: await readdir(cellsDir).then((names) => names.filter((n) => !n.startsWith('.'))) };
  });
  const server = app.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const cells = (await readdir(cellsDir)).filter((name) => !name.startsWith('.')).sort();
  const cellUrl = (cell: string): string =>
    options.mode === 'path'
      ? `http://${options.host}:${port}${prefix}/${cell}/`
      : `http://${cell}.${options.unitHost}:${port}${prefix}/`;
  const [first = 'alice', second = first] = cells;
  const auth = `-H 'Authorization: Bearer ${token}'`;
  process.stdout.write(
    [
      `koa-cell-snapshot listening on http://${options.host}:${port} (${options.mode} mode), data in ${dataDir}`,
      `cells: ${cells.join(', ')}`,
      `snapshots: ${area.where}`,
      `token: ${token}`,
      '',
      'Try it:',
      `  curl -i -X POST ${auth} -d '{"Name":"backup"}' ${cellUrl(first)}__export`,
      `  curl -s ${auth} ${cellUrl(first)}__export`,
      `  curl -s -X PROPFIND -H 'Depth: 1' ${auth} ${cellUrl(first)}__snapshot`,
      `  curl -s -o backup.zip ${auth} ${cellUrl(first)}__snapshot/backup.zip`,
      `  curl -i -T backup.zip -H 'Content-Type: application/zip' ${auth} ${cellUrl(second)}__snapshot/backup.zip`,
      `  curl -i -X POST ${auth} -d '{"Name":"backup"}' ${cellUrl(second)}__import`,
      `  curl -s ${auth} ${cellUrl(second)}__import`,
      '',
    ].join('\n'),
  );
  const stop = async (): Promise<void> => {
    process.stdout.write('shutting down: running jobs are stopped and recorded as interrupted\n');
    await router.close();
    server.closeAllConnections();
    server.close();
    area.close();
  };
  await new Promise<void>((resolveStop) => {
    const onSignal = (): void => void stop().then(resolveStop);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
