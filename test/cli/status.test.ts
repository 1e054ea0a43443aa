import { readFile } from 'node:fs/promises';
import test from 'ava';
import { BACKUP_HELP } from '../../lib/cli/backup.js';
import { RESTORE_HELP } from '../../lib/cli/restore.js';
import { STATUS_HELP } from '../../lib/cli/status.js';
import { COOKIE, ROOT_TOKEN } from '../helpers/auth.js';
import { callCli } from '../helpers/run-cli.js';
import { startServerFailingCommits } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const JAVA_FIXTURE = new URL('../../fixtures/java/personium-style.zip', import.meta.url);

test('status with Personium cookie auth: both jobs (a failed import with its code) and the snapshot area, for people and as JSON', async (t) => {
  const failure = new Error('the database went away');
  const server = await startServerFailingCommits(t, failure);
  const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
  const zip = await readFile(JAVA_FIXTURE);
  t.is((await server.request('PUT', 'bob', '__snapshot/java.zip', { headers: { ...headers, 'content-type': 'application/zip' }, body: zip })).status, 201);
  t.is((await server.request('POST', 'bob', '__import', { headers, body: '{"Name":"java"}' })).status, 202);
  await waitFor(async () => (await server.request('GET', 'bob', '__import', { headers })).json<{ status: string }>().status === 'import failed');

  const url = `${server.origin}/bob`;
  const cookie = { P_COOKIE_PEER: COOKIE.peer, P_COOKIE: COOKIE.value };
  const [human, json] = await Promise.all([callCli(['status', url], cookie), callCli(['status', url, '--json'], cookie)]);
  t.is(human.code, 0, human.stderr);
  const lines = human.stdout.split('\n');
  t.is(lines[0], `cell: ${url}/`);
  t.is(lines[1], 'export: ready');
  t.regex(lines[2] ?? '', /^import: import failed: PR500-SV-0000 Unknown error\. \(java, started \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
  t.is(lines[3], 'snapshot area: 1 file');
  t.regex(lines[4] ?? '', /^ {2}java\.zip {2}\s*\d+\.\d KiB {2}\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT$/);
  t.is(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as {
    cell: string;
    export: { status: string };
    import: { status: string; message: { code: string } };
    snapshots: Array<{ name: string; size: number; contentType: string; etag: string }>;
  };
  t.is(parsed.cell, `${url}/`);
  t.deepEqual(parsed.export, { status: 'ready' });
  t.is(parsed.import.status, 'import failed');
  t.is(parsed.import.message.code, 'PR500-SV-0000');
  const etag = (await server.request('HEAD', 'bob', '__snapshot/java.zip', { headers })).headers.etag;
  t.deepEqual(parsed.snapshots.map(({ name, size, contentType, etag: tag }) => ({ name, size, contentType, etag: tag })), [
    { name: 'java.zip', size: zip.length, contentType: 'application/zip', etag: etag ?? '' },
  ]);
});

test('--help: exit 0, every option of backup, restore and status on its own line', async (t) => {
  const options = {
    backup: { help: BACKUP_HELP, flags: ['--output', '--name', '--token', '--cookie-peer', '--cookie', '--cancel-on-interrupt', '--help'] },
    restore: { help: RESTORE_HELP, flags: ['--name', '--replace', '--token', '--cookie-peer', '--cookie', '--cancel-on-interrupt', '--help'] },
    status: { help: STATUS_HELP, flags: ['--json', '--token', '--cookie-peer', '--cookie', '--help'] },
  };
  const printed = await callCli(['backup', '--help']);
  t.is(printed.code, 0);
  t.is(printed.stdout, BACKUP_HELP);
  for (const [command, { help, flags }] of Object.entries(options)) {
    t.regex(help, new RegExp(`^Usage: koa-cell-snapshot ${command} `));
    t.regex(help, /Exit codes: 0 /);
    for (const flag of flags) t.regex(help, new RegExp(`\\n {2}(-\\w, )?${flag} .*\\S`), `${command} ${flag}`);
  }
});
