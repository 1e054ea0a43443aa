import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { makeCell } from '../bench/make-cell.js';
import { generateHostileCorpus } from '../fixtures/hostile/generate.js';
import { FsSnapshotStore } from '../lib/adapters/fs/snapshot-store.js';
import { S3SnapshotStore } from '../lib/adapters/s3/snapshot-store.js';
import { cellIdOf } from './helpers/cell-digest.js';
import { S3RVER_CREDENTIALS, s3Server } from './helpers/s3-server.js';
import { send } from './helpers/http.js';
import { BIN, callCli, runCli } from './helpers/run-cli.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const JAVA_FIXTURE = fileURLToPath(new URL('../fixtures/java/personium-style.zip', import.meta.url));
const env = { ...process.env, NODE_NO_WARNINGS: '1' };

// The commands' output and exit codes are checked in this process (callCli runs `main`, what the bin
// runs); the bin itself, the exit status of a real process and signals are checked with real processes.

test('the bin: what main returns is the exit status of the process, its output on stdout or stderr', async (t) => {
  const dir = await tempDir(t);
  const notZip = join(dir, 'notes.txt');
  await writeFile(notZip, 'not a zip');
  const [valid, invalid, usage] = await Promise.all([runCli(['verify', JAVA_FIXTURE]), runCli(['verify', notZip]), runCli(['frob'])]);
  t.is(valid.code, 0);
  t.is(valid.stdout.split('\n')[0], `OK: ${JAVA_FIXTURE} is a valid snapshot`);
  t.is(valid.stderr, '');
  t.is(invalid.code, 1);
  t.is(invalid.stdout, 'FAILED PR400-MC-0004: The specified snapshot file is not zip file.\n');
  t.is(usage.code, 2);
  t.is(usage.stdout, '');
  t.is(usage.stderr, "koa-cell-snapshot: unknown command frob\nRun 'koa-cell-snapshot --help' for usage.\n");
});

test('verify leads with OK, then the manifest and the record counts; exit 0', async (t) => {
  const { code, stdout } = await callCli(['verify', JAVA_FIXTURE]);
  t.is(code, 0);
  t.is(stdout.split('\n')[0], `OK: ${JAVA_FIXTURE} is a valid snapshot`);
  t.regex(stdout, /manifest: export_version 2, unit_url https:\/\/unit\.example\/, create_date 2022-11-30T11:00:00\.000Z/);
  t.regex(stdout, /Box\s+2\n/);
  t.regex(stdout, /integrity: CRC-32 only/);
});

test('verify leads with FAILED and the code: a damaged snapshot, a file that is no zip (nothing else printed); exit 1', async (t) => {
  const dir = await tempDir(t);
  const [bad] = await generateHostileCorpus(dir, ['bad-crc']);
  const damaged = await callCli(['verify', bad?.file ?? '']);
  t.is(damaged.code, 1);
  t.regex(damaged.stdout.split('\n')[0] ?? '', /^FAILED PR400-SN-0003: Snapshot integrity check failed\./);
  const text = join(dir, 'notes.txt');
  await writeFile(text, 'not a zip');
  const notZip = await callCli(['verify', text]);
  t.is(notZip.code, 1);
  t.is(notZip.stdout, 'FAILED PR400-MC-0004: The specified snapshot file is not zip file.\n');
  const missing = await callCli(['verify', join(dir, 'nowhere.zip')]);
  t.is(missing.code, 1);
  t.is(missing.stderr, `koa-cell-snapshot: cannot read ${join(dir, 'nowhere.zip')}: no such file\n`);
});

