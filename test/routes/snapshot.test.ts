/**
 * The snapshot area over real HTTP: PROPFIND (Depth, bodies, the 207), GET/HEAD (validators, 304,
 * ranges), DELETE, authentication before existence, and the 409 while an export runs.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DOMParser, type Element } from '@xmldom/xmldom';
import test, { type ExecutionContext } from 'ava';
import { READER_TOKEN, ROOT_TOKEN } from '../helpers/auth.js';
import { wrapCells } from '../helpers/cells.js';
import { MOUNT_MODES, type TestServer, startServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { untilLastModifiedIsStrong } from '../helpers/wait.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const DAV = 'DAV:';

async function cellId(server: TestServer, cell = 'alice'): Promise<string> {
  const record = JSON.parse(await readFile(join(server.dataDir, 'cells', cell, 'cell.json'), 'utf8')) as { _id: string };
  return record._id;
}

function put(server: TestServer, name: string, body: string | Buffer, headers: Record<string, string> = {}) {
  return server.request('PUT', 'alice', `__snapshot/${encodeURIComponent(name)}`, { headers: { ...auth, ...headers }, body });
}

function propfind(server: TestServer, rest: string, headers: Record<string, string>, body?: string) {
  return server.request('PROPFIND', 'alice', rest, { headers: { ...auth, ...headers }, ...(body === undefined ? {} : { body }) });
}

function errorOf(res: { json<T>(): T }): { code: string; message: { lang: string; value: string } } {
  return res.json();
}

/** Parses a 207 body with an independent, namespace-aware parser that fails on any error. */
function parseMultistatus(xml: string): Element[] {
  const doc = new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(xml, 'application/xml');
  const root = doc.documentElement;
  if (root === null || root.namespaceURI !== DAV || root.localName !== 'multistatus') throw new Error('not a DAV: multistatus');
  return Array.from(root.getElementsByTagNameNS(DAV, 'response'));
}

/** The text of the one DAV: element of that name in a response. */
function prop(response: Element, local: string): string | null {
  const found = response.getElementsByTagNameNS(DAV, local);
  if (found.length !== 1) throw new Error(`expected one DAV:${local}, got ${found.length}`);
  return found[0]?.textContent ?? null;
}

function isCollection(response: Element): boolean {
  const type = response.getElementsByTagNameNS(DAV, 'resourcetype')[0];
  if (type === undefined) throw new Error('no resourcetype');
  const children = Array.from(type.childNodes).filter((node) => node.nodeType === 1) as Element[];
  if (children.length === 0) return false;
  if (children.length === 1 && children[0]?.namespaceURI === DAV && children[0].localName === 'collection') return true;
  throw new Error('unexpected resourcetype');
}

function statusesOf(response: Element): string[] {
  return Array.from(response.getElementsByTagNameNS(DAV, 'status')).map((node) => node.textContent ?? '');
}

