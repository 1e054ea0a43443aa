/**
 * The seed documents' flow over real HTTP against the real server process: POST export → poll GET
 * (honouring Retry-After) → PROPFIND → GET the zip, interrupted and resumed with Range → PUT it into
 * another cell's area → POST import → poll → the two cells' contents compare equal.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { DOMParser } from '@xmldom/xmldom';
import { cellInfo, digestOf, expectedAfterImport } from '../helpers/cell-digest.js';
import { send } from '../helpers/http.js';
import { type CliServer, startCliServer } from './cli-server.js';

const DAV = 'DAV:';

interface Variant {
  readonly title: string;
  readonly flags: string[];
  /** The URL of `{CellURL}{rest}` and the Host header to send. */
  readonly url: (server: CliServer, cell: string, rest: string) => { url: string; host?: string };
}

const VARIANTS: Variant[] = [
  { title: 'mounted at /', flags: [], url: (s, cell, rest) => ({ url: `http://127.0.0.1:${s.port}/${cell}/${rest}` }) },
  {
    title: 'under a prefix beside the host routes',
    flags: ['--prefix', '/api'],
    url: (s, cell, rest) => ({ url: `http://127.0.0.1:${s.port}/api/${cell}/${rest}` }),
  },
  {
    title: 'in host mode',
    flags: ['--mode', 'host', '--unit-host', 'unit.test'],
    url: (s, cell, rest) => ({ url: `http://127.0.0.1:${s.port}/${rest}`, host: `${cell}.unit.test:${s.port}` }),
  },
];

for (const variant of VARIANTS) {
  test(`e2e ${variant.title}: export, download with resume, upload, import`, async (t) => {
    const server = await startCliServer(t, variant.flags);
    t.regex(server.banner, /cells: alice, bob/);
    t.regex(server.banner, /token: e2e-token-0123456789/);
    const call = (method: string, cell: string, rest: string, headers: Record<string, string> = {}, body?: Buffer | string) => {
      const { url, host } = variant.url(server, cell, rest);
      return send(url, method, {
        headers: { authorization: `Bearer ${server.token}`, ...(host === undefined ? {} : { host }), ...headers },
        ...(body === undefined ? {} : { body }),
      });
    };
    const poll = async (cell: string, resource: '__export' | '__import'): Promise<Record<string, unknown>> => {
      for (;;) {
        const res = await call('GET', cell, resource);
        const body = res.json<Record<string, unknown>>();
        if (!String(body['status']).endsWith('in progress')) return body;
        const retryAfter = Number(res.headers['retry-after']);
        t.true(retryAfter >= 1);
        await sleep(Math.min(retryAfter, 2) * 1000);
      }
    };

    if (variant.flags.includes('--prefix')) {
      const home = await send(`http://127.0.0.1:${server.port}/api/`, 'GET', { headers: { authorization: `Bearer ${server.token}` } });
      t.deepEqual(home.json(), { name: 'koa-cell-snapshot', cells: ['alice', 'bob'] }, 'the host route answers beside the router');
      t.is((await send(`http://127.0.0.1:${server.port}/api/`, 'GET')).status, 401, 'and needs the token too');
    }

    const exported = await call('POST', 'alice', '__export', { 'content-type': 'application/json' }, '{"Name":"seed-flow"}');
    t.is(exported.status, 202);
    t.deepEqual(await poll('alice', '__export'), { status: 'ready' });

    const listing = await call('PROPFIND', 'alice', '__snapshot', { depth: '1' });
    t.is(listing.status, 207);
    const doc = new DOMParser().parseFromString(listing.text, 'application/xml');
    const hrefs = Array.from(doc.getElementsByTagNameNS(DAV, 'href')).map((node) => node.textContent ?? '');
    t.true(hrefs.some((href) => href.endsWith('/__snapshot/seed-flow.zip')), hrefs.join(' '));

    const whole = await call('GET', 'alice', '__snapshot/seed-flow.zip');
    t.is(whole.status, 200);
    const size = whole.body.length;
    const half = await firstBytes(variant.url(server, 'alice', '__snapshot/seed-flow.zip'), server.token, Math.floor(size / 2));
    const rest = await call('GET', 'alice', '__snapshot/seed-flow.zip', { range: `bytes=${half.length}-`, 'if-range': String(whole.headers.etag) });
    t.is(rest.status, 206);
    t.is(rest.headers['content-range'], `bytes ${half.length}-${size - 1}/${size}`);
    const resumed = Buffer.concat([half, rest.body]);
    t.is(sha256(resumed), sha256(whole.body));

    const put = await call('PUT', 'bob', '__snapshot/seed-flow.zip', { 'content-type': 'application/zip' }, resumed);
    t.is(put.status, 201);
    const imported = await call('POST', 'bob', '__import', {}, '{"Name":"seed-flow"}');
    t.is(imported.status, 202);
    t.deepEqual(await poll('bob', '__import'), { status: 'ready' });

    const alice = await digestOf(server.dataDir, 'alice');
    const bob = await cellInfo(server.dataDir, 'bob');
    t.deepEqual(await digestOf(server.dataDir, 'bob'), expectedAfterImport(alice, bob));
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Downloads until `limit` bytes arrived, then drops the connection (an interrupted download). */
function firstBytes(target: { url: string; host?: string }, token: string, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (target.host !== undefined) headers['host'] = target.host;
    const req = request(target.url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        if (length >= limit) return;
        chunks.push(chunk.subarray(0, limit - length));
        length = Math.min(limit, length + chunk.length);
        if (length >= limit) {
          req.destroy();
          resolve(Buffer.concat(chunks));
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end();
  });
}

