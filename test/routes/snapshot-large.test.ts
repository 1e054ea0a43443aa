/**
 * Large files through the snapshot area: a download cut halfway and resumed with Range / If-Range,
 * and a 100 MB upload and download with curl against a server in its own process, whose resident
 * memory is sampled to show that nothing is buffered.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { send } from '../helpers/http.js';
import { makeDataDir, startServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const run = promisify(execFile);
const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes `size` random bytes to `path` in 1 MiB chunks; resolves to their SHA-256. */
async function randomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < size; written += MiB) {
      const chunk = randomBytes(Math.min(MiB, size - written));
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

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

test('curl: a 100 MB upload and download, SHA-256 equal, server memory growth far below the file size', async (t) => {
  const work = await tempDir(t);
  const source = join(work, 'source.bin');
  const size = 100 * MiB;
  const digest = await randomFile(source, size);
  const child = await startChild(t, await makeDataDir(t), { REPORT_RSS: '1' });
  const url = `${child.origin}/alice/__snapshot/big.zip`;
  const rss = async (method: 'GET' | 'DELETE') => (await send(`${child.origin}/__rss`, method)).json<{ rss: number; peak: number }>();

  // Warm up the code paths, then take the baseline.
  t.is((await child.request('PUT', 'alice', '__snapshot/warm.zip', { headers: auth, body: randomBytes(MiB) })).status, 201);
  t.is((await child.request('GET', 'alice', '__snapshot/warm.zip', { headers: auth })).status, 200);
  const upBase = await rss('DELETE');
  const curlAuth = ['-H', `Authorization: Bearer ${ROOT_TOKEN}`];
  const up = await run('curl', ['-sS', '--fail-with-body', '-o', '/dev/null', '-w', '%{http_code}', '-T', source, '-H', 'Content-Type: application/zip', ...curlAuth, url]);
  t.is(up.stdout, '201');
  const upPeak = await rss('GET');

  const target = join(work, 'download.bin');
  const downBase = await rss('DELETE');
  const down = await run('curl', ['-sS', '--fail-with-body', '-o', target, '-w', '%{http_code} %{content_type}', ...curlAuth, url]);
  t.is(down.stdout, '200 application/zip');
  const downPeak = await rss('GET');
  t.is((await stat(target)).size, size);
  t.is(await sha256File(target), digest);

  // curl's own resume (-C -): it asks for the missing tail with a Range.
  await truncate(target, 40 * MiB);
  const resumed = await run('curl', ['-sS', '--fail-with-body', '-C', '-', '-o', target, '-w', '%{http_code}', ...curlAuth, url]);
  t.is(resumed.stdout, '206');
  t.is(await sha256File(target), digest);

  const upGrowth = upPeak.peak - upBase.rss;
  const downGrowth = downPeak.peak - downBase.rss;
  t.log(
    `server RSS: upload ${(upBase.rss / MiB).toFixed(1)} → peak ${(upPeak.peak / MiB).toFixed(1)} MiB (+${(upGrowth / MiB).toFixed(1)}); ` +
      `download ${(downBase.rss / MiB).toFixed(1)} → peak ${(downPeak.peak / MiB).toFixed(1)} MiB (+${(downGrowth / MiB).toFixed(1)})`,
  );
  t.true(upGrowth < 60 * MiB, `upload grew RSS by ${upGrowth} bytes`);
  t.true(downGrowth < 60 * MiB, `download grew RSS by ${downGrowth} bytes`);
});