for (const mode of MOUNT_MODES) {
  test(`${mode}: PROPFIND lists the collection and, at Depth 1, every file sorted by name with all properties`, async (t) => {
    const server = await startServer(t, mode);
    const empty = await propfind(server, '__snapshot', { depth: '1' });
    t.is(empty.status, 207);
    t.is(empty.headers['content-type'], 'application/xml');
    const [alone, ...none] = parseMultistatus(empty.text);
    if (alone === undefined) return t.fail('no response');
    t.deepEqual(none, []);
    t.is(prop(alone, 'href'), server.cellUrl('alice', '__snapshot'));
    t.true(isCollection(alone));
    t.is(prop(alone, 'creationdate'), '1970-01-01T00:00:00.000Z', 'an empty area has epoch dates');
    t.is(prop(alone, 'getlastmodified'), 'Thu, 01 Jan 1970 00:00:00 GMT');

    const names = ['b.zip', 'a b&c<ä>.txt', 'A.zip'];
    t.is((await put(server, 'b.zip', 'zip bytes', { 'content-type': 'application/zip' })).status, 201);
    t.is((await put(server, 'a b&c<ä>.txt', 'hello', { 'content-type': 'text/plain; charset=utf-8' })).status, 201);
    t.is((await put(server, 'A.zip', Buffer.alloc(1234, 7))).status, 201);
    const id = await cellId(server);
    const res = await propfind(server, '__snapshot', { depth: '1' });
    t.is(res.status, 207);
    t.is(res.headers['content-type'], 'application/xml');
    const [collection, ...files] = parseMultistatus(res.text);
    if (collection === undefined) return t.fail('no collection response');
    t.is(prop(collection, 'href'), server.cellUrl('alice', '__snapshot'));
    t.true(isCollection(collection));
    t.deepEqual(statusesOf(collection), ['HTTP/1.1 200 OK']);
    const sorted = [...names].sort();
    t.deepEqual(
      files.map((file) => prop(file, 'href')),
      sorted.map((name) => `${server.cellUrl('alice', '__snapshot')}/${encodeURIComponent(name)}`),
    );
    const { FsSnapshotStore } = await import('../../lib/adapters/fs/snapshot-store.js');
    const store = new FsSnapshotStore({ root: join(server.dataDir, 'snapshots') });
    const infos = await store.list(id);
    t.deepEqual(infos.map((info) => info.name), sorted);
    for (const [i, file] of files.entries()) {
      const info = infos[i];
      if (info === undefined) return t.fail('missing info');
      t.false(isCollection(file), info.name);
      t.is(prop(file, 'getcontentlength'), String(info.size));
      t.is(prop(file, 'getcontenttype'), info.contentType);
      t.is(prop(file, 'getetag'), info.etag);
      t.is(prop(file, 'getlastmodified'), info.modified.toUTCString());
      t.is(prop(file, 'creationdate'), info.created.toISOString());
      t.deepEqual(statusesOf(file), ['HTTP/1.1 200 OK']);
      const get = await server.request('GET', 'alice', `__snapshot/${encodeURIComponent(info.name)}`, { headers: auth });
      t.is(get.headers.etag, info.etag);
      t.is(get.headers['last-modified'], info.modified.toUTCString());
    }
    t.deepEqual(
      files.map((file) => [prop(file, 'getcontentlength'), prop(file, 'getcontenttype')]),
      [
        ['1234', 'application/octet-stream'],
        ['5', 'text/plain; charset=utf-8'],
        ['9', 'application/zip'],
      ],
    );
    const oldestCreated = Math.min(...infos.map((info) => info.created.getTime()));
    const newestModified = Math.max(...infos.map((info) => info.modified.getTime()));
    t.is(prop(collection, 'creationdate'), new Date(oldestCreated).toISOString());
    t.is(prop(collection, 'getlastmodified'), new Date(newestModified).toUTCString());

    const depth0 = await propfind(server, '__snapshot', { depth: '0' });
    t.is(depth0.status, 207);
    t.is(parseMultistatus(depth0.text).length, 1);

    for (const depth of ['0', '1']) {
      const one = await propfind(server, `__snapshot/${encodeURIComponent('a b&c<ä>.txt')}`, { depth });
      t.is(one.status, 207);
      const [only, ...more] = parseMultistatus(one.text);
      if (only === undefined) return t.fail('no file response');
      t.deepEqual(more, []);
      t.is(prop(only, 'href'), `${server.cellUrl('alice', '__snapshot')}/${encodeURIComponent('a b&c<ä>.txt')}`);
      t.is(prop(only, 'getcontentlength'), '5');
      t.is(one.headers.etag, prop(only, 'getetag') ?? '');
    }

    const missing = await propfind(server, '__snapshot/nope.zip', { depth: '0' });
    t.is(missing.status, 404);
    t.deepEqual(errorOf(missing), {
      code: 'PR404-DV-0001',
      message: { lang: 'en', value: `Resource not found. [${server.cellUrl('alice', '__snapshot/nope.zip')}].` },
    });
  });

  test(`${mode}: PROPFIND Depth: missing → 400 [null], not 0/1 → 400, infinity → 403, on both resources`, async (t) => {
    const server = await startServer(t, mode);
    t.is((await put(server, 'f.zip', 'x')).status, 201);
    for (const rest of ['__snapshot', '__snapshot/f.zip']) {
      const missing = await propfind(server, rest, {});
      t.is(missing.status, 400, rest);
      t.deepEqual(errorOf(missing), { code: 'PR400-DV-0003', message: { lang: 'en', value: 'Invalid depth header value:[null].' } });
      for (const depth of ['2', 'one', '0, 1']) {
        const bad = await propfind(server, rest, { depth });
        t.is(bad.status, 400, `${rest} ${depth}`);
        t.is(errorOf(bad).message.value, `Invalid depth header value:[${depth}].`);
      }
      const infinite = await propfind(server, rest, { depth: 'infinity' });
      t.is(infinite.status, 403);
      t.deepEqual(errorOf(infinite), { code: 'PR403-DV-0001', message: { lang: 'en', value: 'Infinite depth is not supported.' } });
    }
  });
}

