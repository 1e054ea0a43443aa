import { createHash } from 'node:crypto';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { generateHostileCorpus } from '../../fixtures/hostile/generate.js';
import { startCliServer } from '../e2e/cli-server.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellInfo, digestOf, expectedAfterImport } from '../helpers/cell-digest.js';
import { callCli, runCli } from '../helpers/run-cli.js';
import { startServerFailingCommits } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

test('backup a cell of the standalone server in host mode, restore it into another: the target has the content, its own identity; plain progress lines', async (t) => {
  // Host mode: http://{cell}.localhost:{port}/, which the command resolves to loopback (RFC 6761).
  const server = await startCliServer(t, ['--mode', 'host']);
  const dir = await tempDir(t);
  const cellUrl = (cell: string): string => `http://${cell}.localhost:${server.port}/`;
  const env = { TOKEN: server.token };
  const alice = await digestOf(server.dataDir, 'alice');
  const bob = await cellInfo(server.dataDir, 'bob');
  const file = join(dir, 'a.zip');

  const backup = await runCli(['backup', cellUrl('alice').slice(0, -1), '-o', file, '--name', 'nightly'], env);
  t.is(backup.code, 0, backup.stderr);
  const bytes = await readFile(file);
  const lines = backup.stdout.split('\n');
  t.is(lines[0], `backup: ${file}`);
  t.regex(lines[1] ?? '', new RegExp(`^size: ${bytes.length} bytes \\(\\d+\\.\\d (KiB|MiB)\\)$`));
  t.is(lines[2], `sha256: ${createHash('sha256').update(bytes).digest('hex')}`);
  t.regex(lines[3] ?? '', /^verify: OK \(\d+ records, \d+ WebDAV resources, SHA-256 checked\)$/);
  t.is(lines[4], `on the server: ${cellUrl('alice')}__snapshot/nightly.zip`);
  await t.throwsAsync(stat(`${file}.part`), { code: 'ENOENT' }, 'no partial file left');

  const restore = await runCli(['restore', file, cellUrl('bob')], env);
  t.is(restore.code, 0, restore.stderr);
  t.regex(restore.stdout, new RegExp(`^restored: ${file} into http://bob\\.localhost:${server.port}/ \\(import a, \\d+s\\)\\n$`));
  t.deepEqual(await digestOf(server.dataDir, 'bob'), expectedAfterImport(alice, bob));

  // Not a terminal: plain lines, each tenth at most once, no carriage returns or escape sequences.
  for (const { stderr } of [backup, restore]) {
    t.false(/[\r\u001b]/.test(stderr), stderr);
  }
  t.regex(backup.stderr, /^export nightly started on http:\/\/alice\.localhost:\d+\/$/m);
  t.regex(backup.stderr, /^export nightly: 100%, \d+s elapsed$/m);
  t.regex(backup.stderr, /^download nightly\.zip: 0% \(0 B of [\d.]+ (KiB|MiB)\), \d+s elapsed$/m);
  t.regex(backup.stderr, /^download nightly\.zip: 100% \(([\d.]+ (KiB|MiB)) of \1\), \d+s elapsed$/m);
  t.true(backup.stderr.split('\n').filter((l) => l.startsWith('download nightly.zip: ')).length <= 11, 'at most one line per tenth');
  t.true(restore.stderr.includes(`\nverify ${file}: OK (`), restore.stderr);
  t.regex(restore.stderr, /^upload a\.zip: 100% /m);
  t.true(restore.stderr.includes(`\nupload: created ${cellUrl('bob')}__snapshot/a.zip\n`), restore.stderr);
  t.regex(restore.stderr, /^import a: 100%, \d+s elapsed$/m);

  // The name is taken in the target's snapshot area: refused unless --replace (in this process: the
  // two runs above are the ones through the bin).
  const again = await callCli(['restore', file, cellUrl('bob')], env);
  t.is(again.code, 1);
  t.true(
    again.stderr.endsWith(
      `koa-cell-snapshot: PUT ${cellUrl('bob')}__snapshot/a.zip failed: 412 PR412-DV-0001 ETag does not match.\n` +
        "  a snapshot of that name already exists in the target's snapshot area: pass --replace to overwrite it, or pick another --name\n",
    ),
    again.stderr,
  );
  const replaced = await callCli(['restore', '--replace', file, cellUrl('bob')], env);
  t.is(replaced.code, 0, replaced.stderr);
  t.regex(replaced.stderr, /^upload: replaced /m);

  for (const result of [backup, restore, again, replaced]) t.false(`${result.stdout}${result.stderr}`.includes(server.token), 'the token is never printed');
});

test('an import that fails: its code and message, exit 1, the target unchanged', async (t) => {
  const failure = new Error('the database went away');
  const server = await startServerFailingCommits(t, failure);
  const bob = await digestOf(server.dataDir, 'bob');
  const file = join(await tempDir(t), 'snapshot.zip');
  await copyFile(new URL('../../fixtures/java/personium-style.zip', import.meta.url), file);
  const result = await callCli(['restore', file, `${server.origin}/bob`], { TOKEN: ROOT_TOKEN });
  t.is(result.code, 1);
  t.regex(result.stderr, /^import snapshot failed after \d+s: PR500-SV-0000 Unknown error\.$/m);
  t.is(result.stdout, '');
  t.deepEqual(await digestOf(server.dataDir, 'bob'), bob);
});

test('a damaged file is refused before anything is sent: FAILED with the code, exit 1', async (t) => {
  const dir = await tempDir(t);
  const [bad] = await generateHostileCorpus(dir, ['bad-crc']);
  // Nothing listens at this address: the command must not get as far as connecting.
  const result = await callCli(['restore', '--name', 'bad', bad?.file ?? '', 'http://127.0.0.1:9/bob'], { TOKEN: 'never-sent' });
  t.is(result.code, 1);
  t.regex(result.stderr, /^verify .*: FAILED PR400-SN-0003: Snapshot integrity check failed\. .*\n  nothing was uploaded\n$/m);
});
