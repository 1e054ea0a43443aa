/** Large files through the snapshot area: a download cut halfway and resumed with Range / If-Range. */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import test from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { sha256 } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const MiB = 1024 * 1024;

/** GETs a URL and stops reading (destroying the connection) once at least `atLeast` bytes came. */
function downloadPart(url: string, atLeast: number): Promise<{ etag: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: auth }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received >= atLeast) {
          req.destroy();
          resolve({ etag: String(res.headers.etag), bytes: Buffer.concat(chunks) });
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

test('a multi-megabyte download cut halfway, resumed with Range and If-Range, reproduces the file byte for byte', async (t) => {
  const server = await startServer(t, 'root');
  const content = randomBytes(8 * MiB);
  t.is((await server.request('PUT', 'alice', '__snapshot/big.zip', { headers: auth, body: content })).status, 201);
  const url = server.cellUrl('alice', '__snapshot/big.zip');
  const part = await downloadPart(url, content.length / 2);
  t.true(part.bytes.length >= content.length / 2 && part.bytes.length < content.length, `got ${part.bytes.length}`);
  t.true(part.bytes.equals(content.subarray(0, part.bytes.length)));
  const rest = await server.request('GET', 'alice', '__snapshot/big.zip', {
    headers: { ...auth, range: `bytes=${part.bytes.length}-`, 'if-range': part.etag },
  });
  t.is(rest.status, 206);
  t.is(rest.headers['content-range'], `bytes ${part.bytes.length}-${content.length - 1}/${content.length}`);
  t.is(Number(rest.headers['content-length']), content.length - part.bytes.length);
  t.is(sha256(Buffer.concat([part.bytes, rest.body])), sha256(content));

  // Replaced meanwhile: the same resume request gets the whole new file instead of a wrong tail.
  const replacement = randomBytes(3 * MiB);
  t.is((await server.request('PUT', 'alice', '__snapshot/big.zip', { headers: auth, body: replacement })).status, 204);
  const stale = await server.request('GET', 'alice', '__snapshot/big.zip', {
    headers: { ...auth, range: `bytes=${part.bytes.length}-`, 'if-range': part.etag },
  });
  t.is(stale.status, 200);
  t.is(sha256(stale.body), sha256(replacement));
});
