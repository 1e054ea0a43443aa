/**
 * The snapshot file over real HTTP against RFC 9110: partial or encoded PUTs refused, every
 * precondition alone and in the pairs where the section 13.2.2 order decides, for GET, HEAD, PUT and
 * DELETE. After every write attempt the stored bytes are read back.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { UPLOAD_TEMP_PREFIX } from '../../lib/adapters/fs/snapshot-store.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellIdOf } from '../helpers/cell-digest.js';
import type { TestResponse } from '../helpers/http.js';
import { type TestServer, startServer } from '../helpers/server.js';
import { untilLastModifiedIsStrong } from '../helpers/wait.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const NAME = 'x.zip';
const OLD_DATE = 'Mon, 01 Jan 2001 00:00:00 GMT';
const FUTURE_DATE = 'Fri, 01 Jan 2100 00:00:00 GMT';

/** A host with a 10,000-byte `x.zip` in alice's snapshot area. */
interface Stage {
  readonly server: TestServer;
  readonly original: Buffer;
  readonly etag: string;
  readonly lastModified: string;
  send(method: string, headers?: Record<string, string>, body?: Buffer, name?: string): Promise<TestResponse>;
  /** The stored bytes of a file, or `undefined` when there is none. */
  stored(name?: string): Promise<Buffer | undefined>;
}

async function stage(t: ExecutionContext): Promise<Stage> {
  const server = await startServer(t, 'root');
  const send = (method: string, headers: Record<string, string> = {}, body?: Buffer, name = NAME) =>
    server.request(method, 'alice', `__snapshot/${name}`, { headers: { ...auth, ...headers }, ...(body === undefined ? {} : { body }) });
  const original = randomBytes(10_000);
  const created = await send('PUT', { 'content-type': 'application/zip' }, original);
  if (created.status !== 201) throw new Error(`setup PUT answered ${created.status}`);
  const head = await send('HEAD');
  const etag = String(head.headers.etag);
  const lastModified = String(head.headers['last-modified']);
  return {
    server,
    original,
    etag,
    lastModified,
    send,
    async stored(name = NAME) {
      const res = await send('GET', {}, undefined, name);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`read-back GET answered ${res.status}`);
      return res.body;
    },
  };
}

function codeOf(res: TestResponse): string | undefined {
  return res.headers['content-type']?.startsWith('application/json') ? res.json<{ code: string }>().code : undefined;
}

/** One write attempt and what it must answer and leave stored. */
interface WriteRow {
  readonly method: 'PUT' | 'DELETE';
  /** The headers; `$etag` and `$lastModified` stand for the file's own validators. */
  readonly headers: Record<string, string>;
  /** The file addressed: the existing one unless `missing`. */
  readonly missing?: boolean;
  readonly status: number;
  readonly code?: string;
  /** What is stored afterwards: the old bytes, the new ones, or no file. */
  readonly after: 'unchanged' | 'replaced' | 'none';
}

const partial = { 'content-range': 'bytes 5000-9999/10000' };

