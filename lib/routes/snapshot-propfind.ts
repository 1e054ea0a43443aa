/**
 * PROPFIND of `{CellURL}__snapshot` and `{CellURL}__snapshot/{name}` (`docs/protocol.md`, PROPFIND): `Depth`
 * checked, the optional body checked and ignored (always allprop), 207 with a `DAV:` multistatus.
 *
 * The collection has no dates of its own in a {@link SnapshotStore}, so they are derived from its
 * files: `getlastmodified` is the newest file's modification time and `creationdate` the oldest
 * file's creation time; both are the epoch (1970-01-01T00:00:00Z) when the area is empty.
 */
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';
import type { Handler } from '../http/pipeline.js';
import { setHeader } from '../http/set-header.js';
import { authorised } from '../http/state.js';
import type { SnapshotInfo } from '../types.js';
import { type DavResponse, MULTISTATUS_TYPE, renderMultistatus } from '../webdav/multistatus.js';
import { type Depth, checkPropfindBody, parseDepth } from '../webdav/propfind.js';
import { readLimitedBody } from '../webdav/request-body.js';
import type { RouteDeps } from './deps.js';
import { collectionUrl, fileName, fileUrl, notFound } from './snapshot-file.js';

/** Checks `Depth` then the body: the order of the errors a client sees. */
async function readPropfind(ctx: Context, maxBodyBytes: number): Promise<Depth> {
  const header = ctx.req.headers.depth;
  const depth = parseDepth(Array.isArray(header) ? header.join(', ') : header);
  const body = await readLimitedBody(ctx, maxBodyBytes, () => new PersoniumError('PR400-DV-0001'));
  checkPropfindBody(body);
  return depth;
}

/** The `response` of one file. */
function fileResponse(ctx: Context, info: SnapshotInfo): DavResponse {
  return {
    href: fileUrl(ctx, info.name),
    props: {
      created: info.created,
      modified: info.modified,
      collection: false,
      contentLength: info.size,
      contentType: info.contentType,
      etag: info.etag,
    },
  };
}

/** The `response` of the collection, its dates derived from its files. */
function collectionResponse(ctx: Context, files: readonly SnapshotInfo[]): DavResponse {
  let created = Number.POSITIVE_INFINITY;
  let modified = 0;
  for (const file of files) {
    created = Math.min(created, file.created.getTime());
    modified = Math.max(modified, file.modified.getTime());
  }
  return {
    href: collectionUrl(ctx),
    props: { created: new Date(files.length === 0 ? 0 : created), modified: new Date(modified), collection: true },
  };
}

/** Answers 207 with the rendered responses. */
function answerMultistatus(ctx: Context, responses: readonly DavResponse[]): void {
  ctx.status = 207;
  setHeader(ctx, 'Content-Type', MULTISTATUS_TYPE);
  ctx.body = renderMultistatus(responses);
}

/** PROPFIND of the collection: itself, and at Depth 1 every complete file, sorted by name. */
export function propfindCollection({ options }: RouteDeps): Handler {
  return async (ctx) => {
    const { cell } = authorised(ctx);
    const depth = await readPropfind(ctx, options.limits.maxRequestBodyBytes);
    const files = [...(await options.snapshots.list(cell.id))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const responses = [collectionResponse(ctx, files)];
    if (depth === 1) for (const file of files) responses.push(fileResponse(ctx, file));
    answerMultistatus(ctx, responses);
  };
}

/** PROPFIND of one file (Depth 0 or 1 alike: a file has no members), with its `ETag`. */
export function propfindFile({ options }: RouteDeps): Handler {
  return async (ctx) => {
    const { cell } = authorised(ctx);
    const name = fileName(ctx);
    await readPropfind(ctx, options.limits.maxRequestBodyBytes);
    const info = await options.snapshots.stat(cell.id, name);
    if (info === undefined) throw notFound(ctx, name);
    setHeader(ctx, 'ETag', info.etag);
    answerMultistatus(ctx, [fileResponse(ctx, info)]);
  };
}
