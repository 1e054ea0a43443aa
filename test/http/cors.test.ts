import test from 'ava';
import { PACKAGE_VERSION } from '../../lib/version.js';
import { EXPOSED_HEADERS } from '../../lib/http/cors.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { MOUNT_MODES, startServer } from '../helpers/server.js';

for (const mode of MOUNT_MODES) {
  test(`${mode}: OPTIONS without Authorization is a preflight: 200, Allow, no privilege check`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__snapshot/any.zip', {
      headers: { origin: 'https://app.example', 'access-control-request-headers': 'Authorization, Depth' },
    });
    t.is(res.status, 200);
    t.is(res.headers.allow, 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND');
    t.is(res.headers['access-control-allow-methods'], 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND');
    t.is(res.headers['access-control-allow-headers'], 'Authorization, Depth');
    t.is(res.headers['access-control-allow-origin'], '*');
    t.is(res.body.length, 0);
    const unknownCell = await server.request('OPTIONS', 'nobody', '__export');
    t.is(unknownCell.status, 200);
    t.is(unknownCell.headers.allow, 'OPTIONS, GET, POST, DELETE');
  });

  test(`${mode}: error responses carry the version and CORS headers`, async (t) => {
    const server = await startServer(t, mode);
    for (const res of [
      await server.request('GET', 'alice', '__export'),
      await server.request('GET', 'nobody', '__export'),
      await server.request('MKCOL', 'alice', '__snapshot', { headers: { authorization: `Bearer ${ROOT_TOKEN}` } }),
      await server.request('GET', 'alice', '__export', { headers: { 'x-personium-requestkey': '!' } }),
    ]) {
      t.true(res.status >= 400);
      t.is(res.headers['x-personium-version'], PACKAGE_VERSION);
      t.is(res.headers['access-control-allow-origin'], '*');
      t.is(res.headers['access-control-expose-headers'], EXPOSED_HEADERS);
    }
  });

  test(`${mode}: the version header is configurable; cors 'echo' echoes the Origin with credentials`, async (t) => {
    const server = await startServer(t, mode, { options: { version: '1.8.4', cors: 'echo' } });
    const res = await server.request('OPTIONS', 'alice', '__export', {
      headers: { authorization: `Bearer ${ROOT_TOKEN}`, origin: 'https://app.example' },
    });
    t.is(res.headers['x-personium-version'], '1.8.4');
    t.is(res.headers['access-control-allow-origin'], 'https://app.example');
    t.is(res.headers['access-control-allow-credentials'], 'true');
    const noOrigin = await server.request('OPTIONS', 'alice', '__export', { headers: { authorization: `Bearer ${ROOT_TOKEN}` } });
    t.is(noOrigin.headers['access-control-allow-origin'], undefined);
    t.is(noOrigin.headers['x-personium-version'], '1.8.4');
  });
}
