/** Step 6: credentials to principal, then the `root` privilege (`docs/protocol.md`, Authentication). */
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';
import type { AuthRequest, AuthVerifier } from '../types.js';
import { getState } from './state.js';

/** The credentials of a request: `Authorization`, or else `p_cookie_peer` with the `p_cookie` cookie. */
export function credentials(ctx: Context): Omit<AuthRequest, 'cell' | 'cellUrl'> {
  const authorization = ctx.req.headers.authorization;
  if (authorization !== undefined) return { authorization };
  const peer = ctx.query['p_cookie_peer'];
  if (typeof peer !== 'string' || peer === '') return {};
  const cookie = ctx.cookies.get('p_cookie');
  return cookie === undefined ? { cookiePeer: peer } : { cookiePeer: peer, cookie };
}

/** Authenticates the caller and requires `root`: 401 `PR401-AU-0001` anonymous, 403 `PR403-AU-0002`. */
export async function authenticate(ctx: Context, verifier: AuthVerifier): Promise<void> {
  const state = getState(ctx);
  if (state.cell === undefined) throw new Error('koa-cell-snapshot: cell not resolved before auth');
  const principal = await verifier.verify({ cell: state.cell, cellUrl: state.cellUrl, ...credentials(ctx) });
  if (principal === undefined) throw new PersoniumError('PR401-AU-0001');
  if (!principal.privileges.includes('root')) throw new PersoniumError('PR403-AU-0002');
  state.principal = principal;
}
