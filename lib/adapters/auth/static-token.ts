/** A minimal `AuthVerifier`: one bearer token grants `root` on every cell (the standalone server's). */
import { timingSafeEqual } from 'node:crypto';
import { PersoniumError } from '../../errors.js';
import type { AuthVerifier, Principal } from '../../types.js';

/** Options of {@link staticTokenAuth}. */
export interface StaticTokenAuthOptions {
  /** The bearer token that grants `root`. */
  readonly token: string;
  /** The subject events record for it. Default `owner`. */
  readonly subject?: string;
}

/**
 * A check of an `Authorization` header against `Bearer {token}`: the UTF-8 bytes are compared in
 * constant time when their lengths are equal, so a caller learns at most the token's length. (An
 * earlier version compared SHA-256 digests, which hides the length too; hashing each request cost a
 * status read a fifth of its rate, and the length of a random token of 8 or more characters is not
 * what keeps it secret.)
 */
export function bearerMatcher(token: string): (authorization: string | undefined) => boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  return (authorization) => {
    if (authorization === undefined) return false;
    const given = Buffer.from(authorization);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
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
