import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { FsJobStore } from '../../../lib/adapters/fs/job-store.js';
import { fileKey } from '../../../lib/adapters/fs/store-files.js';
import type { ErrorBody } from '../../../lib/errors.js';
import type { ClaimResult } from '../../../lib/types.js';
import { EXPIRY_WAIT_MS, LONG, SHORT_MS, claimed, jobStoreContract, request } from '../../../lib/contract/job-store.js';
import { deadPid, lockOwnedBy } from '../../helpers/processes.js';
import { tempDir } from '../../helpers/tmp.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const STORE_MODULE = pathToFileURL(join(REPO, 'lib/adapters/fs/job-store.ts')).href;
const LOCK_MODULE = pathToFileURL(join(REPO, 'lib/adapters/fs/lock.ts')).href;
const BROKEN: ErrorBody = { code: 'PR400-SN-0003', message: { lang: 'en', value: 'Snapshot integrity check failed. [x]' } };

jobStoreContract(test, async (t) => new FsJobStore({ root: await tempDir(t, 'kcs-jobs-') }));

test('fs: state survives a new FsJobStore on the same root', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const first = new FsJobStore({ root });
  const failed = await claimed(t, first, request('failed', 'import', 'restore'));
  t.truthy(await first.renew('failed', failed.token, 45, 60_000));
  t.true(await first.finish('failed', failed.token, BROKEN));
  const running = await claimed(t, first, request('running', 'export', 'exp'));
  t.truthy(await first.renew('running', running.token, 12, 60_000));

  const restarted = new FsJobStore({ root });
  t.deepEqual(await restarted.get('failed'), {
    importFailure: { name: 'restore', startedAt: failed.startedAt, progress: 45, error: BROKEN },
  });
  const state = await restarted.get('running');
  t.is(state.running?.token, running.token);
  t.is(state.running?.progress, 12);
  t.is(await restarted.countRunning(), 1);
  t.is((await restarted.claim(request('running'), LONG)).status, 'busy');
  t.truthy(await restarted.renew('running', running.token, 50, 60_000), 'the old token is honoured after a restart');
  t.true(await restarted.finish('running', running.token));
  t.is(await first.countRunning(), 0);
});

test('fs: a job of a dead process expires and is reaped after a restart', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const dead = await claimed(t, new FsJobStore({ root }), request('c', 'import'), { leaseMs: SHORT_MS, maxRunning: 4 });
  await sleep(EXPIRY_WAIT_MS);
  const store = new FsJobStore({ root });
  const result = await store.claim(request('c'), LONG);
  t.is(result.status, 'expired');
  t.true(await store.reap('c', dead.token, BROKEN));
  t.is((await store.get('c')).importFailure?.error.code, 'PR400-SN-0003');
  await claimed(t, store, request('c', 'import'));
  t.is((await store.get('c')).importFailure, undefined);
});

test('fs: two instances on one root cannot both claim one cell, and share the limit', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const a = new FsJobStore({ root });
  const b = new FsJobStore({ root });
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).claim(request('shared'), LONG)),
  );
  t.is(results.filter((r) => r.status === 'claimed').length, 1);
  const limited = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claim(request(`cell-${i}`), { leaseMs: 60_000, maxRunning: 4 })),
  );
  t.is(limited.filter((r) => r.status === 'claimed').length, 3, 'the shared claim counts too');
  t.is(await a.countRunning(), 4);
  t.is(await b.countRunning(), 4);
});

/** Runs a child process that claims through FsJobStore and prints its results. */
async function child(root: string, limitRoot: string, startAt: number): Promise<{ shared: string[]; limited: string[] }> {
  const code = `
    const { FsJobStore } = await import(${JSON.stringify(STORE_MODULE)});
    const shared = new FsJobStore({ root: ${JSON.stringify(root)} });
    const limitedStore = new FsJobStore({ root: ${JSON.stringify(limitRoot)} });
    const req = (cellId) => ({ cellId, kind: 'export', name: 'n', requestKey: 'k', subject: null });
    await new Promise((r) => setTimeout(r, Math.max(0, ${startAt} - Date.now())));
    const out = await Promise.all(Array.from({ length: 10 }, () => shared.claim(req('shared'), { leaseMs: 60000, maxRunning: 1000 })));
    const lim = await Promise.all(Array.from({ length: 5 }, (_, i) => limitedStore.claim(req('c-' + process.pid + '-' + i), { leaseMs: 60000, maxRunning: 4 })));
    process.stdout.write(JSON.stringify({ shared: out.map((r) => r.status), limited: lim.map((r) => r.status) }));
  `;
  const { stdout } = await run(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], {
    cwd: REPO,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as { shared: string[]; limited: string[] };
}

test('fs: processes sharing a root cannot both claim one cell, and share the global limit', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const limitRoot = await tempDir(t, 'kcs-jobs-limit-');
  const startAt = Date.now() + 2_500;
  const children = Array.from({ length: 3 }, () => child(root, limitRoot, startAt));
  await sleep(Math.max(0, startAt - Date.now()));
  const store = new FsJobStore({ root });
  const limitStore = new FsJobStore({ root: limitRoot });
  const mine: ClaimResult[] = await Promise.all(
    Array.from({ length: 10 }, () => store.claim(request('shared'), LONG)),
  );
  const mineLimited = await Promise.all(
    Array.from({ length: 5 }, (_, i) => limitStore.claim(request(`parent-${i}`), { leaseMs: 60_000, maxRunning: 4 })),
  );
  const outputs = await Promise.all(children);
  const shared = [...mine.map((r) => r.status), ...outputs.flatMap((o) => o.shared)];
  t.is(shared.length, 40);
  t.is(shared.filter((s) => s === 'claimed').length, 1, 'exactly one process won the cell');
  t.is(shared.filter((s) => s === 'busy').length, 39);
  const limited = [...mineLimited.map((r) => r.status), ...outputs.flatMap((o) => o.limited)];
  t.is(limited.filter((s) => s === 'claimed').length, 4, 'the limit holds across processes');
  t.is(limited.filter((s) => s === 'limit').length, 16);
  t.is(await limitStore.countRunning(), 4);
});

