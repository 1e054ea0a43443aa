/** Processes in tests: the pid of one that has ended, and file locks marked as held by given pids. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The pid of a process that has exited, so surely not running. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  if (child.pid === undefined) throw new Error('the child did not start');
  return child.pid;
}

/**
 * Makes a fresh (not stale) lock directory at `lock` marked by an owner file for each of these pids,
 * as the file lock's holders mark it; resolves to the owner files' names.
 */
export async function lockOwnedBy(lock: string, pids: readonly number[]): Promise<string[]> {
  await mkdir(lock, { recursive: true });
  const names = pids.map((pid, i) => `owner-${pid}-${String(i).padStart(32, '0')}`);
  for (const name of names) await writeFile(join(lock, name), '');
  return names;
}
