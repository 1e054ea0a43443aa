/** The answers the routes share: a JSON status (with `Retry-After`), an empty answer, a 202 with `Location`. */
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
