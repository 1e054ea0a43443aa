/**
 * Starts a real Koa host with the router on a loopback port, in one of the mount modes the suites
 * run in, over real fixture cells and snapshot area in a temp dir.
 */
import { once } from 'node:events';
import { cp, mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Koa from 'koa';
import type { ExecutionContext } from 'ava';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { createCellSnapshotRouter, type CellSnapshotRouter } from '../../lib/router.js';
import type { CellDataSource, CellSnapshotOptions } from '../../lib/types.js';
import { testAuth } from './auth.js';
import { wrapCells } from './cells.js';
import { type RequestOptions, type TestResponse, send } from './http.js';
import { tempDir } from './tmp.js';

/** The ways a suite mounts the router. */
export type MountMode = 'root' | 'prefix' | 'host';
/** Every mount mode. */
export const MOUNT_MODES: readonly MountMode[] = ['root', 'prefix', 'host'];

/** The unit host of host mode. */
export const UNIT_HOST = 'unit.test';
/** The fixture cells. */
export const FIXTURE_CELLS = new URL('../../fixtures/cells/', import.meta.url);

/** A running test host. */
export interface TestServer {
  readonly mode: MountMode;
  readonly origin: string;
  readonly dataDir: string;
  readonly router: CellSnapshotRouter;
  /** The URL a client uses for `{CellURL}{rest}`. */
  cellUrl(cell: string, rest?: string): string;
  /** Sends a request to `{CellURL}{rest}` of `cell` (setting `Host` in host mode). */
  request(method: string, cell: string, rest: string, options?: RequestOptions): Promise<TestResponse>;
}

/** How a test host is set up. */
export interface ServerSetup {
  /** Options passed to the router over the test defaults. */
  readonly options?: Partial<CellSnapshotOptions>;
  /** Wraps the real fixture cell source (to slow it down or make it fail). */
  readonly wrapCells?: (cells: FsCellDataSource) => CellDataSource;
  /** Use this data directory (with `cells/` and `snapshots/`) instead of a fresh copy. */
  readonly dataDir?: string;
}

/** Starts a host; everything is torn down with the test. */
export async function startServer(t: ExecutionContext, mode: MountMode, setup: ServerSetup = {}): Promise<TestServer> {
  const dataDir = setup.dataDir ?? (await makeDataDir(t));
  const fsCells = new FsCellDataSource({ root: join(dataDir, 'cells') });
  const prefix = mode === 'prefix' ? '/api' : '';
  const router = createCellSnapshotRouter({
    cellUrl: mode === 'host' ? { host: UNIT_HOST } : 'path',
    cells: setup.wrapCells === undefined ? fsCells : setup.wrapCells(fsCells),
    snapshots: new FsSnapshotStore({ root: join(dataDir, 'snapshots') }),
    auth: testAuth,
    ...(prefix === '' ? {} : { prefix }),
    ...setup.options,
  });
  const app = new Koa();
  app.on('error', (error: NodeJS.ErrnoException) => {
    // A client that breaks HTTP or goes away after its answer (the request fuzzing does both) is no
    // server failure; anything else is reported as Koa would.
    if (!/^HPE_|^ECONNRESET$|^EPIPE$/.test(error.code ?? '')) console.error(error);
  });
  app.use(router.middleware());
  app.use(async (ctx, next) => {
    if (ctx.path === '/api/hello' || ctx.path === '/alice/hello') ctx.body = { host: 'route' };
    else await next();
  });
  const { origin, port } = await listen(t, app, router);
  const cellUrl = (cell: string, rest = ''): string =>
    mode === 'host' ? `http://${cell}.${UNIT_HOST}:${port}/${rest}` : `${origin}${prefix}/${cell}/${rest}`;
  return {
    mode,
    origin,
    dataDir,
    router,
    cellUrl,
    request(method, cell, rest, options = {}) {
      const path = mode === 'host' ? `/${rest}` : `${prefix}/${cell}/${rest}`;
      const headers = { ...options.headers, ...(mode === 'host' ? { host: `${cell}.${UNIT_HOST}:${port}` } : {}) };
      return send(`${origin}${path}`, method, { ...options, headers });
    },
  };
}

/** A fresh data directory: the fixture cells copied into `cells/`, an empty `snapshots/`. */
export async function makeDataDir(t: ExecutionContext): Promise<string> {
  const dataDir = await tempDir(t);
  await cp(FIXTURE_CELLS, join(dataDir, 'cells'), { recursive: true });
  await mkdir(join(dataDir, 'snapshots'));
  return dataDir;
}

/** Listens on a free loopback port; the router and the server are closed with the test. */
export async function listen(t: ExecutionContext, app: Koa, router: CellSnapshotRouter): Promise<{ origin: string; port: number }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await router.close();
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, port };
}

/**
 * A server (mounted at the root) whose import commits fail with `failure`; the failure is expected,
 * so it is not logged.
 */
export function startServerFailingCommits(t: ExecutionContext, failure: Error): Promise<TestServer> {
  return startServer(t, 'root', {
    wrapCells: (cells) => wrapCells(cells, { failCommit: failure }),
    options: {
      onError: (error) => {
        if (error !== failure) console.error('koa-cell-snapshot:', error);
      },
    },
  });
}
