/** A real, simple AuthVerifier for tests: fixed tokens and one cookie pair. */
import { PersoniumError } from '../../lib/errors.js';
import type { AuthVerifier, Principal } from '../../lib/types.js';

/** The token that grants `root`. */
export const ROOT_TOKEN = 'root-token';
/** A token that authenticates without `root`. */
export const READER_TOKEN = 'reader-token';
/** A token the verifier refuses as expired. */
export const EXPIRED_TOKEN = 'expired-token';
/** The cookie peer and cookie that grant `root`. */
export const COOKIE = { peer: 'peer-1', value: 'cookie-of-peer-1' } as const;

const ROOT: Principal = { subject: 'https://unit.test/alice/#owner', privileges: ['root'] };

/** Verifies the fixed tokens above. */
export const testAuth: AuthVerifier = {
  async verify({ authorization, cookiePeer, cookie }) {
    if (authorization !== undefined) {
      if (authorization === `Bearer ${ROOT_TOKEN}`) return ROOT;
      if (authorization === `Bearer ${READER_TOKEN}`) return { subject: 'reader', privileges: ['read'] };
      if (authorization === `Bearer ${EXPIRED_TOKEN}`) throw new PersoniumError('PR401-AU-0002');
      throw new PersoniumError('PR401-AU-0006');
    }
    if (cookiePeer !== undefined) {
      if (cookiePeer === COOKIE.peer && cookie === COOKIE.value) return ROOT;
      throw new PersoniumError('PR401-AU-0009');
    }
    return undefined;
  },
};