test('--help for the program and each command: exit 0, every option on its own line', async (t) => {
  const program = await callCli(['--help']);
  t.is(program.code, 0);
  t.regex(program.stdout, /serve \[options\]\s+run the standalone server/);
  t.regex(program.stdout, /verify <file\.zip>\s+check a snapshot file/);
  t.regex(program.stdout, /Exit codes: 0 success; 1 [^]*2 a usage error/);
  const serve = await callCli(['serve', '--help']);
  t.is(serve.code, 0);
  for (const option of ['--port', '--host', '--data', '--token', '--mode', '--unit-host', '--prefix', '--snapshots', '--help']) {
    t.regex(serve.stdout, new RegExp(`\\n  (-h, )?${option} .*\\S`), option);
  }
  t.regex(serve.stdout, /at least 8 characters/);
  const verify = await callCli(['verify', '-h']);
  t.is(verify.code, 0);
  t.regex(verify.stdout, /Usage: koa-cell-snapshot verify <file\.zip>/);
  t.is((await callCli(['help', 'verify'])).stdout, verify.stdout);
  const bare = await callCli([]);
  t.is(bare.code, 2, 'no command at all is a usage error');
  t.is(bare.stdout, '');
  t.is(bare.stderr, program.stdout, 'with the program\'s help on stderr');
});

test('usage errors: one line saying what is wrong, one saying where help is; exit 2', async (t) => {
  const cases: Array<[string[], string]> = [
    [['verify'], 'koa-cell-snapshot: verify takes exactly one file\nRun \'koa-cell-snapshot verify --help\' for usage.\n'],
    [['serve', '--token', 'short'], 'koa-cell-snapshot: --token (or TOKEN) must be at least 8 characters\nRun \'koa-cell-snapshot serve --help\' for usage.\n'],
    [['serve', '--mode', 'cloud'], 'koa-cell-snapshot: --mode must be path or host, got cloud\nRun \'koa-cell-snapshot serve --help\' for usage.\n'],
    [['serve', '--port', 'http'], 'koa-cell-snapshot: --port must be a port number (0-65535), got http\nRun \'koa-cell-snapshot serve --help\' for usage.\n'],
    [['serve', '--snapshots', 's3://'], 'koa-cell-snapshot: --snapshots must be a directory or s3://bucket/prefix with a valid bucket name, got s3://\nRun \'koa-cell-snapshot serve --help\' for usage.\n'],
    [['frob'], 'koa-cell-snapshot: unknown command frob\nRun \'koa-cell-snapshot --help\' for usage.\n'],
    [['help', 'frob'], 'koa-cell-snapshot: unknown command frob\nRun \'koa-cell-snapshot --help\' for usage.\n'],
  ];
  for (const [args, stderr] of cases) {
    const result = await callCli(args);
    t.is(result.code, 2, args.join(' '));
    t.is(result.stderr, stderr, args.join(' '));
    t.is(result.stdout, '', args.join(' '));
  }
  const unknown = await callCli(['serve', '--bogus']);
  t.is(unknown.code, 2);
  t.is(unknown.stderr.match(/koa-cell-snapshot:/g)?.length, 1, 'the prefix once');
  t.regex(unknown.stderr, /--bogus/);
  const fromEnv = await callCli(['serve', '--port', '0'], { TOKEN: 'short', MODE: 'path' });
  t.is(fromEnv.code, 2, 'the environment given to main is the one read');
  t.regex(fromEnv.stderr, /^koa-cell-snapshot: --token \(or TOKEN\) must be at least 8 characters\n/);
});

/** The 300 MB cell the launchers' tests export (and never change), made once for the file. */
let bigCellDir: Promise<string> | undefined;
function bigCell(): Promise<string> {
  bigCellDir ??= mkdtemp(join(tmpdir(), 'kcs-big-cell-')).then(async (dir) => {
    await makeCell(dir, 'big', 300);
    return join(dir, 'big');
  });
  return bigCellDir;
}
test.after.always(async () => {
  if (bigCellDir !== undefined) await rm(dirname(await bigCellDir), { recursive: true, force: true });
});

/** Recreates the folders of `from` at `to`, each file a hard link to the original (no bytes copied). */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.isDirectory()) await linkTree(join(from, entry.name), join(to, entry.name));
    else await link(join(from, entry.name), join(to, entry.name));
  }
}

/** How a user starts the server: the command itself, or `npm start` (whose own PID gets the signal). */
const LAUNCHERS = {
  'koa-cell-snapshot serve': (args: string[]) => spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] }),
  'npm start': (args: string[]) => spawn('npm', ['start', '--silent', '--', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] }),
} as const;

