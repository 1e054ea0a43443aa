/**
 * A 200 MB upload and download with curl (and curl's own resume) against a server in its own
 * process, whose resident memory is sampled to show that nothing is buffered. `npm run test:slow`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import avaTest from 'ava';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { randomFile, sha256File } from '../helpers/files.js';
import { send } from '../helpers/http.js';
import { makeDataDir } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { needing } from '../helpers/tools.js';

const test = needing(avaTest, 'curl');
const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const run = promisify(execFile);
const MiB = 1024 * 1024;

test('curl: a 200 MB upload and download, SHA-256 equal, server memory growth below half the file size', async (t) => {
  const work = await tempDir(t);
  const source = join(work, 'source.bin');
  const size = 200 * MiB;
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
  await truncate(target, 80 * MiB);
  const resumed = await run('curl', ['-sS', '--fail-with-body', '-C', '-', '-o', target, '-w', '%{http_code}', ...curlAuth, url]);
  t.is(resumed.stdout, '206');
  t.is(await sha256File(target), digest);

  const upGrowth = upPeak.peak - upBase.rss;
  const downGrowth = downPeak.peak - downBase.rss;
  t.log(
    `server RSS: upload ${(upBase.rss / MiB).toFixed(1)} → peak ${(upPeak.peak / MiB).toFixed(1)} MiB (+${(upGrowth / MiB).toFixed(1)}); ` +
      `download ${(downBase.rss / MiB).toFixed(1)} → peak ${(downPeak.peak / MiB).toFixed(1)} MiB (+${(downGrowth / MiB).toFixed(1)})`,
  );
  // A server that held the file would grow by at least its size; streaming grows by what the garbage
  // collector lets pile up, which differs between Node versions but does not grow with the file.
  t.true(upGrowth < size / 2, `upload grew RSS by ${upGrowth} bytes`);
  t.true(downGrowth < size / 2, `download grew RSS by ${downGrowth} bytes`);
});