test('PROPFIND bodies: a valid propfind (any content) is answered allprop; POST + X-HTTP-Method-Override works', async (t) => {
  const server = await startServer(t, 'root');
  t.is((await put(server, 'f.zip', 'x')).status, 201);
  for (const body of [
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
    '<propfind xmlns="DAV:"><propname/></propfind>',
    '',
  ]) {
    const res = await propfind(server, '__snapshot', { depth: '1', 'content-type': 'application/xml' }, body);
    t.is(res.status, 207, body);
    const [, file] = parseMultistatus(res.text);
    if (file === undefined) return t.fail('no file response');
    t.is(prop(file, 'getcontentlength'), '1', 'allprop whatever was asked');
    t.is(prop(file, 'getcontenttype'), 'application/octet-stream');
  }
  const overridden = await server.request('POST', 'alice', '__snapshot', {
    headers: { ...auth, 'x-http-method-override': 'PROPFIND', depth: '0' },
    body: '<propfind xmlns="DAV:"><allprop/></propfind>',
  });
  t.is(overridden.status, 207);
});

test('PROPFIND bodies: malformed, wrong root, over the size limit → 400 PR400-DV-0001', async (t) => {
  const server = await startServer(t, 'root', { options: { limits: { maxRequestBodyBytes: 1024 } } });
  const cases = [
    '<propfind xmlns="DAV:"><prop>',
    '<propfind/>',
    '<propertyupdate xmlns="DAV:"/>',
    'not xml at all',
    `<propfind xmlns="DAV:"><!-- ${'x'.repeat(2000)} --></propfind>`,
  ];
  for (const body of cases) {
    const res = await propfind(server, '__snapshot', { depth: '1' }, body);
    t.is(res.status, 400, body.slice(0, 40));
    t.deepEqual(errorOf(res), { code: 'PR400-DV-0001', message: { lang: 'en', value: 'XML parse error.' } });
  }
  // Over the limit without a Content-Length (chunked): cut off while streaming; the connection stays usable.
  const { Readable } = await import('node:stream');
  const chunked = await server.request('PROPFIND', 'alice', '__snapshot', {
    headers: { ...auth, depth: '1' },
    body: Readable.from([`<propfind xmlns="DAV:"><!-- `, 'x'.repeat(600), 'y'.repeat(600), ` --></propfind>`]),
  });
  t.is(chunked.status, 400);
  t.is(errorOf(chunked).code, 'PR400-DV-0001');
  t.is((await propfind(server, '__snapshot', { depth: '0' }, `<propfind xmlns="DAV:"><!-- ${'x'.repeat(900)} --></propfind>`)).status, 207);
});

/** A loopback HTTP server counting its hits, standing in for an attacker's entity host. */
async function entityHost(t: ExecutionContext): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const host: Server = createServer((_req, res) => {
    hits += 1;
    res.end('<!ENTITY leaked "secret">');
  });
  host.listen(0, '127.0.0.1');
  await once(host, 'listening');
  t.teardown(() => new Promise<void>((resolve) => host.close(() => resolve())));
  return { url: `http://127.0.0.1:${(host.address() as AddressInfo).port}/evil.dtd`, hits: () => hits };
}