for (const [launcher, launch] of Object.entries(LAUNCHERS)) {
  test(`${launcher} stops cleanly on SIGTERM to its PID mid-export: the job is recorded as interrupted, no partial zip, and a restart is free`, async (t) => {
    const data = await tempDir(t);
    await mkdir(join(data, 'cells'));
    await linkTree(await bigCell(), join(data, 'cells', 'big'));
    const start = async () => {
      const child = launch(['--port', '0', '--data', data, '--token', 'cli-token-1234']);
      t.teardown(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const lines = createInterface({ input: child.stdout });
      for await (const line of lines) {
        const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
        if (port !== undefined) return { child, origin: `http://127.0.0.1:${port}`, base: `http://127.0.0.1:${port}/big/`, lines };
      }
      throw new Error('serve did not start');
    };
    const headers = { authorization: 'Bearer cli-token-1234' };
    const first = await start();
    t.is((await send(`${first.base}__export`, 'POST', { headers, body: '{"Name":"stopped"}' })).status, 202);
    first.child.kill('SIGTERM');
    const [code] = (await once(first.child, 'exit')) as [number];
    t.is(code, 0);
    await t.throwsAsync(send(`${first.origin}/`, 'GET', { headers }), { code: 'ECONNREFUSED' }, 'nothing serves any more');

    const store = new FsSnapshotStore({ root: join(data, 'snapshots') });
    const id = await cellIdOf(data, 'big');
    t.deepEqual((await store.list(id)).map((f) => f.name), ['stopped.error']);
    t.deepEqual(JSON.parse(await text((await store.read(id, 'stopped.error'))!)), {
      code: 'PR500-SN-0001',
      message: { lang: 'en', value: '[cell export] was interrupted.' },
    });
    const second = await start();
    t.deepEqual((await send(`${second.base}__export`, 'GET', { headers })).json(), { status: 'ready' });
    // The cell is free: a new export is accepted (and cancelled: completing 300 MB proves no more).
    t.is((await send(`${second.base}__export`, 'POST', { headers, body: '{"Name":"after"}' })).status, 202);
    t.is((await send(`${second.base}__export`, 'DELETE', { headers })).status, 202);
    t.deepEqual((await send(`${second.base}__export`, 'GET', { headers })).json(), { status: 'ready' });
    t.deepEqual((await store.list(id)).map((f) => f.name), ['after.error', 'stopped.error']);
    const listing = await send(`${second.origin}/`, 'GET');
    t.is(listing.status, 401, 'the list of cells needs the token too');
    t.is(listing.json<{ code: string }>().code, 'PR401-AU-0001');
    t.is((await send(`${second.origin}/`, 'GET', { headers: { authorization: 'Bearer undefined' } })).status, 401);
    t.deepEqual((await send(`${second.origin}/`, 'GET', { headers })).json<{ cells: string[] }>().cells, ['big']);
    second.child.kill('SIGTERM');
    await once(second.child, 'exit');
  });
}

test('serve --snapshots s3://bucket/prefix keeps the snapshot areas in S3, configured from the SDK environment', async (t) => {
  const s3 = await s3Server(t);
  const data = await tempDir(t);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, '--token', 'cli-token-1234', '--snapshots', `s3://${s3.bucket}/from-cli`], {
    env: {
      ...env,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let base = '';
  const banner: string[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    banner.push(line);
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
    if (port !== undefined) base = `http://127.0.0.1:${port}/alice/`;
    if (line.startsWith('snapshots:')) break;
  }
  t.is(banner.at(-1), `snapshots: s3://${s3.bucket}/from-cli/ at ${s3.endpoint}`);
  const headers = { authorization: 'Bearer cli-token-1234' };
  t.is((await send(`${base}__export`, 'POST', { headers, body: '{"Name":"in-s3"}' })).status, 202);
  await waitFor(async () => (await send(`${base}__export`, 'GET', { headers })).json<{ status: string }>().status === 'ready');
  const store = new S3SnapshotStore({ client: s3.client(t), bucket: s3.bucket, prefix: 'from-cli/' });
  t.deepEqual((await store.list(await cellIdOf(data, 'alice'))).map((f) => f.name), ['in-s3.zip']);
});
