/** What the pipeline learns about a request, kept on `ctx.state` for the later steps. */
import type { Context } from 'koa';
import type { CellInfo, Principal } from '../types.js';

/** The resources (`docs/protocol.md`, Resources). `below` is anything under `__snapshot/{name}/`. */
export type ResourceKind = 'export' | 'import' | 'snapshots' | 'snapshot' | 'below';

/** The module's per-request state. */
export interface RequestState {
  /** The resource addressed. */
  readonly resource: ResourceKind;
  /** The validated or generated request key. */
  requestKey: string;
  /** The cell's name as addressed. */
  cellName: string;
  /** The cell's URL, ending in `/`. */
  cellUrl: string;
  /** The unit's URL (the cell URL without the cell), ending in `/`. */
  unitUrl: string;
  /** The resolved cell (step 5). */
  cell?: CellInfo;
  /** The authenticated caller (step 6). */
  principal?: Principal;
}

const KEY = Symbol('koa-cell-snapshot');

/** Attaches fresh state to a context. */
export function initState(ctx: Context, resource: ResourceKind): RequestState {
  const state: RequestState = { resource, requestKey: '', cellName: '', cellUrl: '', unitUrl: '' };
  (ctx.state as Record<symbol, RequestState>)[KEY] = state;
  return state;
}

/** The state attached by {@link initState}, if the request is one of the module's resources. */
export function findState(ctx: Context): RequestState | undefined {
  return (ctx.state as Record<symbol, RequestState | undefined>)[KEY];
}

/** The state attached by {@link initState}. */
export function getState(ctx: Context): RequestState {
  const state = findState(ctx);
  if (state === undefined) throw new Error('koa-cell-snapshot: request state missing');
  return state;
}

/** The resolved cell and principal, once steps 5 and 6 have run. */
export function authorised(ctx: Context): RequestState & { cell: CellInfo; principal: Principal } {
  const state = getState(ctx);
  if (state.cell === undefined || state.principal === undefined) throw new Error('koa-cell-snapshot: not authorised');
  return state as RequestState & { cell: CellInfo; principal: Principal };
}
