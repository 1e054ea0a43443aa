import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { READER_TOKEN, ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { runCli, spawnCli } from '../helpers/run-cli.js';
import { makeDataDir } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

test('an export that fails: the code and message of {Name}.error, exit 1, no file written', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, { FAIL_EXPORT_AFTER: '2' });
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
  const server = await startChild(t, dataDir);
  const dir = await tempDir(t);
  const url = `${server.origin}/alice/`;
  const [bad, reader, none] = await Promise.all([
    runCli(['backup', url, '--token', 'not-the-token-42', '-o', join(dir, 'a.zip')]),
    runCli(['backup', url, '-o', join(dir, 'b.zip')], { TOKEN: READER_TOKEN }),
    runCli(['backup', url, '-o', join(dir, 'c.zip')]),
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
  t.is(none.code, 1);
  t.regex(none.stderr, /401 PR401-AU-0001 Authorization required\.\n {2}no credentials were sent: pass --token, or set TOKEN/);
  for (const result of [bad, reader]) {
    t.false(`${result.stdout}${result.stderr}`.includes('not-the-token-42'));
    t.false(`${result.stdout}${result.stderr}`.includes(READER_TOKEN));
  }
  t.deepEqual(await readdir(dir), []);
});

test('Ctrl-C mid-export with --cancel-on-interrupt: the server job is cancelled, the command says so; exit 130', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, { DELAY_MS: '200' });
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
