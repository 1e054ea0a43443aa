/**
 * The JSON body of POST `__export` / `__import`: always read as JSON whatever the `Content-Type`
 * (as Personium does), through koa-body with a size limit.
 */
import type { Context } from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import { PersoniumError } from '../errors.js';
import { isJsonObject } from '../util/json.js';

/** The longest raw body quoted back in a parse error. */
const QUOTE_LIMIT = 200;

function quote(raw: string): string {
  return raw.length > QUOTE_LIMIT ? `${raw.slice(0, QUOTE_LIMIT)}…` : raw;
}

/** Makes a reader of JSON object bodies limited to `limitBytes`. */
export function jsonBodyReader(limitBytes: number) {
  const parse = koaBody({
    json: false,
    urlencoded: false,
    multipart: false,
    text: true,
    textTypes: ['*/*'],
    textLimit: limitBytes,
    parsedMethods: [HttpMethodEnum.POST],
    patchKoa: true,
  });

  /**
   * Resolves to the body's JSON object, or `undefined` for an empty body. Rejects with 400
   * `PR400-CM-0004` when it is not a JSON object (or is too large or unreadable).
   */
  return async function readJsonBody(ctx: Context): Promise<Record<string, unknown> | undefined> {
    const headers = ctx.req.headers;
    if (headers['content-type'] === undefined || headers['content-type'] === '') headers['content-type'] = 'text/plain';
    let raw = '';
    try {
      await parse(ctx, async () => {});
      const body: unknown = ctx.request.body;
      raw = typeof body === 'string' ? body : '';
    } catch {
      throw new PersoniumError('PR400-CM-0004', ['unreadable or too large body']);
    }
    if (raw.trim() === '') return undefined;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new PersoniumError('PR400-CM-0004', [quote(raw)]);
    }
    if (!isJsonObject(value)) throw new PersoniumError('PR400-CM-0004', [quote(raw)]);
    return value;
  };
}
