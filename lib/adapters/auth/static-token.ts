/** A minimal `AuthVerifier`: one bearer token grants `root` on every cell (the standalone server's). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { PersoniumError } from '../../errors.js';
import type { AuthVerifier, Principal } from '../../types.js';

/** Options of {@link staticTokenAuth}. */
export interface StaticTokenAuthOptions {
  /** The bearer token that grants `root`. */
  readonly token: string;
  /** The subject events record for it. Default `owner`. */
  readonly subject?: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** A check of an `Authorization` header against `Bearer {token}`, in constant time. */
export function bearerMatcher(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(`Bearer ${token}`);
  return (authorization) => authorization !== undefined && timingSafeEqual(digest(authorization), expected);
}

/**
 * Accepts `Authorization: Bearer {token}` (compared in constant time) as a principal with `root`;
 * no credentials is anonymous; anything else is refused with 401 `PR401-AU-0006` (a cookie with
 * `PR401-AU-0009`). Meant for the standalone server and tests, not for production identity.
 */
export function staticTokenAuth(options: StaticTokenAuthOptions): AuthVerifier {
  if (typeof options.token !== 'string' || options.token.length < 8) {
    throw new TypeError('koa-cell-snapshot: staticTokenAuth needs a token of at least 8 characters');
  }
  const matches = bearerMatcher(options.token);
  const principal: Principal = Object.freeze({ subject: options.subject ?? 'owner', privileges: Object.freeze(['root']) });
  return {
    async verify({ authorization, cookiePeer }) {
      if (authorization !== undefined) {
        if (matches(authorization)) return principal;
        throw new PersoniumError('PR401-AU-0006');
      }
      if (cookiePeer !== undefined) throw new PersoniumError('PR401-AU-0009');
      return undefined;
    },
  };
}
