import test from 'ava';
import { COOKIE, EXPIRED_TOKEN, READER_TOKEN, ROOT_TOKEN } from '../helpers/auth.js';
import { MOUNT_MODES, startServer } from '../helpers/server.js';

for (const mode of MOUNT_MODES) {
  test(`${mode}: anonymous gets 401 PR401-AU-0001 with a Bearer realm of the cell URL`, async (t) => {
    const server = await startServer(t, mode);
    for (const [method, rest] of [['GET', '__export'], ['POST', '__import'], ['PROPFIND', '__snapshot'], ['GET', '__snapshot/missing.zip']] as const) {
      const res = await server.request(method, 'alice', rest);
      t.is(res.status, 401, `${method} ${rest}`);
      t.deepEqual(res.json(), { code: 'PR401-AU-0001', message: { lang: 'en', value: 'Authorization required.' } });
      t.is(res.headers['www-authenticate'], `Bearer realm="${server.cellUrl('alice')}"`);
    }
  });

  test(`${mode}: a principal without root gets 403 PR403-AU-0002`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__export', { headers: { authorization: `Bearer ${READER_TOKEN}` } });
    t.is(res.status, 403);
    t.deepEqual(res.json(), { code: 'PR403-AU-0002', message: { lang: 'en', value: 'Necessary privilege is lacking.' } });
  });

  test(`${mode}: the verifier's own 401 code is answered, with the realm`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__export', { headers: { authorization: `Bearer ${EXPIRED_TOKEN}` } });
    t.is(res.status, 401);
    t.is(res.json<{ code: string }>().code, 'PR401-AU-0002');
    t.is(res.headers['www-authenticate'], `Bearer realm="${server.cellUrl('alice')}"`);
  });

  test(`${mode}: p_cookie_peer with the p_cookie cookie authenticates; an empty peer is anonymous`, async (t) => {
    const server = await startServer(t, mode);
    const cookie = `p_cookie=${COOKIE.value}`;
    const ok = await server.request('GET', 'alice', `__export?p_cookie_peer=${COOKIE.peer}`, { headers: { cookie } });
    t.is(ok.status, 200);
    t.deepEqual(ok.json(), { status: 'ready' });
    const wrong = await server.request('GET', 'alice', `__export?p_cookie_peer=other`, { headers: { cookie } });
    t.is(wrong.status, 401);
    t.is(wrong.json<{ code: string }>().code, 'PR401-AU-0009');
    const empty = await server.request('GET', 'alice', `__export?p_cookie_peer=`, { headers: { cookie } });
    t.is(empty.status, 401);
    t.is(empty.json<{ code: string }>().code, 'PR401-AU-0001');
  });

  test(`${mode}: p_cookie_peer is ignored when Authorization is present`, async (t) => {
    const server = await startServer(t, mode);
    const cookie = `p_cookie=${COOKIE.value}`;
    const res = await server.request('OPTIONS', 'alice', `__export?p_cookie_peer=${COOKIE.peer}`, {
      headers: { cookie, authorization: `Bearer ${READER_TOKEN}` },
    });
    t.is(res.status, 403);
    const root = await server.request('OPTIONS', 'alice', `__export?p_cookie_peer=bogus`, {
      headers: { cookie: 'p_cookie=bogus', authorization: `Bearer ${ROOT_TOKEN}` },
    });
    t.is(root.status, 200);
  });

  test(`${mode}: an unknown cell answers 404 PR404-DV-0003 before authentication`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('GET', 'nobody', '__export');
    t.is(res.status, 404);
    t.deepEqual(res.json(), { code: 'PR404-DV-0003', message: { lang: 'en', value: 'Cell not found.' } });
  });
}
