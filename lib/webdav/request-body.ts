/**
 * Request bodies: what a PUT body may be, and reading a small body (a PROPFIND's) with a size cap, as
 * a stream: the declared `Content-Length` is checked before anything is read, and reading stops as
 * soon as the cap is passed.
 */
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';

/**
 * Refuses, before anything is read, a PUT body that cannot be stored as the whole new content:
 * a `Content-Range` (a partial PUT, which RFC 9110 section 14.5 says must be refused unless the
 * server implements it: 400 `PR400-SN-0004`), and a `Content-Encoding` other than `identity`
 * (section 8.4: 415 `PR415-SN-0001`, with `Accept-Encoding: identity` to say what is accepted).
 */
export function assertWholeIdentityBody(ctx: Context): void {
  if (ctx.req.headers['content-range'] !== undefined) throw new PersoniumError('PR400-SN-0004');
  const encoding = ctx.req.headers['content-encoding'];
  if (encoding === undefined) return;
  const codings = encoding.split(',').map((coding) => coding.trim().toLowerCase());
  if (codings.some((coding) => coding !== '' && coding !== 'identity')) {
    throw new PersoniumError('PR415-SN-0001', [], { headers: { 'Accept-Encoding': 'identity' } });
  }
}

/**
 * Lets the rest of an unfinished request body be read and discarded, so the connection stays usable
 * and the client sees the answer rather than a reset. Does nothing once the body is complete or the
 * request is gone.
 */
export function discardRestOfBody(ctx: Context): void {
  const req = ctx.req;
  if (!req.complete && !req.destroyed) req.resume();
}

/** The declared `Content-Length`, or `undefined` when absent or not a plain integer. */
export function declaredLength(ctx: Context): number | undefined {
  const value = ctx.req.headers['content-length'];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Reads the whole body into a buffer, at most `maxBytes`. Rejects with `refuse()` when the body is
 * longer (declared or actual; the rest is then discarded) or cannot be read (the client went away:
 * nobody will see the answer, and it is no server failure worth reporting).
 */
export async function readLimitedBody(ctx: Context, maxBytes: number, refuse: () => Error): Promise<Buffer> {
  const declared = declaredLength(ctx);
  if (declared !== undefined && declared > maxBytes) throw refuse();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      total += buffer.length;
      if (total > maxBytes) break;
      chunks.push(buffer);
    }
  } catch {
    throw refuse();
  }
  if (total > maxBytes) {
    discardRestOfBody(ctx);
    throw refuse();
  }
  return Buffer.concat(chunks, total);
}