test('billion laughs and external entities → 400 PR400-DV-0001 at once, and nothing is fetched or read', async (t) => {
  const server = await startServer(t, 'root');
  const dir = await tempDir(t);
  const fifo = join(dir, 'secret');
  await promisify(execFile)('mkfifo', [fifo]);
  const evil = await entityHost(t);
  const laughs = Array.from({ length: 9 }, (_, i) =>
    i === 0 ? '<!ENTITY lol0 "lol">' : `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`,
  ).join('\n');
  const bodies = [
    `<?xml version="1.0"?><!DOCTYPE propfind [${laughs}]><propfind xmlns="DAV:"><prop><x>&lol8;</x></prop></propfind>`,
    `<?xml version="1.0"?><!DOCTYPE propfind [<!ENTITY xxe SYSTEM "file://${fifo}">]><propfind xmlns="DAV:"><prop><x>&xxe;</x></prop></propfind>`,
    `<!DOCTYPE propfind SYSTEM "${evil.url}"><propfind xmlns="DAV:"/>`,
    `<!DOCTYPE propfind [<!ENTITY % dtd SYSTEM "${evil.url}"> %dtd;]><propfind xmlns="DAV:">&leaked;</propfind>`,
    `<propfind xmlns="DAV:"><prop><x>&xxe;</x></prop></propfind>`,
  ];
  // Expanding lol8 would build a 300 MB string (600 MB in UTF-16): the server runs in this process,
  // so its peak resident size shows whether any declaration was expanded.
  const peakBefore = process.resourceUsage().maxRSS;
  for (const body of bodies) {
    for (const rest of ['__snapshot', '__snapshot/any.zip']) {
      const res = await propfind(server, rest, { depth: '1' }, body);
      t.is(res.status, 400, body.slice(0, 60));
      t.is(errorOf(res).code, 'PR400-DV-0001');
    }
  }
  const grownMb = (process.resourceUsage().maxRSS - peakBefore) / 1024;
  t.true(grownMb < 100, `peak RSS grew by ${grownMb.toFixed(0)} MB`);
  t.is(evil.hits(), 0, 'no external entity was fetched');
  // A reader blocked on the FIFO would still hold it open: opening its write end without blocking
  // fails with ENXIO only when no process has it open for reading.
  const error = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
    async (handle) => {
      await handle.close();
      return undefined;
    },
    (reason: NodeJS.ErrnoException) => reason.code,
  );
  t.is(error, 'ENXIO', 'nobody opened the external entity file');
});