const WRITES: Readonly<Record<string, WriteRow>> = {
  'PUT with Content-Range (a partial PUT) → 400, the snapshot untouched': { method: 'PUT', headers: partial, status: 400, code: 'PR400-SN-0004', after: 'unchanged' },
  'PUT with Content-Range to a new name → 400, nothing created': { method: 'PUT', headers: partial, missing: true, status: 400, code: 'PR400-SN-0004', after: 'none' },
  'PUT with Content-Range and a true If-Match → 400': { method: 'PUT', headers: { ...partial, 'if-match': '$etag' }, status: 400, code: 'PR400-SN-0004', after: 'unchanged' },
  'PUT with Content-Encoding: gzip → 415': { method: 'PUT', headers: { 'content-encoding': 'gzip' }, status: 415, code: 'PR415-SN-0001', after: 'unchanged' },
  'PUT with Content-Encoding: identity, gzip → 415': { method: 'PUT', headers: { 'content-encoding': 'identity, gzip' }, status: 415, code: 'PR415-SN-0001', after: 'unchanged' },
  'PUT with Content-Encoding: identity → 204': { method: 'PUT', headers: { 'content-encoding': 'Identity' }, status: 204, after: 'replaced' },
  'PUT without preconditions → 204': { method: 'PUT', headers: {}, status: 204, after: 'replaced' },
  'PUT If-Match true → 204': { method: 'PUT', headers: { 'if-match': '$etag' }, status: 204, after: 'replaced' },
  'PUT If-Match false → 412': { method: 'PUT', headers: { 'if-match': '"nope"' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'PUT If-Unmodified-Since before the change → 412': { method: 'PUT', headers: { 'if-unmodified-since': OLD_DATE }, status: 412, code: 'PR412-SN-0001', after: 'unchanged' },
  'PUT If-Unmodified-Since = Last-Modified → 204': { method: 'PUT', headers: { 'if-unmodified-since': '$lastModified' }, status: 204, after: 'replaced' },
  'PUT If-Unmodified-Since not a date → ignored, 204': { method: 'PUT', headers: { 'if-unmodified-since': 'yesterday' }, status: 204, after: 'replaced' },
  'PUT If-None-Match * on an existing file → 412': { method: 'PUT', headers: { 'if-none-match': '*' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'PUT If-None-Match its ETag → 412': { method: 'PUT', headers: { 'if-none-match': '$etag' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'PUT If-None-Match another ETag → 204': { method: 'PUT', headers: { 'if-none-match': '"other"' }, status: 204, after: 'replaced' },
  'PUT If-Modified-Since / If-Range are not write preconditions → 204': { method: 'PUT', headers: { 'if-modified-since': FUTURE_DATE, 'if-range': '"stale"' }, status: 204, after: 'replaced' },
  'PUT If-Match true wins over a false If-Unmodified-Since (ignored) → 204': { method: 'PUT', headers: { 'if-match': '$etag', 'if-unmodified-since': OLD_DATE }, status: 204, after: 'replaced' },
  'PUT If-Match false is evaluated before If-Unmodified-Since → 412 DV': { method: 'PUT', headers: { 'if-match': '"nope"', 'if-unmodified-since': OLD_DATE }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'PUT If-Unmodified-Since false is evaluated before If-None-Match → 412 SN': { method: 'PUT', headers: { 'if-unmodified-since': OLD_DATE, 'if-none-match': '*' }, status: 412, code: 'PR412-SN-0001', after: 'unchanged' },
  'PUT If-Match true, If-None-Match its ETag → 412': { method: 'PUT', headers: { 'if-match': '$etag', 'if-none-match': '$etag' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'PUT to a new name, If-Match * → 412, nothing created': { method: 'PUT', headers: { 'if-match': '*' }, missing: true, status: 412, code: 'PR412-DV-0001', after: 'none' },
  'PUT to a new name, If-None-Match * → 201': { method: 'PUT', headers: { 'if-none-match': '*' }, missing: true, status: 201, after: 'replaced' },
  'PUT to a new name, If-Unmodified-Since (no date to compare) → ignored, 201': { method: 'PUT', headers: { 'if-unmodified-since': OLD_DATE }, missing: true, status: 201, after: 'replaced' },
  'DELETE If-Match false → 412': { method: 'DELETE', headers: { 'if-match': '"nope"' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'DELETE If-Match true → 204': { method: 'DELETE', headers: { 'if-match': '$etag' }, status: 204, after: 'none' },
  'DELETE If-Unmodified-Since before the change → 412': { method: 'DELETE', headers: { 'if-unmodified-since': OLD_DATE }, status: 412, code: 'PR412-SN-0001', after: 'unchanged' },
  'DELETE If-Unmodified-Since later → 204': { method: 'DELETE', headers: { 'if-unmodified-since': FUTURE_DATE }, status: 204, after: 'none' },
  'DELETE If-None-Match * → 412': { method: 'DELETE', headers: { 'if-none-match': '*' }, status: 412, code: 'PR412-DV-0001', after: 'unchanged' },
  'DELETE of a missing file with If-Match → 404 (preconditions apply only to a 2xx)': { method: 'DELETE', headers: { 'if-match': '*' }, missing: true, status: 404, code: 'PR404-DV-0001', after: 'none' },
};

function fill(headers: Record<string, string>, s: Stage): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, value.replace('$etag', s.etag).replace('$lastModified', s.lastModified)]));
}

for (const [title, row] of Object.entries(WRITES)) {
  test(title, async (t) => {
    const s = await stage(t);
    const name = row.missing === true ? 'new.zip' : NAME;
    const body = randomBytes(row.headers['content-range'] === undefined ? 7_000 : 5_000);
    const res = await s.send(row.method, fill(row.headers, s), row.method === 'PUT' ? body : undefined, name);
    t.is(res.status, row.status);
    t.is(codeOf(res), row.code);
    if (row.status === 415) t.is(res.headers['accept-encoding'], 'identity');
    const stored = await s.stored(name);
    if (row.after === 'none') t.is(stored, undefined);
    else if (row.after === 'replaced') t.true(stored?.equals(body), 'the new bytes are stored whole');
    else t.true(stored?.equals(s.original), 'the stored bytes are the old ones');
    if (name !== NAME) t.true((await s.stored())?.equals(s.original), 'the other snapshot is untouched');
  });
}

/** One read and what it must answer. */
interface ReadRow {
  readonly method?: 'GET' | 'HEAD';
  readonly headers: Record<string, string>;
  readonly status: number;
  readonly code?: string;
  /** For a 206: the range sent. */
  readonly range?: readonly [number, number];
}

const READS: Readonly<Record<string, ReadRow>> = {
  'GET If-Match false → 412': { headers: { 'if-match': '"nope"' }, status: 412, code: 'PR412-DV-0001' },
  'HEAD If-Match false → 412': { method: 'HEAD', headers: { 'if-match': '"nope"' }, status: 412 },
  'GET If-Match true → 200': { headers: { 'if-match': '$etag' }, status: 200 },
  'GET If-Match * → 200': { headers: { 'if-match': '*' }, status: 200 },
  'GET If-Unmodified-Since before the change → 412': { headers: { 'if-unmodified-since': OLD_DATE }, status: 412, code: 'PR412-SN-0001' },
  'GET If-Unmodified-Since later → 200': { headers: { 'if-unmodified-since': FUTURE_DATE }, status: 200 },
  'GET If-None-Match its ETag → 304': { headers: { 'if-none-match': '$etag' }, status: 304 },
  'HEAD If-None-Match * → 304': { method: 'HEAD', headers: { 'if-none-match': '*' }, status: 304 },
  'GET If-Modified-Since later → 304': { headers: { 'if-modified-since': FUTURE_DATE }, status: 304 },
  'GET If-Modified-Since before the change → 200': { headers: { 'if-modified-since': OLD_DATE }, status: 200 },
  'GET If-Match false beats a matching If-None-Match → 412': { headers: { 'if-match': '"nope"', 'if-none-match': '$etag' }, status: 412, code: 'PR412-DV-0001' },
  'GET If-Unmodified-Since false beats If-None-Match → 412': { headers: { 'if-unmodified-since': OLD_DATE, 'if-none-match': '$etag' }, status: 412, code: 'PR412-SN-0001' },
  'GET If-None-Match that misses makes If-Modified-Since ignored → 200': { headers: { 'if-none-match': '"other"', 'if-modified-since': FUTURE_DATE }, status: 200 },
  'GET If-Match false beats a Range → 412': { headers: { 'if-match': '"nope"', range: 'bytes=0-1' }, status: 412, code: 'PR412-DV-0001' },
  'GET Range: bytes=0-1 → 206': { headers: { range: 'bytes=0-1' }, status: 206, range: [0, 1] },
  'GET Range: items=0-1 (unknown unit) → 200 whole': { headers: { range: 'items=0-1' }, status: 200 },
  'GET Range: bytes=0-1,5-6 (several ranges) → 200 whole': { headers: { range: 'bytes=0-1,5-6' }, status: 200 },
  'GET Range: bytes=20000- → 416': { headers: { range: 'bytes=20000-' }, status: 416, code: 'PR416-DV-0001' },
  'GET Range with If-Range: its ETag → 206': { headers: { range: 'bytes=5000-', 'if-range': '$etag' }, status: 206, range: [5000, 9999] },
  'GET Range with If-Range: a weak ETag → 200 whole': { headers: { range: 'bytes=0-1', 'if-range': 'W/$etag' }, status: 200 },
  'GET Range with If-Range: a stale ETag → 200 whole': { headers: { range: 'bytes=0-1', 'if-range': '"stale"' }, status: 200 },
  'GET Range with If-Range: a date other than Last-Modified → 200 whole': { headers: { range: 'bytes=0-1', 'if-range': FUTURE_DATE }, status: 200 },
  'GET Range with If-Range: a date before Last-Modified → 200 whole': { headers: { range: 'bytes=0-1', 'if-range': OLD_DATE }, status: 200 },
};

for (const [title, row] of Object.entries(READS)) {
  test(title, async (t) => {
    const s = await stage(t);
    const res = await s.send(row.method ?? 'GET', fill(row.headers, s));
    t.is(res.status, row.status);
    if (row.code !== undefined) t.is(codeOf(res), row.code);
    if (row.status === 200 && row.method !== 'HEAD') t.true(res.body.equals(s.original), 'the whole file');
    if (row.range !== undefined) {
      const [start, end] = row.range;
      t.is(res.headers['content-range'], `bytes ${start}-${end}/10000`);
      t.true(res.body.equals(s.original.subarray(start, end + 1)));
    }
    if (row.status === 304) t.is(res.headers.etag, s.etag);
  });
}

test('GET Range with If-Range: exactly Last-Modified, once it is a second old and so strong → 206', async (t) => {
  const s = await stage(t);
  await untilLastModifiedIsStrong(s.lastModified);
  const res = await s.send('GET', { range: 'bytes=0-1', 'if-range': s.lastModified });
  t.is(res.status, 206);
  t.true(res.body.equals(s.original.subarray(0, 2)));
});

test('GET and HEAD of a missing file answer 404 whatever the preconditions', async (t) => {
  const s = await stage(t);
  for (const method of ['GET', 'HEAD']) {
    const res = await s.send(method, { 'if-match': '"nope"', 'if-unmodified-since': OLD_DATE }, undefined, 'missing.zip');
    t.is(res.status, 404, method);
  }
});

test('a PUT whose If-Unmodified-Since held is refused at commit when the file changed while its body streamed', async (t) => {
  const s = await stage(t);
  const cellDir = join(s.server.dataDir, 'snapshots', await cellIdOf(s.server.dataDir, 'alice'));
  const body = new PassThrough();
  const slow = s.server.request('PUT', 'alice', `__snapshot/${NAME}`, {
    headers: { ...auth, 'if-unmodified-since': s.lastModified, 'content-length': '2000' },
    body,
  });
  body.write(Buffer.alloc(1000, 1));
  // The upload file exists once the preconditions were evaluated against the original.
  while (!(await readdir(cellDir)).some((entry) => entry.startsWith(UPLOAD_TEMP_PREFIX))) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const meanwhile = randomBytes(3_000);
  t.is((await s.send('PUT', {}, meanwhile)).status, 204);
  body.end(Buffer.alloc(1000, 2));
  const res = await slow;
  t.is(res.status, 412);
  t.is(codeOf(res), 'PR412-DV-0001');
  t.true((await s.stored())?.equals(meanwhile), 'the change made meanwhile stays');
});
