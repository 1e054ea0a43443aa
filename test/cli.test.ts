import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { makeCell } from '../bench/make-cell.js';
import { generateHostileCorpus } from '../fixtures/hostile/generate.js';
import { FsSnapshotStore } from '../lib/adapters/fs/snapshot-store.js';
import { cellIdOf } from './helpers/cell-digest.js';
import { send } from './helpers/http.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../lib/cli.ts', import.meta.url));
const JAVA_FIXTURE = fileURLToPath(new URL('../fixtures/java/personium-style.zip', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import=tsx', CLI, ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1' } });

test('verify prints the manifest, record counts and OK for a good snapshot, exit 0', async (t) => {
  const { stdout } = await cli('verify', JAVA_FIXTURE);
  t.regex(stdout, /manifest: export_version 2, unit_url https:\/\/unit\.example\/, create_date 2022-11-30T11:00:00\.000Z/);
  t.regex(stdout, /Box\s+2\n/);
  t.regex(stdout, /integrity: CRC-32 only/);
  t.regex(stdout, /result: OK\n$/);
});

test('verify exits 1 with the code for a damaged snapshot, and 2 without a file argument', async (t) => {
  const dir = await tempDir(t);
  const [bad] = await generateHostileCorpus(dir, ['bad-crc']);
  const failure = await cli('verify', bad?.file ?? '').then(
    () => undefined,
    (error: { code: number; stdout: string }) => error,
  );
  t.is(failure?.code, 1);
  t.regex(failure?.stdout ?? '', /result: FAILED PR400-SN-0003 Snapshot integrity check failed\./);
  const usage = await cli('verify').then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  t.is(usage?.code, 2);
  t.regex(usage?.stderr ?? '', /Usage:/);
});

test('serve stops cleanly on SIGTERM mid-export: the job is recorded as interrupted, no partial zip, and a restart is free', async (t) => {
  const data = await tempDir(t);
  await mkdir(join(data, 'cells'));
  await makeCell(join(data, 'cells'), 'big', 300);
  const start = async () => {
    const child = spawn(process.execPath, ['--import=tsx', CLI, 'serve', '--port', '0', '--data', data, '--token', 'cli-token-1234'], {
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
      if (port !== undefined) return { child, base: `http://127.0.0.1:${port}/big/`, lines };
    }
    throw new Error('serve did not start');
  };
  const headers = { authorization: 'Bearer cli-token-1234' };
  const first = await start();
  t.is((await send(`${first.base}__export`, 'POST', { headers, body: '{"Name":"stopped"}' })).status, 202);
  first.child.kill('SIGTERM');
  const [code] = (await once(first.child, 'exit')) as [number];
  t.is(code, 0);

  const store = new FsSnapshotStore({ root: join(data, 'snapshots') });
  const id = await cellIdOf(data, 'big');
  t.deepEqual((await store.list(id)).map((f) => f.name), ['stopped.error']);
  t.deepEqual(JSON.parse(await text((await store.read(id, 'stopped.error'))!)), {
    code: 'PR500-SN-0001',
    message: { lang: 'en', value: '[cell export] was interrupted.' },
  });
  const second = await start();
  t.deepEqual((await send(`${second.base}__export`, 'GET', { headers })).json(), { status: 'ready' });
  t.is((await send(`${second.base}__export`, 'POST', { headers, body: '{"Name":"after"}' })).status, 202);
  await waitFor(async () => (await send(`${second.base}__export`, 'GET', { headers })).json<{ status: string }>().status === 'ready');
  t.deepEqual((await store.list(id)).map((f) => f.name), ['after.zip', 'stopped.error']);
});
