/**
 * The request pipeline (`docs/protocol.md`), in order, around one resource's method table:
 * request key → method override → X-Override → CORS (and the preflight) → cell → method → auth →
 * handler, with every response carrying the version and CORS headers.
 */
import type { Context, Next } from 'koa';
import { PersoniumError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { authenticate } from './auth.js';
import { addressCell, cellFromHost, resolveCell } from './cell.js';
import { answerOptions, setCommonHeaders } from './cors.js';
import { applyOverrides } from './overrides.js';
import { type RenderErrorOptions, respondWithError } from './render-errors.js';
import { applyRequestKey } from './request-key.js';
import { type ResourceKind, initState } from './state.js';

/** Handles one method of one resource, after the pipeline authorised the caller. */
export type Handler = (ctx: Context) => Promise<void>;

/** The methods a resource answers, besides OPTIONS (which every resource answers). */
export type MethodTable = Readonly<Partial<Record<string, Handler>>>;

/** Methods answered 501 rather than 405, per resource. */
const NOT_IMPLEMENTED: Readonly<Partial<Record<ResourceKind, readonly string[]>>> = { snapshot: ['REPORT'] };

function allowedMethods(table: MethodTable): string[] {
  return ['OPTIONS', ...Object.keys(table)];
}

/**
 * What the pipeline reads of the options: how cells are addressed, found and authorised, and how
 * errors render.
 */
export type PipelineOptions = Pick<ResolvedOptions, 'cellUrl' | 'prefix' | 'cells' | 'auth'> & RenderErrorOptions;

/** Builds the middleware serving one resource through the whole pipeline. */
export function pipeline(kind: ResourceKind, table: MethodTable, options: PipelineOptions) {
  const pathMode = options.cellUrl === 'path';
  const unitHost = options.cellUrl === 'path' ? '' : options.cellUrl.host;
  const allowed = allowedMethods(table);

  const steps = async (ctx: Context): Promise<void> => {
    applyRequestKey(ctx);
    applyOverrides(ctx);
    setCommonHeaders(ctx, options);
    if (ctx.method === 'OPTIONS' && ctx.req.headers.authorization === undefined) {
      answerOptions(ctx, allowed);
      return;
    }
    await resolveCell(ctx, options.cells);
    if (kind === 'below') throw new PersoniumError('PR404-MC-0001');
    const handler = ctx.method === 'OPTIONS' ? undefined : table[ctx.method];
    if (handler === undefined && ctx.method !== 'OPTIONS') {
      if (NOT_IMPLEMENTED[kind]?.includes(ctx.method)) throw new PersoniumError('PR501-MC-0001');
      throw new PersoniumError('PR405-MC-0001', [], { headers: { Allow: allowed.join(', ') } });
    }
    await authenticate(ctx, options.auth);
    if (handler === undefined) answerOptions(ctx, allowed);
    else await handler(ctx);
  };

  return async function cellSnapshotResource(ctx: Context, next: Next): Promise<void> {
    const cellName = pathMode ? (ctx.params as Record<string, string | undefined>)['cell'] : cellFromHost(ctx, unitHost);
    if (cellName === undefined) {
      await next();
      return;
    }
    initState(ctx, kind);
    addressCell(ctx, cellName, options.prefix, pathMode);
    try {
      await steps(ctx);
    } catch (error) {
      if (ctx.headerSent) throw error;
      respondWithError(ctx, error, options);
    }
  };
}
