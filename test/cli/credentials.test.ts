import test from 'ava';
import { credentialsOf } from '../../lib/cli/credentials.js';
import { UsageError } from '../../lib/cli/usage.js';

test('credentials: a flag wins over the environment; a cookie needs both parts; never both kinds', (t) => {
  t.deepEqual(credentialsOf({ token: 'flag-token' }, { TOKEN: 'env-token' }), { kind: 'bearer', token: 'flag-token' });
  t.deepEqual(credentialsOf({}, { TOKEN: 'env-token' }), { kind: 'bearer', token: 'env-token' });
  t.deepEqual(credentialsOf({}, { P_COOKIE_PEER: 'p', P_COOKIE: 'c', TOKEN: 'env-token' }), { kind: 'cookie', peer: 'p', cookie: 'c' });
  t.deepEqual(credentialsOf({}, {}), { kind: 'none' });
  t.throws(() => credentialsOf({ 'cookie-peer': 'p' }, {}), { instanceOf: UsageError, message: /needs both --cookie-peer and --cookie/ });
  t.throws(() => credentialsOf({ token: 't', cookie: 'c' }, {}), { instanceOf: UsageError, message: /either --token or --cookie-peer/ });
  t.throws(() => credentialsOf({}, { TOKEN: '' }), { instanceOf: UsageError, message: '--token (or TOKEN) is empty' });
});
