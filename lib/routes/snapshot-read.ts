/**
 * GET and HEAD of `{CellURL}__snapshot/{name}`: the file streamed with its validators, after the
 * preconditions (412 on a false `If-Match` / `If-Unmodified-Since`, 304 on a matching
 * `If-None-Match` or an unmet `If-Modified-Since`), one byte range with `If-Range` (206 / 416).
 */
import type { Context } from 'koa';
import type { Readable } from 'node:stream';
import { isPersoniumError } from '../errors.js';
import type { Handler } from '../http/pipeline.js';
import { setHeader } from '../http/set-header.js';
import { authorised } from '../http/state.js';
import type { SnapshotInfo, SnapshotStore } from '../types.js';
import { httpDate } from '../webdav/http-date.js';
import { type ReadMethod, evaluatePreconditions } from '../webdav/preconditions.js';
import { type RangeChoice, chooseRange, contentRange, rangeNotSatisfiable } from '../webdav/ranges.js';
import type { RouteDeps } from './deps.js';
import { fileName, notFound, preconditionFailed } from './snapshot-file.js';

/** How often a GET looks again when the file is replaced between its metadata and its bytes. */
const ATTEMPTS = 5;

/** The headers every 200/206 answer carries. */
function setEntityHeaders(ctx: Context, info: SnapshotInfo): void {
  setHeader(ctx, 'ETag', info.etag);
  setHeader(ctx, 'Last-Modified', httpDate(info.modified));
  setHeader(ctx, 'Accept-Ranges', 'bytes');
  setHeader(ctx, 'Content-Type', info.contentType);
}

/** Sets status, `Content-Range` and `Content-Length` for the chosen part; its length. */
function setPartHeaders(ctx: Context, info: SnapshotInfo, choice: RangeChoice & { kind: 'full' | 'partial' }): void {
  if (choice.kind === 'partial') {
    ctx.status = 206;
    setHeader(ctx, 'Content-Range', contentRange(choice.range, info.size));
    ctx.length = choice.range.end - choice.range.start + 1;
  } else {
    ctx.status = 200;
    ctx.length = info.size;
  }
}

/**
 * Opens the chosen bytes of exactly the version `info` describes: `undefined` when the file was
 * replaced, deleted or shrunk meanwhile (the caller looks again).
 */
async function openVersion(
  snapshots: SnapshotStore,
  cellId: string,
  info: SnapshotInfo,
  choice: RangeChoice & { kind: 'full' | 'partial' },
): Promise<Readable | undefined> {
  // A whole non-empty file is read as the range of its known size: the stream then ends right after
  // its last byte, and can never send more bytes than the Content-Length announced.
  const range = choice.kind === 'partial' ? choice.range : info.size > 0 ? { start: 0, end: info.size - 1 } : undefined;
  let stream: Readable | undefined;
  try {
    stream = await snapshots.read(cellId, info.name, range);
  } catch (error) {
    if (isPersoniumError(error) && error.status === 416) return undefined;
    throw error;
  }
  if (stream === undefined) return undefined;
  // The stream holds whichever version was current when it was opened; it is the one described by
  // `info` if the ETag (unique per version) is still the same after opening.
  const after = await snapshots.stat(cellId, info.name).catch((error: unknown) => {
    stream?.destroy();
    throw error;
  });
  if (after?.etag === info.etag) return stream;
  stream.destroy();
  return undefined;
}

/** Serves GET or HEAD of a file. */
async function serve(ctx: Context, snapshots: SnapshotStore, method: ReadMethod): Promise<void> {
  const { cell } = authorised(ctx);
  const name = fileName(ctx);
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const info = await snapshots.stat(cell.id, name);
    if (info === undefined) throw notFound(ctx, name);
    const outcome = evaluatePreconditions(method, ctx.req.headers, info);
    if (outcome.kind === 'failed') throw preconditionFailed(outcome);
    if (outcome.kind === 'not-modified') {
      ctx.status = 304;
      setHeader(ctx, 'ETag', info.etag);
      return;
    }
    const choice: RangeChoice = outcome.rangeApplies ? chooseRange(ctx.req.headers.range, info.size) : { kind: 'full' };
    if (choice.kind === 'unsatisfiable') {
      throw rangeNotSatisfiable(info.size);
    }
    if (method === 'HEAD') {
      setEntityHeaders(ctx, info);
      setPartHeaders(ctx, info, choice);
      return;
    }
    const stream = await openVersion(snapshots, cell.id, info, choice);
    if (stream === undefined) continue;
    setEntityHeaders(ctx, info);
    ctx.body = stream;
    setPartHeaders(ctx, info, choice);
    return;
  }
  throw new Error(`Snapshot file ${name} kept changing while being opened`);
}

/** The GET handler. */
export function getFile({ options }: RouteDeps): Handler {
  return (ctx) => serve(ctx, options.snapshots, 'GET');
}

/** The HEAD handler: the headers of the GET, no body, no file opened. */
export function headFile({ options }: RouteDeps): Handler {
  return (ctx) => serve(ctx, options.snapshots, 'HEAD');
}
