/** The answers the routes share: a JSON status (with `Retry-After`), an empty answer, a 202 with `Location`. */
import type { Context } from 'koa';
import { setHeader } from '../http/set-header.js';
import { getState } from '../http/state.js';
import { retryAfterSeconds } from '../jobs/progress.js';
import type { JobRecord } from '../types.js';

/** The type of the JSON answers. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** Answers 200 with a JSON status body, and `Retry-After` while a job runs. */
export function answerStatus(ctx: Context, body: Record<string, unknown>, running?: JobRecord): void {
  if (running !== undefined) setHeader(ctx, 'Retry-After', String(retryAfterSeconds(running.startedAt, running.progress)));
  ctx.status = 200;
  setHeader(ctx, 'Content-Type', JSON_TYPE);
  ctx.body = JSON.stringify(body);
}

/** Answers `status` with no body. */
export function answerEmpty(ctx: Context, status: number): void {
  ctx.body = null;
  ctx.status = status;
}

/**
 * Answers 202 with `Location: {CellURL}{resource}` and the status the job starts in, naming its
 * snapshot (`{"status":"exportation in progress","exportation_name":"…"}`, likewise for an import):
 * a client learns the name even when the server chose it. Personium's clients ignore the body.
 */
export function answerAccepted(ctx: Context, job: JobRecord): void {
  const resource = job.kind === 'export' ? '__export' : '__import';
  setHeader(ctx, 'Location', `${getState(ctx).cellUrl}${resource}`);
  ctx.status = 202;
  setHeader(ctx, 'Content-Type', JSON_TYPE);
  ctx.body = JSON.stringify({ status: `${job.kind}ation in progress`, [`${job.kind}ation_name`]: job.name });
}
