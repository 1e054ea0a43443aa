import test from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { MOUNT_MODES, startServer } from '../helpers/server.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };

for (const mode of MOUNT_MODES) {
  test(`${mode}: POST + X-HTTP-Method-Override: PROPFIND reaches PROPFIND; GET + the same header does not`, async (t) => {
    const server = await startServer(t, mode);
    const viaPost = await server.request('POST', 'alice', '__snapshot', {
      headers: { ...auth, 'x-http-method-override': 'propfind', depth: '0' },
    });
    t.is(viaPost.status, 207);
    t.regex(viaPost.text, /<multistatus xmlns="DAV:">/);
    const viaGet = await server.request('GET', 'alice', '__snapshot', {
      headers: { ...auth, 'x-http-method-override': 'PROPFIND', depth: '0' },
    });
    t.is(viaGet.status, 405);
    t.is(viaGet.json<{ code: string }>().code, 'PR405-MC-0001');
    t.is(viaGet.headers.allow, 'OPTIONS, PROPFIND');
  });

  test(`${mode}: an empty X-HTTP-Method-Override is ignored, and so is HEAD (a POST's answer keeps its body)`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('POST', 'alice', '__snapshot', { headers: { ...auth, 'x-http-method-override': '' } });
    t.is(res.status, 405);
    const head = await server.request('POST', 'alice', '__snapshot', { headers: { ...auth, 'x-http-method-override': 'head' } });
    t.is(head.status, 405);
    t.is(head.json<{ code: string }>().code, 'PR405-MC-0001');
  });

  test(`${mode}: X-Override: Authorization authenticates`, async (t) => {
    const server = await startServer(t, mode);
    const anonymous = await server.request('OPTIONS', 'alice', '__import', { headers: { authorization: 'Bearer nothing' } });
    t.is(anonymous.status, 401);
    const res = await server.request('OPTIONS', 'alice', '__import', {
      headers: { authorization: 'Bearer nothing', 'x-override': `Authorization: Bearer ${ROOT_TOKEN}` },
    });
    t.is(res.status, 200);
    t.is(res.headers.allow, 'OPTIONS, GET, POST, DELETE');
  });

  test(`${mode}: two X-Override lines for one header: the last wins`, async (t) => {
    const server = await startServer(t, mode);
    const lastGood = await server.request('OPTIONS', 'alice', '__import', {
      headers: { 'x-override': ['Authorization: Bearer wrong', `Authorization:   Bearer ${ROOT_TOKEN}  `] },
    });
    t.is(lastGood.status, 200);
    const lastBad = await server.request('OPTIONS', 'alice', '__import', {
      headers: { 'x-override': [`Authorization: Bearer ${ROOT_TOKEN}`, 'Authorization: Bearer wrong'] },
    });
    t.is(lastBad.status, 401);
    t.is(lastBad.json<{ code: string }>().code, 'PR401-AU-0006');
  });

  test(`${mode}: X-Override lines without a name are ignored`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('OPTIONS', 'alice', '__import', {
      headers: { ...auth, 'x-override': [': Bearer wrong', 'no colon at all', 'Authorization'] },
    });
    t.is(res.status, 200);
  });

  test(`${mode}: X-Override cannot change the method`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('GET', 'alice', '__snapshot', {
      headers: { ...auth, 'x-override': 'X-HTTP-Method-Override: PROPFIND', depth: '0' },
    });
    t.is(res.status, 405);
    const post = await server.request('POST', 'alice', '__snapshot', {
      headers: { ...auth, 'x-override': 'X-HTTP-Method-Override: PROPFIND', depth: '0' },
    });
    t.is(post.status, 405);
  });

  test(`${mode}: X-Override can change Depth`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('PROPFIND', 'alice', '__snapshot', {
      headers: { ...auth, depth: 'infinity', 'x-override': 'Depth: 0' },
    });
    t.is(res.status, 207);
    const refused = await server.request('PROPFIND', 'alice', '__snapshot', {
      headers: { ...auth, depth: '0', 'x-override': 'Depth: infinity' },
    });
    t.is(refused.status, 403);
    t.is(refused.json<{ code: string }>().code, 'PR403-DV-0001');
  });
}
