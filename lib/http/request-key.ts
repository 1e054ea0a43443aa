/** Step 1: `X-Personium-RequestKey`: validated, or generated, and echoed. */
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';
import { setHeader } from './set-header.js';
import { getState } from './state.js';

const VALID_KEY = /^[A-Za-z0-9_-]{0,128}$/;

/** Random bytes per key. */
const KEY_BYTES = 17;
/** Random bytes drawn at once: one call to the random source per 256 keys, each byte used once. */
const POOL_BYTES = KEY_BYTES * 256;
let pool = Buffer.alloc(0);
let used = 0;

/** A new key: 4 base64url characters, `_`, 18 more (23 in all), as Personium makes them. */
export function generateRequestKey(): string {
  if (used + KEY_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const chars = pool.toString('base64url', used, used + KEY_BYTES).slice(0, 22);
  used += KEY_BYTES;
  return `${chars.slice(0, 4)}_${chars.slice(4)}`;
}

/** Validates or generates the request key and echoes it in the response (400 `PR400-EV-0002`). */
export function applyRequestKey(ctx: Context): void {
  const sent = ctx.req.headers['x-personium-requestkey'];
  if (sent !== undefined && (typeof sent !== 'string' || !VALID_KEY.test(sent))) {
    throw new PersoniumError('PR400-EV-0002');
  }
  const key = sent ?? generateRequestKey();
  getState(ctx).requestKey = key;
  setHeader(ctx, 'X-Personium-RequestKey', key);
}
