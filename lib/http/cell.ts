/** Step 5: which cell a request addresses, its URL, and resolving it through the data source. */
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';
import type { CellDataSource } from '../types.js';
import { getState } from './state.js';

/** The part of the request path in front of ctx.path (a mount point such as koa-mount's). */
function mountBase(ctx: Context): string {
  if (ctx.originalUrl === ctx.url) return '';
  const original = ctx.originalUrl.split('?')[0] ?? '';
  return original.endsWith(ctx.path) ? original.slice(0, original.length - ctx.path.length) : '';
}

/**
 * In host mode, the cell named by the first label of `Host` below the unit host, or `undefined` when
 * the request is not for a cell of this unit.
 */
export function cellFromHost(ctx: Context, unitHost: string): string | undefined {
  const host = ctx.hostname.toLowerCase();
  if (!host.endsWith(`.${unitHost}`)) return undefined;
  const label = host.slice(0, host.length - unitHost.length - 1);
  return label === '' || label.includes('.') ? undefined : label;
}

/**
 * Records the cell name and builds the cell URL and the unit URL (each ending in `/`): in path mode
 * the unit is the cell URL without its last segment, in host mode the host without the cell's label.
 */
export function addressCell(ctx: Context, name: string, prefix: string, pathMode: boolean): void {
  const state = getState(ctx);
  state.cellName = name;
  const base = `${mountBase(ctx)}${prefix}`;
  const scheme = `${ctx.protocol}://`;
  const host = ctx.host;
  if (pathMode) {
    state.unitUrl = `${scheme}${host}${base}/`;
    state.cellUrl = `${scheme}${host}${base}/${encodeURIComponent(name)}/`;
  } else {
    state.cellUrl = `${scheme}${host}${base}/`;
    state.unitUrl = `${scheme}${host.slice(name.length + 1)}${base}/`;
  }
}

/** Resolves the cell through the data source: 404 `PR404-DV-0003` when it does not exist. */
export async function resolveCell(ctx: Context, cells: CellDataSource): Promise<void> {
  const state = getState(ctx);
  const cell = state.cellName === '' ? undefined : await cells.getCell(state.cellName);
  if (cell === undefined) throw new PersoniumError('PR404-DV-0003');
  state.cell = cell;
}
