/** Step 4 and step 8: CORS and `X-Personium-Version` headers on every response, and the preflight. */
import type { Context } from 'koa';
import { setHeader } from './set-header.js';

/** Headers a browser may read from the module's responses. */
export const EXPOSED_HEADERS = 'X-Personium-Version, X-Personium-RequestKey, Location, ETag, Retry-After, Content-Range';

/** What the common headers depend on. */
export interface CommonHeaderOptions {
  /** The `X-Personium-Version` value. */
  readonly version: string;
  /** `any` (`*`) or `echo` (the request `Origin`, with credentials). */
  readonly cors: 'any' | 'echo';
}

/** Sets the version and CORS headers; called before the handler and again on errors. */
export function setCommonHeaders(ctx: Context, options: CommonHeaderOptions): void {
  setHeader(ctx, 'X-Personium-Version', options.version);
  if (options.cors === 'any') {
    setHeader(ctx, 'Access-Control-Allow-Origin', '*');
  } else {
    const origin = ctx.get('Origin');
    if (origin === '') return;
    setHeader(ctx, 'Access-Control-Allow-Origin', origin);
    setHeader(ctx, 'Access-Control-Allow-Credentials', 'true');
    ctx.vary('Origin');
  }
  setHeader(ctx, 'Access-Control-Expose-Headers', EXPOSED_HEADERS);
  const requested = ctx.get('Access-Control-Request-Headers');
  if (requested !== '') setHeader(ctx, 'Access-Control-Allow-Headers', requested);
}

/** Answers OPTIONS: 200 with `Allow` and `Access-Control-Allow-Methods`. */
export function answerOptions(ctx: Context, allowed: readonly string[]): void {
  const list = allowed.join(', ');
  setHeader(ctx, 'Allow', list);
  setHeader(ctx, 'Access-Control-Allow-Methods', list);
  setHeader(ctx, 'Access-Control-Max-Age', '86400');
  ctx.body = null;
  ctx.status = 200;
}
