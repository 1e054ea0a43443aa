import { createHash } from 'node:crypto';
import { request as httpRequest, createServer, type IncomingHttpHeaders } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { callCli } from '../helpers/run-cli.js';
import { startServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { forwardHalf, listenForTest } from '../helpers/proxy.js';

/** A proxy that forwards everything and cuts the first whole download of a zip after half its bytes. */
async function cuttingProxy(t: import('ava').ExecutionContext, upstreamPort: number) {
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; status?: number }> = [];
  let cut: number | undefined;
  const server = createServer((req, res) => {
    const record: (typeof seen)[number] = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(record);
    const upstream = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      record.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.headers);
      const cutting = cut === undefined && req.method === 'GET' && req.url?.endsWith('.zip') === true && up.statusCode === 200;
      if (!cutting) {
        up.pipe(res);
        return;
      }
      cut = forwardHalf(up, res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { port: await listenForTest(t, server), seen, cutAt: () => cut };
}

test('a download cut midway is resumed with Range and If-Range: the same bytes, verified, and said so', async (t) => {
  const server = await startServer(t, 'root');
  const proxy = await cuttingProxy(t, Number(new URL(server.origin).port));
  const dir = await tempDir(t);
  const file = join(dir, 'a.zip');
  const result = await callCli(['backup', `http://127.0.0.1:${proxy.port}/alice`, '--name', 'cut', '-o', file], { TOKEN: ROOT_TOKEN });
  t.is(result.code, 0, result.stderr);

  const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
  const original = await server.request('GET', 'alice', '__snapshot/cut.zip', { headers: auth });
  const downloaded = await readFile(file);
  t.true(downloaded.equals(original.body), 'byte for byte the server\'s file');
  t.regex(result.stdout, new RegExp(`^sha256: ${createHash('sha256').update(original.body).digest('hex')}$`, 'm'));
  t.regex(result.stdout, /^verify: OK /m);
  t.regex(result.stdout, /^resumed: 1 time after a dropped connection$/m);
  t.regex(result.stderr, /^download interrupted at \d+ bytes \(.+\); resuming in 0\.5s$/m);

  const gets = proxy.seen.filter((r) => r.method === 'GET' && r.url === '/alice/__snapshot/cut.zip');
  t.is(gets.length, 2);
  t.is(gets[0]?.headers.range, undefined);
  // From where the command's copy ended: at most what the proxy sent before the cut (the tail of it
  // may be lost with the connection), and never from the start.
  const from = Number(/^bytes=(\d+)-$/.exec(String(gets[1]?.headers.range))?.[1]);
  t.true(from > 0 && from <= (proxy.cutAt() ?? 0), `resumed from ${from}, cut at ${proxy.cutAt()}`);
  t.is(gets[1]?.headers['if-range'], original.headers.etag);
  t.is(gets[1]?.status, 206);
});
