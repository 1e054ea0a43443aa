/**
 * The backup command against the standalone server in its own process: a failing export, bad
 * credentials, Ctrl-C with --cancel-on-interrupt, and a server that answers as Personium does. In the
 * slow set (`npm run test:slow`): each test starts servers and commands; the round trip and the
 * resumed download stay in `npm test` (restore.test.ts, download.test.ts).
 */
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test, { type ExecutionContext } from 'ava';
import { READER_TOKEN, ROOT_TOKEN } from '../helpers/auth.js';
import { cellInfo, digestOf, expectedAfterImport } from '../helpers/cell-digest.js';
import { startChild } from '../helpers/child.js';
import { runCli, spawnCli } from '../helpers/run-cli.js';
import { makeDataDir } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { forwardHalf, listenForTest } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

/** Leases that outlast a loaded machine: these tests are about the command, not about lost workers. */
const LEASE = { LEASE_TTL_MS: '30000', LEASE_RENEW_MS: '1000' };

test('an export that fails: the code and message of {Name}.error, exit 1, no file written', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, { FAIL_EXPORT_AFTER: '2', ...LEASE });
  const dir = await tempDir(t);
  const result = await runCli(['backup', `${server.origin}/alice/`, '--name', 'doomed', '-o', join(dir, 'x.zip')], { TOKEN: ROOT_TOKEN });
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.true(
    result.stderr.endsWith(
      'export doomed failed: PR500-SV-0000 Unknown error.\n' +
        `  the server left ${server.origin}/alice/__snapshot/doomed.error; no backup was written\n`,
    ),
    result.stderr,
  );
  t.deepEqual(await readdir(dir), [], 'neither the file nor a partial one');
});

test('a bad token, a token without root: the status, the code, what to do; exit 1; the token never printed', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, LEASE);
  const dir = await tempDir(t);
  const url = `${server.origin}/alice/`;
  const [bad, reader] = await Promise.all([
    runCli(['backup', url, '--token', 'not-the-token-42', '-o', join(dir, 'a.zip')]),
    runCli(['backup', url, '-o', join(dir, 'b.zip')], { TOKEN: READER_TOKEN }),
  ]);
  t.is(bad.code, 1);
  t.is(
    bad.stderr,
    `koa-cell-snapshot: POST ${url}__export failed: 401 PR401-AU-0006 Token parse error.\n` +
      '  the server refused the credentials: check --token or TOKEN (or --cookie-peer and --cookie), and that they are for this unit\n',
  );
  t.is(reader.code, 1);
  t.is(
    reader.stderr,
    `koa-cell-snapshot: POST ${url}__export failed: 403 PR403-AU-0002 Necessary privilege is lacking.\n` +
      `  the credentials lack the privilege root on the cell ${url}: use a token of its owner or one granted root\n`,
  );
  for (const result of [bad, reader]) {
    t.false(`${result.stdout}${result.stderr}`.includes('not-the-token-42'));
    t.false(`${result.stdout}${result.stderr}`.includes(READER_TOKEN));
  }
  t.deepEqual(await readdir(dir), []);
});

test('Ctrl-C mid-export with --cancel-on-interrupt: the server job is cancelled, the command says so; exit 130', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, { DELAY_MS: '200', ...LEASE });
  const dir = await tempDir(t);
  const child = spawnCli(['backup', `${server.origin}/alice`, '--name', 'stopped', '--cancel-on-interrupt', '-o', join(dir, 's.zip')], {
    TOKEN: ROOT_TOKEN,
  });
  const exited = once(child, 'exit');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const lines = createInterface({ input: child.stderr! });
  for await (const line of lines) {
    stderr += `${line}\n`;
    if (line.startsWith('export stopped: ')) break;
  }
  lines.on('line', (line) => {
    stderr += `${line}\n`;
  });
  child.kill('SIGINT');
  const [code] = (await exited) as [number];
  t.is(code, 130);
  t.regex(stderr, /\ninterrupted: the export stopped was cancelled on the server; no stopped\.zip is left, stopped\.error records the cancel\n/);
  const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
  const error = await waitFor(async () => {
    const res = await server.request('GET', 'alice', '__snapshot/stopped.error', { headers: auth });
    return res.status === 200 ? res.json<{ code: string }>() : undefined;
  });
  t.is(error.code, 'PR409-SN-0002');
  t.is((await server.request('GET', 'alice', '__snapshot/stopped.zip', { headers: auth })).status, 404);
  t.deepEqual(await readdir(dir), []);
});

/**
 * A proxy that makes the server answer as Personium does: a 202 without a body, no Retry-After, the
 * status still `ready` at the first poll after a POST (Personium's job has not started yet), Range
 * and If-Range ignored on downloads. It also cuts the first download of a zip midway.
 */
async function personiumStyle(t: ExecutionContext, upstreamPort: number) {
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; status: number }> = [];
  const staleOnce = new Set<string>();
  let cut = false;
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const statusResource = /\/__(export|import)$/.test(url);
    const zip = req.method === 'GET' && /\/__snapshot\/[^/]+\.zip$/.test(url);
    if (req.method === 'GET' && staleOnce.delete(url)) {
      seen.push({ method: 'GET', url, headers: req.headers, status: 200 });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ready"}');
      return;
    }
    const headers = { ...req.headers };
    if (zip) {
      delete headers.range;
      delete headers['if-range'];
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: url, headers }, (up) => {
      const status = up.statusCode ?? 502;
      seen.push({ method: req.method ?? '', url, headers: req.headers, status });
      const answer = { ...up.headers };
      delete answer['retry-after'];
      if (req.method === 'POST' && statusResource && status === 202) {
        staleOnce.add(url);
        delete answer['content-length'];
        delete answer['content-type'];
        res.writeHead(202, answer);
        res.end();
        up.resume();
        return;
      }
      res.writeHead(status, answer);
      if (!(zip && status === 200 && !cut)) {
        up.pipe(res);
        return;
      }
      cut = true;
      forwardHalf(up, res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return { origin: `http://127.0.0.1:${await listenForTest(t, server)}`, seen };
}

test('against a server that answers as Personium does (no 202 body, no Retry-After, ready before the start, Range ignored): backup and restore still work', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, LEASE);
  const proxy = await personiumStyle(t, Number(new URL(server.origin).port));
  const dir = await tempDir(t);
  const file = join(dir, 'p.zip');
  const alice = await digestOf(dataDir, 'alice');
  const bob = await cellInfo(dataDir, 'bob');
  const env = { TOKEN: ROOT_TOKEN };

  const backup = await runCli(['backup', `${proxy.origin}/alice`, '--name', 'p', '-o', file], env);
  t.is(backup.code, 0, backup.stderr);
  const original = await server.request('GET', 'alice', '__snapshot/p.zip', { headers: { authorization: `Bearer ${ROOT_TOKEN}` } });
  t.true((await readFile(file)).equals(original.body));
  t.regex(backup.stdout, /^verify: OK /m);
  t.notRegex(backup.stdout, /resumed/, 'the server ignored the Range: the download started over');
  const gets = proxy.seen.filter((r) => r.method === 'GET' && r.url === '/alice/__snapshot/p.zip');
  t.deepEqual(gets.map((r) => [r.headers.range === undefined ? 'whole' : 'range', r.status]), [['whole', 200], ['range', 200]]);

  const restore = await runCli(['restore', file, `${proxy.origin}/bob`], env);
  t.is(restore.code, 0, restore.stderr);
  t.deepEqual(await digestOf(dataDir, 'bob'), expectedAfterImport(alice, bob));
});
