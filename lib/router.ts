/** `createCellSnapshotRouter`: resolve options, compose the pipeline and the routes. */
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { MemoryJobStore } from './adapters/memory/job-store.js';
import { jsonBodyReader } from './http/json-body.js';
import { type MethodTable, pipeline } from './http/pipeline.js';
import type { ResourceKind } from './http/state.js';
import { writeGuard } from './http/write-guard.js';
import { exportJob } from './jobs/export-job.js';
import { importJob } from './jobs/import-job.js';
import { JobRunner } from './jobs/runner.js';
import { resolveOptions } from './options.js';
import type { RouteDeps } from './routes/deps.js';
import { exportRoutes } from './routes/export.js';
import { importRoutes } from './routes/import.js';
import { snapshotCollectionRoutes, snapshotRoutes } from './routes/snapshot.js';
import type { CellSnapshotOptions } from './types.js';

/** What {@link createCellSnapshotRouter} returns. */
export interface CellSnapshotRouter {
  /** The routes, behind the whole request pipeline; other requests pass through to `next`. */
  middleware(): Middleware;
  /**
   * A guard for the host's own write routes: while an export or import runs on the cell a request
   * addresses, methods other than GET, HEAD, OPTIONS, PROPFIND and REPORT answer 409 `PR409-CM-0002`.
   */
  writeGuard(): Middleware;
  /** Stops running jobs (each recorded as interrupted) and waits for them. */
  close(): Promise<void>;
}

/** Creates the router. Throws a `TypeError` naming the option when the options are invalid. */
export function createCellSnapshotRouter(input: CellSnapshotOptions): CellSnapshotRouter {
  const options = resolveOptions(input);
  const { cells, snapshots, onError } = options;
  const jobKinds = {
    export: exportJob({ cells, snapshots, onError }),
    import: importJob({ cells, snapshots, limits: options.limits, onError }),
  };
  const runner = new JobRunner({
    jobs: options.jobs ?? new MemoryJobStore(),
    kinds: jobKinds,
    events: options.events,
    maxRunningJobs: options.limits.maxRunningJobs,
    lease: options.lease,
    onError: (error) => options.onError(error),
  });
  const deps: RouteDeps = { options, runner, jobKinds, readJsonBody: jsonBodyReader(options.limits.maxRequestBodyBytes) };
  const tables: Record<ResourceKind, MethodTable> = {
    export: exportRoutes(deps),
    import: importRoutes(deps),
    snapshots: snapshotCollectionRoutes(deps),
    snapshot: snapshotRoutes(deps),
    below: {},
  };
  const router = new Router(options.prefix === '' ? {} : { prefix: options.prefix });
  const base = options.cellUrl === 'path' ? '/:cell' : '';
  const paths: Record<ResourceKind, string> = {
    export: `${base}/__export`,
    import: `${base}/__import`,
    snapshots: `${base}/__snapshot`,
    snapshot: `${base}/__snapshot/:name`,
    below: `${base}/__snapshot/:name/*rest`,
  };
  for (const kind of Object.keys(paths) as ResourceKind[]) {
    router.all(paths[kind], pipeline(kind, tables[kind], options));
  }
  const routes = router.routes() as Middleware;
  const guard = writeGuard(options, runner);

  return {
    middleware: () => routes,
    writeGuard: () => guard,
    close: () => runner.close(),
  };
}
