/** The cross-process file lock under FsJobStore and FsSnapshotStore. */
import { access, readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { breakAbandonedLock, withFileLock } from '../../../lib/adapters/fs/lock.js';
import { deadPid, lockOwnedBy } from '../../helpers/processes.js';
import { tempDir } from '../../helpers/tmp.js';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test('lock: concurrent holders never overlap, and the lock is gone afterwards', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, 'nested', '.lock');
  // Half of them through a different spelling of the path: no shared in-process queue, so only the
  // directory on disk keeps them apart, as between processes.
  const spellings = [lock, `${root}/nested/../nested/./.lock`]; // not normalised: a different queue key
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      withFileLock(spellings[i % 2] ?? lock, async () => {
        inside += 1;
        most = Math.max(most, inside);
        await sleep(1);
        order.push(i);
        inside -= 1;
      }),
    ),
  );
  t.is(most, 1);
  t.is(order.length, 40);
  t.false(await exists(lock));
});

test('lock: a rejection of the holder is passed on and the lock released', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  await t.throwsAsync(
    withFileLock(lock, async () => {
      throw new Error('inside');
    }),
    { message: 'inside' },
  );
  t.false(await exists(lock));
  t.is(await withFileLock(lock, async () => 42), 42);
});

test('lock: a holder whose stale lock was broken does not remove the next holder’s lock', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  const first = withFileLock(lock, () => gate, { staleMs: 60_000 });
  while (!(await exists(lock))) await sleep(2);
  const old = new Date(Date.now() - 120_000);
  await utimes(lock, old, old); // as if its process had hung for two minutes
  const second = withFileLock(
    `${root}/./.lock`,
    async () => {
      openGate();
      await first;
      const entries = await readdir(lock);
      return entries.filter((e) => e.startsWith('owner-')).length;
    },
    { staleMs: 1_000 },
  );
  t.is(await second, 1, 'the second holder still holds the lock after the first one released');
  t.false(await exists(lock));
  t.deepEqual(await readdir(root), []);
});

test('lock: a live holder refreshes its lock, so waiting contenders do not break it', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  let inside = 0;
  let most = 0;
  const hold = async (): Promise<void> => {
    inside += 1;
    most = Math.max(most, inside);
    await sleep(2_500); // longer than staleMs: only the refresh keeps it alive
    inside -= 1;
  };
  await Promise.all([
    withFileLock(lock, hold, { staleMs: 1_000 }),
    sleep(20).then(() => withFileLock(`${root}/./.lock`, hold, { staleMs: 1_000 })),
  ]);
  t.is(most, 1);
});

test('lock: gives up after timeoutMs', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  const holder = withFileLock(lock, () => gate);
  while (!(await exists(lock))) await sleep(2);
  await t.throwsAsync(withFileLock(`${root}/./.lock`, async () => 1, { timeoutMs: 100 }), {
    message: /Timed out/,
  });
  openGate();
  await holder;
});

test('lock: a fresh lock whose owner no longer runs is broken at once by a contender', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  await lockOwnedBy(lock, [await deadPid()]);
  // Stale only after ten minutes, and a timeout of 20 s that only a hang reaches.
  t.is(await withFileLock(lock, async () => (await readdir(lock)).length, { staleMs: 600_000, timeoutMs: 20_000 }), 1);
  t.deepEqual(await readdir(root), [], 'released, and no breaker left');
});

test('lock: breakAbandonedLock removes a dead owner’s lock and only that', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const dead = await deadPid();
  const cases: ReadonlyArray<{ what: string; pids: readonly number[] | undefined; removed: boolean }> = [
    { what: 'no lock', pids: undefined, removed: false },
    { what: 'an owner that no longer runs', pids: [dead], removed: true },
    { what: 'a pid no process can have', pids: [4_294_967_295], removed: true },
    { what: 'the test runner (alive)', pids: [process.ppid], removed: false },
    { what: 'this process', pids: [process.pid], removed: false },
    { what: 'one dead and one live owner', pids: [dead, process.ppid], removed: false },
    { what: 'no owner file yet (just created)', pids: [], removed: false },
  ];
  for (const [i, { what, pids, removed }] of cases.entries()) {
    const lock = join(root, `${i}.lock`);
    if (pids !== undefined) await lockOwnedBy(lock, pids);
    t.is(await breakAbandonedLock(lock), removed, what);
    t.is(await exists(lock), pids !== undefined && !removed, what);
  }
  t.false(await exists(join(root, '1.lock.break')), 'no breaker left');
});

test('lock: a lock held by a live process is not broken before it goes stale', async (t) => {
  const root = await tempDir(t, 'kcs-lock-');
  const lock = join(root, '.lock');
  const owners = await lockOwnedBy(lock, [process.ppid]);
  await t.throwsAsync(withFileLock(lock, async () => 1, { staleMs: 600_000, timeoutMs: 100 }), { message: /Timed out/ });
  t.deepEqual(await readdir(lock), owners);
});