test('fs: a stale store lock left by a crashed process is broken', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const lock = join(root, '.lock');
  await mkdir(lock, { recursive: true });
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  const store = new FsJobStore({ root });
  await claimed(t, store, request('c'));
  t.false((await readdir(root)).includes('.lock'), 'released after use');
});

test('fs: the store lock of a process killed while holding it is removed by the next store’s first read', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const holder = spawn(
    process.execPath,
    [
      '--import=tsx',
      '--input-type=module',
      '-e',
      `const { withFileLock } = await import(${JSON.stringify(LOCK_MODULE)});
       withFileLock(${JSON.stringify(join(root, '.lock'))}, () => { process.stdout.write('held'); return new Promise(() => {}); });`,
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  const [held] = (await once(holder.stdout, 'data')) as [Buffer];
  t.is(held.toString(), 'held');
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  t.true((await readdir(root)).includes('.lock'), 'the killed holder left its lock');
  // Stale only after ten minutes: only the dead owner can explain its removal.
  const store = new FsJobStore({ root, lockStaleMs: 600_000 });
  t.deepEqual(await store.get('c'), {});
  t.false((await readdir(root)).includes('.lock'), 'removed by the first read, with no one contending');
});

test('fs: a lock of a live process is kept by the first read', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const owners = await lockOwnedBy(join(root, '.lock'), [process.ppid]); // the test runner: alive
  const store = new FsJobStore({ root, lockTimeoutMs: 150 });
  t.deepEqual(await store.get('c'), {});
  t.deepEqual(await readdir(join(root, '.lock')), owners);
  await t.throwsAsync(store.claim(request('c'), LONG), { message: /Timed out/ });
});

test('fs: a fresh lock held by someone else makes operations wait, then time out', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  await mkdir(join(root, '.lock'), { recursive: true });
  const store = new FsJobStore({ root, lockTimeoutMs: 150 });
  await t.throwsAsync(store.claim(request('c'), LONG), { message: /Timed out/ });
  t.deepEqual(await store.get('c'), {}, 'reads do not need the lock');
});

test('fs: a stale active marker left by a crash is ignored and cleaned', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const store = new FsJobStore({ root });
  await claimed(t, store, request('warm-up'));
  await writeFile(join(root, 'active', fileKey('ghost')), '');
  t.is(await store.countRunning(), 1);
  await claimed(t, store, request('another'));
  t.false((await readdir(join(root, 'active'))).includes(fileKey('ghost')));
  t.is(await store.countRunning(), 2);
});

test('fs: files are removed when a cell holds nothing, and cell ids of any shape are safe', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  const store = new FsJobStore({ root });
  for (const cellId of ['../escape', 'a/b', 'Cell', 'cell', '', 'ünï\u0000code']) {
    const job = await claimed(t, store, request(cellId));
    t.deepEqual((await store.get(cellId)).running, job);
    t.true(await store.finish(cellId, job.token));
  }
  t.deepEqual(await readdir(join(root, 'cells')), []);
  t.deepEqual(await readdir(join(root, 'active')), []);
  t.deepEqual((await readdir(root)).sort(), ['active', 'cells']);
  t.throws(() => new FsJobStore({ root: '' }), { instanceOf: TypeError });
});

test('fs: temp files a crash left behind are removed when a store first uses the root', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  await mkdir(join(root, 'cells'), { recursive: true });
  const abandoned = join(root, 'cells', '.tmp-0123456789abcdef0123456789abcdef');
  const young = join(root, 'cells', '.tmp-fedcba9876543210fedcba9876543210');
  await writeFile(abandoned, '{"half":');
  await writeFile(young, '{"half":');
  const old = new Date(Date.now() - 3_600_000);
  await utimes(abandoned, old, old);
  const store = new FsJobStore({ root });
  await claimed(t, store, request('c'));
  const left = await readdir(join(root, 'cells'));
  t.false(left.includes('.tmp-0123456789abcdef0123456789abcdef'));
  t.true(left.includes('.tmp-fedcba9876543210fedcba9876543210'), 'maybe another process is writing it');
  t.deepEqual(await store.get('c').then((s) => s.running?.cellId), 'c');
});

test('fs: a young temp file of a process that is gone is removed at once; one of a live process is kept', async (t) => {
  const root = await tempDir(t, 'kcs-jobs-');
  await mkdir(join(root, 'cells'), { recursive: true });
  const dead = `.tmp-p${await deadPid()}-0123456789abcdef0123456789abcdef`;
  const live = `.tmp-p${process.ppid}-fedcba9876543210fedcba9876543210`;
  await writeFile(join(root, 'cells', dead), '{"half":');
  await writeFile(join(root, 'cells', live), '{"half":');
  const store = new FsJobStore({ root });
  await claimed(t, store, request('c'));
  const left = await readdir(join(root, 'cells'));
  t.false(left.includes(dead), 'its writer was killed');
  t.true(left.includes(live), 'its writer may still be writing it');
});
