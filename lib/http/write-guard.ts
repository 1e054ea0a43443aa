/** The guard for the host's own write routes: 409 `PR409-CM-0002` while a job runs on the cell. */
import type { Context, Middleware, Next } from 'koa';
import type { JobRunner } from '../jobs/runner.js';
import type { ResolvedOptions } from '../options.js';
import { cellFromHost } from './cell.js';
import { type RenderErrorOptions, respondWithError } from './render-errors.js';

/** What the guard reads of the options: how cells are addressed and found, and how errors render. */
export type WriteGuardOptions = Pick<ResolvedOptions, 'cellUrl' | 'prefix' | 'cells'> & RenderErrorOptions;

/** Methods that never write. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PROPFIND', 'REPORT']);

function cellNameOf(ctx: Context, options: WriteGuardOptions): string | undefined {
  if (options.cellUrl !== 'path') return cellFromHost(ctx, options.cellUrl.host);
  const path = ctx.path;
  if (options.prefix !== '' && !path.startsWith(`${options.prefix}/`)) return undefined;
  const segment = path.slice(options.prefix.length + 1).split('/')[0];
  if (segment === undefined || segment === '') return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Builds the guard middleware. */
export function writeGuard(options: WriteGuardOptions, runner: Pick<JobRunner, 'assertIdle'>): Middleware {
  return async function cellSnapshotWriteGuard(ctx: Context, next: Next): Promise<void> {
    if (READ_METHODS.has(ctx.method)) return next();
    const name = cellNameOf(ctx, options);
    const cell = name === undefined ? undefined : await options.cells.getCell(name);
    if (cell !== undefined) {
      try {
        await runner.assertIdle(cell.id);
      } catch (error) {
        respondWithError(ctx, error, options);
        return;
      }
    }
    await next();
  };
}
