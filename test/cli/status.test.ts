import { readFile } from 'node:fs/promises';
import test from 'ava';
import { startCliServer } from '../e2e/cli-server.js';
import { COOKIE, ROOT_TOKEN } from '../helpers/auth.js';
import { startChild } from '../helpers/child.js';
import { runCli } from '../helpers/run-cli.js';
import { makeDataDir } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const JAVA_FIXTURE = new URL('../../fixtures/java/personium-style.zip', import.meta.url);

test('status with Personium cookie auth: both jobs (a failed import with its code) and the snapshot area, for people and as JSON', async (t) => {
  const dataDir = await makeDataDir(t);
  const server = await startChild(t, dataDir, { FAIL_COMMIT: '1', LEASE_TTL_MS: '30000', LEASE_RENEW_MS: '1000' });
  const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
  const zip = await readFile(JAVA_FIXTURE);
  t.is((await server.request('PUT', 'bob', '__snapshot/java.zip', { headers: { ...headers, 'content-type': 'application/zip' }, body: zip })).status, 201);
  t.is((await server.request('POST', 'bob', '__import', { headers, body: '{"Name":"java"}' })).status, 202);
  await waitFor(async () => (await server.request('GET', 'bob', '__import', { headers })).json<{ status: string }>().status === 'import failed');

  const url = `${server.origin}/bob`;
  const cookie = { P_COOKIE_PEER: COOKIE.peer, P_COOKIE: COOKIE.value };
  const [human, json] = await Promise.all([runCli(['status', url], cookie), runCli(['status', url, '--json'], cookie)]);
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

  const refused = await runCli(['status', url], { P_COOKIE_PEER: COOKIE.peer, P_COOKIE: 'stolen-cookie' });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /failed: 401 PR401-AU-0009 Authentication failed\.\n {2}the server refused the credentials/);
  t.false(refused.stderr.includes('stolen-cookie'));
});

test('a host-mode cell URL (http://{cell}.localhost:port/, loopback as RFC 6761 says)', async (t) => {
  const server = await startCliServer(t, ['--mode', 'host']);
  const url = `http://alice.localhost:${server.port}/`;
  const result = await runCli(['status', url], { TOKEN: server.token });
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `cell: ${url}\nexport: ready\nimport: ready\nsnapshot area: 0 files\n`);
  const missing = await runCli(['status', `http://carol.localhost:${server.port}`], { TOKEN: server.token });
  t.is(missing.code, 1);
  t.is(
    missing.stderr,
    `koa-cell-snapshot: GET http://carol.localhost:${server.port}/__export failed: 404 PR404-DV-0003 Cell not found.\n` +
      `  there is no cell at http://carol.localhost:${server.port}/: check the URL (path mode http://host/{cell}/, host mode http://{cell}.host/)\n`,
  );
});

test('--help of backup, restore and status: exit 0, every option on its own line', async (t) => {
  const options = {
    backup: ['--output', '--name', '--token', '--cookie-peer', '--cookie', '--cancel-on-interrupt', '--help'],
    restore: ['--name', '--replace', '--token', '--cookie-peer', '--cookie', '--cancel-on-interrupt', '--help'],
    status: ['--json', '--token', '--cookie-peer', '--cookie', '--help'],
  };
  const results = await Promise.all(Object.keys(options).map((command) => runCli([command, '--help'])));
  for (const [i, [command, flags]] of Object.entries(options).entries()) {
    const result = results[i];
    t.is(result?.code, 0);
    t.regex(result?.stdout ?? '', new RegExp(`^Usage: koa-cell-snapshot ${command} `));
    t.regex(result?.stdout ?? '', /Exit codes: 0 /);
    for (const flag of flags) t.regex(result?.stdout ?? '', new RegExp(`\\n {2}(-\\w, )?${flag} .*\\S`), `${command} ${flag}`);
  }
});
