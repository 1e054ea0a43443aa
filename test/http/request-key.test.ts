import test from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { MOUNT_MODES, startServer } from '../helpers/server.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };

for (const mode of MOUNT_MODES) {
  test(`${mode}: a missing key is generated as 4 + _ + 18 base64url characters and echoed`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__export', { headers: auth });
    t.is(res.status, 200);
    t.regex(String(res.headers['x-personium-requestkey']), /^[A-Za-z0-9_-]{4}_[A-Za-z0-9_-]{18}$/);
    const again = await server.request('OPTIONS', 'alice', '__export', { headers: auth });
    t.not(again.headers['x-personium-requestkey'], res.headers['x-personium-requestkey']);
  });

  test(`${mode}: a 128-character key is accepted and echoed, the empty key too`, async (t) => {
    const server = await startServer(t, mode);
    const key = 'aZ0-_'.repeat(25) + 'abc';
    t.is(key.length, 128);
    const res = await server.request('OPTIONS', 'alice', '__export', { headers: { ...auth, 'x-personium-requestkey': key } });
    t.is(res.status, 200);
    t.is(res.headers['x-personium-requestkey'], key);
    const empty = await server.request('OPTIONS', 'alice', '__export', { headers: { ...auth, 'x-personium-requestkey': '' } });
    t.is(empty.status, 200);
    t.is(empty.headers['x-personium-requestkey'], '');
  });

  test(`${mode}: 129 characters or a dot give 400 PR400-EV-0002`, async (t) => {
    const server = await startServer(t, mode);
    for (const key of ['a'.repeat(129), 'abc.def', 'with space']) {
      const res = await server.request('GET', 'alice', '__export', { headers: { ...auth, 'x-personium-requestkey': key } });
      t.is(res.status, 400, key);
      t.deepEqual(res.json(), {
        code: 'PR400-EV-0002',
        message: { lang: 'en', value: 'Request header is invalid [X-Personium-RequestKey].' },
      });
      t.is(res.headers['content-type'], 'application/json; charset=utf-8');
    }
  });

  test(`${mode}: X-Override cannot change the request key`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__export', {
      headers: { ...auth, 'x-personium-requestkey': 'original', 'x-override': 'X-Personium-RequestKey: changed' },
    });
    t.is(res.headers['x-personium-requestkey'], 'original');
  });
}
