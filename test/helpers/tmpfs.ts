/**
 * A small real file system for tests of storage faults: a tmpfs mounted by the test (root only; see
 * `needingTmpfs` in `tools.ts`), filled up to a chosen number of free bytes by a filler file,
 * remounted read-only and back, always unmounted when the test ends, even when it fails.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, rmdir, stat, statfs, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);

/** The name of the filler file, directly under the mount point (never inside a store's root). */
const FILLER = 'filler';

/** A mounted tmpfs. */
export interface Tmpfs {
  /** The mount point. */
  readonly dir: string;
  /** The bytes a writer may still allocate. */
  free(): Promise<number>;
  /** Fills the file system until at most `leave` bytes (rounded up to whole pages) are free. */
  fill(leave?: number): Promise<void>;
  /** Removes the filler: the space is free again. */
  unfill(): Promise<void>;
  /** Remounts read-only (no file may be open for writing on it). */
  readOnly(): Promise<void>;
  /** Remounts read-write. */
  writable(): Promise<void>;
}

/** Mount points of this process not unmounted yet: unmounted lazily if the process exits first. */
const mounted = new Set<string>();
process.once('exit', () => {
  for (const dir of mounted) {
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      // nothing more to do on the way out
    }
  }
});

async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir]);
  } catch {
    await run('umount', ['-l', dir]); // still busy (a file left open by a failed test): detach it
  }
  mounted.delete(dir);
  await rmdir(dir);
}

/** Mounts a tmpfs of `sizeBytes` (a whole number of pages); unmounted in the test's teardown. */
export async function mountTmpfs(t: ExecutionContext, sizeBytes: number): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'kcs-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  } catch (error) {
    await rmdir(dir);
    throw error;
  }
  mounted.add(dir);
  t.teardown(() => unmount(dir));
  const filler = join(dir, FILLER);
  const remount = async (mode: 'ro' | 'rw'): Promise<void> => {
    await run('mount', ['-o', `remount,${mode}`, dir]);
  };
  const fs: Tmpfs = {
    dir,
    async free() {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    },
    async fill(leave = 0) {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(1024 * 1024, 1);
      try {
        for (;;) await handle.write(chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        await handle.close();
      }
      if (leave > 0) {
        const { size } = await stat(filler);
        const page = (await statfs(dir)).bsize;
        await truncate(filler, Math.max(0, size - Math.ceil(leave / page) * page));
      }
    },
    async unfill() {
      await rm(filler, { force: true });
    },
    readOnly: () => remount('ro'),
    writable: () => remount('rw'),
  };
  return fs;
}

/**
 * Every directory and file under `root` (the filler excluded): a directory as `dir`, a file as the
 * SHA-256 of its bytes. Equal trees mean no stored byte changed and no file appeared or went.
 */
export async function treeDigest(root: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    const name = relative(root, path);
    if (name === FILLER) continue;
    tree[name] = entry.isDirectory() ? 'dir' : createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return Object.fromEntries(Object.entries(tree).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