for (const mode of MOUNT_MODES) {
  test(`${mode}: GET and HEAD: the bytes and Content-Length, Content-Type, ETag, Last-Modified, Accept-Ranges`, async (t) => {
    const server = await startServer(t, mode);
    const content = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const created = await put(server, 'data.bin', content, { 'content-type': 'application/x-custom; v=1' });
    t.is(created.status, 201);
    const etag = String(created.headers.etag);
    t.regex(etag, /^"[^"]+"$/);
    const get = await server.request('GET', 'alice', '__snapshot/data.bin', { headers: auth });
    t.is(get.status, 200);
    t.deepEqual(get.body, content);
    t.is(get.headers['content-length'], '3000');
    t.is(get.headers['content-type'], 'application/x-custom; v=1');
    t.is(get.headers.etag, etag);
    t.is(get.headers['accept-ranges'], 'bytes');
    const lastModified = String(get.headers['last-modified']);
    t.regex(lastModified, /^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
    t.true(Math.abs(Date.parse(lastModified) - Date.now()) < 60_000);
    const head = await server.request('HEAD', 'alice', '__snapshot/data.bin', { headers: auth });
    t.is(head.status, 200);
    t.is(head.body.length, 0);
    for (const header of ['content-length', 'content-type', 'etag', 'last-modified', 'accept-ranges']) {
      t.is(head.headers[header], get.headers[header], header);
    }
    const missing = await server.request('GET', 'alice', '__snapshot/none.bin', { headers: auth });
    t.is(missing.status, 404);
    t.deepEqual(errorOf(missing), {
      code: 'PR404-DV-0001',
      message: { lang: 'en', value: `Resource not found. [${server.cellUrl('alice', '__snapshot/none.bin')}].` },
    });
    const missingHead = await server.request('HEAD', 'alice', '__snapshot/none.bin', { headers: auth });
    t.is(missingHead.status, 404);
  });
}

test('If-None-Match → 304 with only the ETag (exact, W/, list, *); If-Modified-Since too', async (t) => {
  const server = await startServer(t, 'root');
  const created = await put(server, 'f.zip', 'content', { 'content-type': 'application/zip' });
  const etag = String(created.headers.etag);
  const get = (headers: Record<string, string>, method = 'GET') =>
    server.request(method, 'alice', '__snapshot/f.zip', { headers: { ...auth, ...headers } });
  const lastModified = String((await get({})).headers['last-modified']);
  for (const value of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
    for (const method of ['GET', 'HEAD']) {
      const res = await get({ 'if-none-match': value }, method);
      t.is(res.status, 304, `${method} ${value}`);
      t.is(res.body.length, 0);
      t.is(res.headers.etag, etag);
      t.is(res.headers['content-type'], undefined);
      t.is(res.headers['content-length'], undefined);
      t.is(res.headers['last-modified'], undefined);
    }
  }
  t.is((await get({ 'if-none-match': '"nope"' })).status, 200);
  t.is((await get({ 'if-modified-since': lastModified })).status, 304);
  t.is((await get({ 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200);
  t.is((await get({ 'if-none-match': '"nope"', 'if-modified-since': lastModified })).status, 200, 'If-None-Match wins');
});

test('Range: 206 with Content-Range; If-Range by ETag or date; stale → 200; 416; several or malformed → 200', async (t) => {
  const server = await startServer(t, 'root');
  const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  const etag = String((await put(server, 'r.bin', content)).headers.etag);
  const get = (headers: Record<string, string>, method = 'GET') =>
    server.request(method, 'alice', '__snapshot/r.bin', { headers: { ...auth, ...headers } });
  const lastModified = String((await get({})).headers['last-modified']);

  const part = await get({ range: 'bytes=10-19' });
  t.is(part.status, 206);
  t.is(part.text, 'abcdefghij');
  t.is(part.headers['content-range'], 'bytes 10-19/36');
  t.is(part.headers['content-length'], '10');
  t.is(part.headers.etag, etag);
  t.is(part.headers['accept-ranges'], 'bytes');
  const suffix = await get({ range: 'bytes=-6' });
  t.is(suffix.status, 206);
  t.is(suffix.text, 'uvwxyz');
  t.is(suffix.headers['content-range'], 'bytes 30-35/36');
  const open = await get({ range: 'bytes=30-99' });
  t.is(open.text, 'uvwxyz');
  const head = await get({ range: 'bytes=0-3' }, 'HEAD');
  t.is(head.status, 206);
  t.is(head.headers['content-range'], 'bytes 0-3/36');
  t.is(head.headers['content-length'], '4');

  await untilLastModifiedIsStrong(lastModified);
  for (const ifRange of [etag, lastModified]) {
    const res = await get({ range: 'bytes=0-3', 'if-range': ifRange });
    t.is(res.status, 206, ifRange);
    t.is(res.text, '0123');
  }
  for (const ifRange of ['"stale"', `W/${etag}`, 'Thu, 01 Jan 1970 00:00:00 GMT']) {
    const res = await get({ range: 'bytes=0-3', 'if-range': ifRange });
    t.is(res.status, 200, ifRange);
    t.deepEqual(res.body, content);
    t.is(res.headers['content-range'], undefined);
  }

  for (const range of ['bytes=36-', 'bytes=100-200', 'bytes=-0']) {
    const res = await get({ range });
    t.is(res.status, 416, range);
    t.is(res.headers['content-range'], 'bytes */36');
    t.deepEqual(errorOf(res), { code: 'PR416-DV-0001', message: { lang: 'en', value: 'Requested range not satisfiable.' } });
  }
  for (const range of ['bytes=0-1,5-6', 'bytes=zz', 'pages=1-2', 'bytes=0-1,']) {
    const res = await get({ range });
    t.is(res.status, 200, range);
    t.deepEqual(res.body, content);
    t.is(res.headers['content-length'], '36');
  }
  const overlapping = await get({ range: 'bytes=0-4,3-7' });
  t.is(overlapping.status, 206);
  t.is(overlapping.text, '01234567');
});

/** Sends a request with the path exactly as given (a URL object would resolve `.` and `..`). */
function sendRaw(server: TestServer, method: string, path: string, headers: Record<string, string>, body = '') {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const { hostname, port } = new URL(server.origin);
    const req = request({ hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('names: invalid ones answer 400 PR400-SN-0001 on every method; 255 bytes is fine', async (t) => {
  const server = await startServer(t, 'root');
  const raws = ['..', '%2E%2E', '.', '%2e', 'a%2Fb', '%2F', 'a%5Cb', 'a%00b', '%00', 'a%01b', 'a%1Fb', 'a%7Fb', 'a%C2%85b', encodeURIComponent('é'.repeat(128))];
  for (const raw of raws) {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PROPFIND']) {
      const res = await sendRaw(server, method, `/alice/__snapshot/${raw}`, { ...auth, depth: '0' }, method === 'PUT' ? 'x' : '');
      t.is(res.status, 400, `${method} ${raw}`);
      if (method !== 'HEAD') t.is(JSON.parse(res.text).code, 'PR400-SN-0001', `${method} ${raw}`);
    }
  }
  const longest = `${'é'.repeat(127)}a`;
  t.is(Buffer.byteLength(longest), 255);
  t.is((await put(server, longest, 'x')).status, 201);
  t.is((await server.request('GET', 'alice', `__snapshot/${encodeURIComponent(longest)}`, { headers: auth })).text, 'x');
  const id = await cellId(server);
  const { FsSnapshotStore } = await import('../../lib/adapters/fs/snapshot-store.js');
  t.deepEqual((await new FsSnapshotStore({ root: join(server.dataDir, 'snapshots') }).list(id)).map((info) => info.name), [longest]);
});

test('DELETE: 204, then 404; If-Match mismatch → 412 and the file stays', async (t) => {
  const server = await startServer(t, 'root');
  const etag = String((await put(server, 'd.zip', 'keep me')).headers.etag);
  const del = (headers: Record<string, string> = {}) =>
    server.request('DELETE', 'alice', '__snapshot/d.zip', { headers: { ...auth, ...headers } });
  for (const ifMatch of ['"other"', 'W/"other"']) {
    const refused = await del({ 'if-match': ifMatch });
    t.is(refused.status, 412);
    t.deepEqual(errorOf(refused), { code: 'PR412-DV-0001', message: { lang: 'en', value: 'ETag does not match.' } });
    t.is((await server.request('GET', 'alice', '__snapshot/d.zip', { headers: auth })).text, 'keep me');
  }
  const done = await del({ 'if-match': `W/${etag}` });
  t.is(done.status, 204);
  t.is(done.body.length, 0);
  t.is((await server.request('GET', 'alice', '__snapshot/d.zip', { headers: auth })).status, 404);
  const again = await del();
  t.is(again.status, 404);
  t.deepEqual(errorOf(again), {
    code: 'PR404-DV-0001',
    message: { lang: 'en', value: `Resource not found. [${server.cellUrl('alice', '__snapshot/d.zip')}].` },
  });
  t.is((await put(server, 'd.zip', 'again')).status, 201);
  t.is((await del()).status, 204);
});

for (const mode of MOUNT_MODES) {
  test(`${mode}: authentication comes before existence: anonymous → 401 for missing and existing files alike`, async (t) => {
    const server = await startServer(t, mode);
    t.is((await put(server, 'exists.zip', 'x')).status, 201);
    for (const name of ['exists.zip', 'missing.zip']) {
      for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PROPFIND']) {
        const res = await server.request(method, 'alice', `__snapshot/${name}`, { headers: { depth: '0' } });
        t.is(res.status, 401, `${method} ${name}`);
        t.is(res.headers['www-authenticate'], `Bearer realm="${server.cellUrl('alice')}"`);
        if (method !== 'HEAD') t.is(errorOf(res).code, 'PR401-AU-0001');
        const reader = await server.request(method, 'alice', `__snapshot/${name}`, {
          headers: { depth: '0', authorization: `Bearer ${READER_TOKEN}` },
        });
        t.is(reader.status, 403, `${method} ${name} without root`);
      }
    }
    const list = await server.request('PROPFIND', 'alice', '__snapshot', { headers: { depth: '1' } });
    t.is(list.status, 401);
    t.is((await server.request('GET', 'alice', '__snapshot/exists.zip', { headers: auth })).text, 'x', 'nothing changed');
  });
}

test('PUT and DELETE while an export runs → 409 PR409-CM-0002; reads still work; free again after the cancel', async (t) => {
  const server = await startServer(t, 'root', { wrapCells: (cells) => wrapCells(cells, { delayMs: 200 }) });
  t.is((await put(server, 'old.zip', 'old')).status, 201);
  const started = await server.request('POST', 'alice', '__export', { headers: auth, body: '{"Name":"slow"}' });
  t.is(started.status, 202);
  const busy = {
    code: 'PR409-CM-0002',
    message: { lang: 'en', value: 'Because [cell export] is being executed, writing to cell can not be done.' },
  };
  const putting = await put(server, 'new.zip', 'new');
  t.is(putting.status, 409);
  t.deepEqual(errorOf(putting), busy);
  const replacing = await put(server, 'old.zip', 'replaced');
  t.is(replacing.status, 409);
  const deleting = await server.request('DELETE', 'alice', '__snapshot/old.zip', { headers: auth });
  t.is(deleting.status, 409);
  t.deepEqual(errorOf(deleting), busy);
  t.is((await server.request('GET', 'alice', '__snapshot/old.zip', { headers: auth })).text, 'old');
  const listing = await propfind(server, '__snapshot', { depth: '1' });
  t.is(listing.status, 207);
  t.deepEqual(
    parseMultistatus(listing.text).map((response) => prop(response, 'href')),
    [server.cellUrl('alice', '__snapshot'), server.cellUrl('alice', '__snapshot/old.zip')],
    'the export in the making is not listed',
  );
  t.is((await server.request('GET', 'alice', '__snapshot/slow.zip', { headers: auth })).status, 404);
  const otherCell = await server.request('PUT', 'bob', '__snapshot/b.zip', { headers: auth, body: 'b' });
  t.is(otherCell.status, 201, 'another cell is not blocked');
  t.is((await server.request('DELETE', 'alice', '__export', { headers: auth })).status, 202);
  t.is((await put(server, 'new.zip', 'new')).status, 201);
  t.is((await server.request('DELETE', 'alice', '__snapshot/old.zip', { headers: auth })).status, 204);
});

test('GETs racing replacements always get one whole version, matching its ETag and Content-Length', async (t) => {
  const server = await startServer(t, 'root');
  const versions = [Buffer.alloc(200_000, 0x61), Buffer.alloc(70_000, 0x62), Buffer.alloc(130_000, 0x63)];
  const byEtag = new Map<string, Buffer>();
  const first = await put(server, 'hot.bin', versions[0] ?? Buffer.alloc(0));
  byEtag.set(String(first.headers.etag), versions[0] ?? Buffer.alloc(0));
  let writing = true;
  const writer = (async () => {
    for (let i = 1; i <= 40; i += 1) {
      const body = versions[i % versions.length] ?? Buffer.alloc(0);
      const res = await put(server, 'hot.bin', body);
      byEtag.set(String(res.headers.etag), body);
    }
    writing = false;
  })();
  const seen: Array<{ etag: string; length: string | undefined; body: Buffer; range?: string }> = [];
  const readers = Array.from({ length: 4 }, async (_, reader) => {
    do {
      const ranged = reader % 2 === 1;
      const res = await server.request('GET', 'alice', '__snapshot/hot.bin', { headers: { ...auth, ...(ranged ? { range: 'bytes=1000-60999' } : {}) } });
      t.is(res.status, ranged ? 206 : 200);
      seen.push({ etag: String(res.headers.etag), length: res.headers['content-length'], body: res.body, ...(ranged ? { range: String(res.headers['content-range']) } : {}) });
    } while (writing);
  });
  await Promise.all([writer, ...readers]);
  t.true(seen.length >= 4, `${seen.length} reads`);
  for (const read of seen) {
    const version = byEtag.get(read.etag);
    if (version === undefined) return t.fail(`unknown ETag ${read.etag}`);
    t.is(Number(read.length), read.body.length);
    const expected = read.range === undefined ? version : version.subarray(1000, 61000);
    if (!read.body.equals(expected)) return t.fail(`body does not match ETag ${read.etag}`);
    if (read.range !== undefined) t.is(read.range, `bytes 1000-60999/${version.length}`);
  }
});
