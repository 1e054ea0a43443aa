/** Shared pieces of the `__export` and `__import` routes: status bodies, `Location`, cancel. */
import type { Context } from 'koa';
import { retryAfterSeconds } from '../jobs/progress.js';
import type { JobRecord } from '../types.js';
import { getState } from '../http/state.js';

/** Answers 200 with a JSON status body, and `Retry-After` while a job runs. */
export function answerStatus(ctx: Context, body: Record<string, unknown>, running?: JobRecord): void {
  if (running !== undefined) ctx.set('Retry-After', String(retryAfterSeconds(running.startedAt, running.progress)));
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

/** Answers `status` with no body. */
export function answerEmpty(ctx: Context, status: number): void {
  ctx.body = null;
  ctx.status = status;
}

/** Answers 202 with `Location: {CellURL}{resource}` and no body. */
export function answerAccepted(ctx: Context, resource: '__export' | '__import'): void {
  ctx.set('Location', `${getState(ctx).cellUrl}${resource}`);
  answerEmpty(ctx, 202);
}

/** `yyyyMMdd_HHmmss` in UTC. */
export function timestampSuffix(date = new Date()): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** The unit URL of the request, for manifests: the cell URL without the cell part. */
export function requestUnitUrl(ctx: Context, pathMode: boolean): string {
  const { cellUrl, cellName } = getState(ctx);
  if (pathMode) return cellUrl.slice(0, cellUrl.length - encodeURIComponent(cellName).length - 1);
  return cellUrl.replace(`://${cellName}.`, '://');
}
