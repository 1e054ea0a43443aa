/** Steps 2 and 3: `X-HTTP-Method-Override` (POST only), then `X-Override` header replacement. */
import type { Context } from 'koa';

/** Header names `X-Override` may never set: they would change steps already taken. */
const PROTECTED = new Set(['x-personium-requestkey', 'x-http-method-override', 'x-override']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Applies the method override. `HEAD` is not applied: the connection still carries a POST, whose
 * response must have the body its headers announce.
 */
export function overrideMethod(ctx: Context): void {
  const value = ctx.req.headers['x-http-method-override'];
  const method = typeof value === 'string' ? value.trim().toUpperCase() : '';
  if (ctx.method === 'POST' && method !== '' && method !== 'HEAD') ctx.method = method;
}

/**
 * Applies every `X-Override: Name: value` line in order: split at the first colon (a line without
 * one, or starting with one, is ignored), both parts trimmed, the value replacing every value of
 * that header; a later line for the same header wins.
 */
export function overrideHeaders(ctx: Context): void {
  // `headersDistinct` builds an object of every header on first use: look only when there is one.
  if (ctx.req.headers['x-override'] === undefined) return;
  const lines = ctx.req.headersDistinct['x-override'];
  if (lines === undefined) return;
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!TOKEN.test(name) || PROTECTED.has(name)) continue;
    const value = line.slice(colon + 1).trim();
    ctx.req.headers[name] = value;
    ctx.req.headersDistinct[name] = [value];
  }
}

/** Steps 2 and 3, in order. */
export function applyOverrides(ctx: Context): void {
  overrideMethod(ctx);
  overrideHeaders(ctx);
}
