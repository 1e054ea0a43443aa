/**
 * A mutual-exclusion lock shared by every process of one machine, for the file-system stores.
 *
 * Inside a process, holders of one lock path queue on a promise chain (no polling). Across processes
 * the lock is a directory created with `mkdir`, which is atomic on every local file system: whoever
 * creates it holds the lock, the others poll until it is removed. A holder refreshes the directory's
 * mtime while it holds the lock, so a lock whose mtime is older than `staleMs` belongs to a process
 * that died and is broken. The holder marks the directory with an `owner-<pid>-<random>` file (empty,
 * so that a lock can be taken on a full disk) and releases it only while that file is still there, so
 * a holder whose lock was broken (it stalled for longer than `staleMs`) never removes the lock of the
 * next holder. A lock whose owner file names a process that no longer runs on this machine (it was
 * killed while holding the lock) is broken at once, by a contender or by {@link breakAbandonedLock},
 * without waiting for it to go stale. Breaking is itself serialised by a second directory
 * (`<path>.break`) and the reason to break is re-checked under it, so two processes that both saw one
 * abandoned lock cannot remove a lock that a third process has just taken.
 */
import { mkdir, readdir, rm, rmdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KeyedQueue } from '../../util/keyed-queue.js';
import { errorCode, processIsRunning, randomId } from './store-files.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /**
   * After how many ms without a refresh a lock is considered abandoned and broken, whoever holds it
   * (a lock whose holder no longer runs is broken at once). Holders refresh it every third of this.
   * Default 10,000.
   */
  readonly staleMs?: number;
  /** How long to wait for the lock before rejecting, in ms. Default 60,000. */
  readonly timeoutMs?: number;
}

/** The default of {@link FileLockOptions.staleMs}. */
export const DEFAULT_LOCK_STALE_MS = 10_000;
/** The default of {@link FileLockOptions.timeoutMs}. */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

/** The in-process queues, per lock path. Module-wide, so separate store instances share them. */
const queue = new KeyedQueue();

/** Removes a directory, ignoring a missing one. */
async function removeDir(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

/** The inode and mtime of a lock directory, or `undefined` if there is none. */
async function lockStat(path: string): Promise<{ ino: number; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    return { ino: s.ino, mtimeMs: s.mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** The name of a holder's owner file: the pid is in the name, the file is empty. */
function ownerName(): string {
  return `owner-${process.pid}-${randomId()}`;
}

/** The pid an owner file's name holds, or `undefined` for a name that is no owner file's. */
function ownerPid(name: string): number | undefined {
  const pid = /^owner-(\d{1,10})-/.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/**
 * Whether the lock directory at `path` is marked only by owners that no longer run on this machine.
 * A lock without an owner file (just created, its owner file not written yet) is not abandoned.
 */
async function ownersAreGone(path: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw error;
  }
  const pids = names.map(ownerPid).filter((pid) => pid !== undefined);
  return pids.length > 0 && pids.every((pid) => !processIsRunning(pid));
}

/**
 * Breaks the lock at `path` if it is still the one seen (same inode) and `abandoned` still says so,
 * under the breaker directory so that only one process breaks at a time. Resolves to whether it
 * removed the lock.
 */
async function breakLock(
  path: string,
  seenIno: number,
  staleMs: number,
  abandoned: (lock: { mtimeMs: number }) => Promise<boolean>,
): Promise<boolean> {
  const breaker = `${path}.break`;
  try {
    await mkdir(breaker);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    // Another process is breaking. If it died doing so, its breaker is stale too: remove it.
    const b = await lockStat(breaker);
    if (b !== undefined && Date.now() - b.mtimeMs > staleMs) await removeDir(breaker);
    return false;
  }
  try {
    const now = await lockStat(path);
    if (now === undefined || now.ino !== seenIno || !(await abandoned(now))) return false;
    await rm(path, { recursive: true, force: true });
    return true;
  } finally {
    await removeDir(breaker);
  }
}

/** Whether a lock is abandoned: not refreshed for `staleMs`, or its owners no longer run. */
function abandonedTest(path: string, staleMs: number): (lock: { mtimeMs: number }) => Promise<boolean> {
  return async (lock) => Date.now() - lock.mtimeMs > staleMs || (await ownersAreGone(path));
}

/**
 * Removes the lock at `path` if the process that held it no longer runs on this machine (it was killed
 * while holding it), so that a crash leaves no lock behind even when no one contends for it again.
 * A lock of a live process is left alone, and so is a missing one. For a store's start-up recovery.
 * Resolves to whether it removed a lock.
 */
export async function breakAbandonedLock(path: string, options: Pick<FileLockOptions, 'staleMs'> = {}): Promise<boolean> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const current = await lockStat(path);
  if (current === undefined || !(await ownersAreGone(path))) return false;
  return breakLock(path, current.ino, staleMs, () => ownersAreGone(path));
}

/** Takes the directory lock at `path`, breaking an abandoned one; resolves to the path of our owner file. */
async function acquire(path: string, staleMs: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const isAbandoned = abandonedTest(path, staleMs);
  let delay = 2;
  for (;;) {
    try {
      await mkdir(path);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') {
        // The parent directory is missing: create it and retry at once.
        await mkdir(dirname(path), { recursive: true });
        continue;
      }
      if (code !== 'EEXIST') throw error;
      const current = await lockStat(path);
      if (current === undefined) continue; // released meanwhile: try again at once
      // Break an abandoned lock and try again at once; otherwise wait a moment like any contender.
      if ((await isAbandoned(current)) && (await breakLock(path, current.ino, staleMs, isAbandoned))) continue;
      if (Date.now() >= deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for the lock ${path}`);
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
      continue;
    }
    // Empty (the pid is in its name): deleting files must stay possible on a full disk.
    const owner = join(path, ownerName());
    try {
      await writeFile(owner, '', { flag: 'wx' });
      return owner;
    } catch (error) {
      // Broken by someone who judged it abandoned between our mkdir and now: cannot happen with a fresh
      // mtime and no owner file, but retrying is the safe answer.
      if (errorCode(error) !== 'ENOENT') {
        // Not left behind ownerless, or every later holder would wait for it to go stale.
        await removeDir(path).catch(() => undefined);
        throw error;
      }
    }
  }
}

/** Releases the directory lock at `path` if it is still the one we took (our owner file is in it). */
async function release(path: string, owner: string): Promise<void> {
  try {
    await unlink(owner);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // broken meanwhile: the lock is someone else's now
    throw error;
  }
  try {
    await rmdir(path);
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}

/**
 * Runs `fn` while holding the lock at `path` (a directory path; its parent is created if missing),
 * exclusive against every other holder of the same path in this process and in other processes on
 * this machine. The lock is released when `fn` settles; `fn`'s result or rejection is passed on.
 * Rejects without running `fn` when the lock could not be taken within `timeoutMs`.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  return queue.run(path, async () => {
    const owner = await acquire(path, staleMs, timeoutMs);
    const refresh = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    }, Math.max(1, Math.floor(staleMs / 3)));
    refresh.unref();
    try {
      return await fn();
    } finally {
      clearInterval(refresh);
      await release(path, owner);
    }
  });
}
