/** Setting one response header: the way the pipeline and the routes set each header they answer with. */
import type { Context } from 'koa';

/**
 * Sets the response header `name` to `value`, unless the headers are already sent: what
 * `ctx.set(name, value)` does for one string value, without the arrays Koa builds on every call
 * (a status read sets seven headers, and this is measurably part of its cost under load).
 */
export function setHeader(ctx: Context, name: string, value: string): void {
  if (!ctx.res.headersSent) ctx.res.setHeader(name, value);
}
