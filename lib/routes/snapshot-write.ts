/**
 * PUT and DELETE of `{CellURL}__snapshot/{name}`: refused while a job runs on the cell (409), names
 * validated (400), partial or encoded bodies refused (400 / 415), preconditions evaluated before the
 * body is read (412), PUT streamed into an atomic upload with a size limit (413) and committed under
 * the entity-tag conditions, checked again atomically (412); any failure or a client that goes away
 * discards the upload, so the previous file stays as it was.
 */
import type { Context } from 'koa';
import { pipeline } from 'node:stream/promises';
import { PersoniumError } from '../errors.js';
import type { Handler } from '../http/pipeline.js';
import { setHeader } from '../http/set-header.js';
import { authorised } from '../http/state.js';
import type { SnapshotStore, WriteConditions } from '../types.js';
import { type WriteMethod, evaluatePreconditions } from '../webdav/preconditions.js';
import { assertWholeIdentityBody, declaredLength, discardRestOfBody } from '../webdav/request-body.js';
import type { RouteDeps } from './deps.js';
import { fileName, notFound, preconditionFailed } from './snapshot-file.js';
import { answerEmpty } from './answers.js';

/** The content type kept when a PUT sends none. */
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The precondition headers a write honours. */
const WRITE_PRECONDITIONS = ['if-match', 'if-none-match', 'if-unmodified-since'] as const;

/**
 * Evaluates the write's preconditions against the file as it is now (404 for a DELETE of a missing
 * file, 412 when one fails) and resolves to the conditions the store checks again at commit. Checked
 * before the body is read, so a doomed upload is refused at once; the commit checks again,
 * atomically, against whatever the file is by then.
 */
async function writeConditions(
  ctx: Context,
  method: WriteMethod,
  snapshots: SnapshotStore,
  cellId: string,
  name: string,
): Promise<WriteConditions> {
  if (!WRITE_PRECONDITIONS.some((header) => ctx.req.headers[header] !== undefined)) return {};
  const current = await snapshots.stat(cellId, name);
  if (current === undefined && method === 'DELETE') throw notFound(ctx, name);
  const outcome = evaluatePreconditions(method, ctx.req.headers, current);
  if (outcome.kind === 'failed') throw preconditionFailed(outcome);
  return outcome.commit;
}

/** The request's `Content-Type` as sent, or `application/octet-stream`. */
function sentContentType(ctx: Context): string {
  const value = ctx.req.headers['content-type']?.trim();
  return value === undefined || value === '' ? DEFAULT_CONTENT_TYPE : value;
}

/**
 * Whether the client went away: before its body was complete, or after it, its connection closed
 * (Node closes it, for one, when bytes past the declared `Content-Length` are not HTTP).
 */
function clientGone(ctx: Context): boolean {
  return ctx.req.socket.destroyed || (!ctx.req.complete && ctx.req.destroyed);
}

/** The PUT handler. */
export function putFile({ options, runner }: RouteDeps): Handler {
  const maxBytes = options.limits.maxSnapshotBytes;
  return async (ctx) => {
    const { cell } = authorised(ctx);
    await runner.assertIdle(cell.id);
    const name = fileName(ctx);
    assertWholeIdentityBody(ctx);
    const declared = declaredLength(ctx);
    if (declared !== undefined && declared > maxBytes) throw new PersoniumError('PR413-SN-0001', [maxBytes]);
    const conditions = await writeConditions(ctx, 'PUT', options.snapshots, cell.id, name);
    const upload = await options.snapshots.write(cell.id, name, { contentType: sentContentType(ctx), maxBytes });
    let result;
    try {
      // Not piping `ctx.req` itself: a failed pipeline destroys its streams, and a destroyed request
      // resets the connection before the client could read the 413.
      await pipeline(ctx.req.iterator({ destroyOnReturn: false }), upload.stream);
      // A job may have started on the cell while the body streamed: it would see the write.
      await runner.assertIdle(cell.id);
      result = await upload.commit(conditions);
    } catch (error) {
      await upload.abort();
      if (clientGone(ctx)) return; // nobody to answer; the upload is discarded
      discardRestOfBody(ctx);
      throw error;
    }
    setHeader(ctx, 'ETag', result.info.etag);
    answerEmpty(ctx, result.created ? 201 : 204);
  };
}

/** The DELETE handler. */
export function deleteFile({ options, runner }: RouteDeps): Handler {
  return async (ctx) => {
    const { cell } = authorised(ctx);
    await runner.assertIdle(cell.id);
    const name = fileName(ctx);
    const conditions = await writeConditions(ctx, 'DELETE', options.snapshots, cell.id, name);
    const deleted = await options.snapshots.delete(cell.id, name, conditions);
    if (!deleted) throw notFound(ctx, name);
    answerEmpty(ctx, 204);
  };
}
