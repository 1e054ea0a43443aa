import test from 'ava';
import { bearerMatcher, staticTokenAuth } from '../../../lib/adapters/auth/static-token.js';
import { PersoniumError } from '../../../lib/errors.js';
import type { AuthRequest, CellInfo } from '../../../lib/types.js';

const TOKEN = 'a-static-token';
const CELL: CellInfo = { id: 'c0ffee', name: 'alice' };

function request(extra: Partial<AuthRequest>): AuthRequest {
  return { cell: CELL, cellUrl: 'http://unit.example/alice/', ...extra };
}

const REFUSED: ReadonlyArray<readonly [string, string]> = [
  ['another token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`],
  ['the token with one character changed', `Bearer ${TOKEN.slice(0, -1)}X`],
  ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
  ['the token with more after it', `Bearer ${TOKEN}x`],
  ['the token and a space', `Bearer ${TOKEN} `],
  ['another scheme', `Basic ${TOKEN}`],
  ['the scheme in lower case', `bearer ${TOKEN}`],
  ['the bare token', TOKEN],
  ['an empty header', ''],
  ['the scheme alone', 'Bearer '],
  // Same number of characters, more bytes in UTF-8: must not match on a character count.
  ['a multi-byte look-alike', `Bearer ${TOKEN.slice(0, -1)}é`],
];

test('the token is accepted as root; every near miss is refused with PR401-AU-0006', async (t) => {
  const auth = staticTokenAuth({ token: TOKEN, subject: 'operator' });
  t.deepEqual(await auth.verify(request({ authorization: `Bearer ${TOKEN}` })), { subject: 'operator', privileges: ['root'] });
  for (const [what, authorization] of REFUSED) {
    const error = await t.throwsAsync(auth.verify(request({ authorization })), { instanceOf: PersoniumError }, what);
    t.is(error?.code, 'PR401-AU-0006', what);
  }
});

test('no credentials is anonymous; a cookie is refused with PR401-AU-0009', async (t) => {
  const auth = staticTokenAuth({ token: TOKEN });
  t.is(await auth.verify(request({})), undefined);
  const error = await t.throwsAsync(auth.verify(request({ cookiePeer: 'peer', cookie: 'c' })), { instanceOf: PersoniumError });
  t.is(error?.code, 'PR401-AU-0009');
});

test('the subject defaults to owner', async (t) => {
  t.is((await staticTokenAuth({ token: TOKEN }).verify(request({ authorization: `Bearer ${TOKEN}` })))?.subject, 'owner');
});

test('a token shorter than 8 characters is refused at construction', (t) => {
  t.throws(() => staticTokenAuth({ token: 'short' }), { instanceOf: TypeError, message: /at least 8 characters/ });
});

test('bearerMatcher matches exactly `Bearer {token}`', (t) => {
  const matches = bearerMatcher(TOKEN);
  t.true(matches(`Bearer ${TOKEN}`));
  t.false(matches(undefined));
  for (const [what, authorization] of REFUSED) t.false(matches(authorization), what);
});
