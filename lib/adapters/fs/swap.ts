/**
 * Swapping a staged cell directory in for the live one, crash-safely, and recovering from a crash at
 * any point of the swap.
 *
 * A commit of cell `c` with swap id `x` runs these steps:
 *
 * 1. write the journal `.swap-c.json` (`{"version":1,"cell":"c","id":"x"}`) through a temporary file
 *    and a rename, so it exists complete or not at all;
 * 2. rename `c` → `.old-c-x`;
 * 3. rename `.staging-c-x` → `c`;
 * 4. delete the journal: **the commit point**;
 * 5. delete `.old-c-x`.
 *
 * Recovery ({@link recoverRoot}) treats a journal as "the commit did not happen" and rolls back
 * ({@link rollBackSwap}): if `.old-c-x` exists, whatever is at `c` (the new content) is moved aside and
 * `.old-c-x` is renamed back to `c`; then the staging directory and the journal are deleted. Every step
 * of that is itself idempotent, so a crash during recovery is recovered the same way. Without a journal,
 * any `.old-*` is the leftover of a completed commit and any `.staging-*` an abandoned import: both are
 * deleted. So after a crash the cell is entirely the old one unless the commit point was reached, and
 * entirely the new one after it; never a mix.
 *
 * Recovery never touches a path claimed by a transaction of this process ({@link claimPath}), nor the
 * swap of another process that is still alive on this machine (swap ids begin with the owner's pid,
 * {@link ownedByOtherLiveProcess}), so several processes of one machine may share a root (the job
 * store keeps them from importing into one cell at once). A dead owner's leftovers are recovered by
 * the next recovery of any process. Processes on different machines must not share a root.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  JOURNAL_TEMP_SUFFIX,
  isNotFound,
  isValidSwapId,
  journalName,
  oldName,
  parseRootEntry,
  pathKind,
  stagingName,
} from './cell-layout.js';
import { processIsRunning } from './store-files.js';
import { KeyedQueue } from '../../util/keyed-queue.js';
import { isJsonObject } from '../../util/json.js';

/** The content of a commit journal. */
export interface SwapJournal {
  /** Always 1. */
  readonly version: 1;
  /** The cell name. */
  readonly cell: string;
  /** The swap id: names `.staging-<cell>-<id>` and `.old-<cell>-<id>`. */
  readonly id: string;
}

/** Absolute paths in use by live transactions and commits of this process. */
const claimed = new Set<string>();

/** Marks a path as in use: recovery, from any instance in this process, leaves it alone. */
export function claimPath(path: string): void {
  claimed.add(path);
}

/** Releases a path claimed with {@link claimPath}. */
export function releasePath(path: string): void {
  claimed.delete(path);
}

/** Whether a path is claimed by a live transaction of this process. */
export function isClaimed(path: string): boolean {
  return claimed.has(path);
}

/** The per-cell lock queues of this process, keyed by live cell directory. */
const cellQueue = new KeyedQueue();

/**
 * Runs `fn` while holding the in-process lock of one cell directory (commits of one cell run one at
 * a time, and readers can wait for a commit with {@link whenUnlocked}).
 */
export function withCellLock<T>(cellDir: string, fn: () => Promise<T>): Promise<T> {
  return cellQueue.run(cellDir, fn);
}

/** Resolves once no commit of this process holds the cell directory's lock. */
export function whenUnlocked(cellDir: string): Promise<void> {
  return cellQueue.idle(cellDir);
}

/**
 * A fresh swap id: 16 lowercase hex digits, the first 8 the owning process's pid, so that recovery in
 * another process can tell a live owner's swap from an abandoned one.
 */
export function newSwapId(): string {
  return `${(process.pid % 2 ** 32).toString(16).padStart(8, '0')}${randomBytes(4).toString('hex')}`;
}

/**
 * Whether the swap `id` belongs to another process that is still alive (on this machine): recovery
 * leaves its paths alone. This process's own swaps are protected by {@link claimPath} instead.
 */
export function ownedByOtherLiveProcess(id: string): boolean {
  const pid = Number.parseInt(id.slice(0, 8), 16);
  return pid !== process.pid && processIsRunning(pid);
}

/** Writes a journal atomically (temporary file, then rename). */
export async function writeJournal(root: string, journal: SwapJournal): Promise<void> {
  const file = join(root, journalName(journal.cell));
  const temp = file + JOURNAL_TEMP_SUFFIX;
  try {
    await writeFile(temp, JSON.stringify(journal), { flag: 'w' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * Reads the journal of a cell. Resolves `undefined` when there is none; a journal that is not
 * readable as one resolves with `id` `undefined`.
 */
export async function readJournal(root: string, cell: string): Promise<{ id: string | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(join(root, journalName(cell)), 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (isJsonObject(value) && value['cell'] === cell && typeof value['id'] === 'string' && isValidSwapId(value['id'])) {
      return { id: value['id'] };
    }
  } catch {
    // fall through: unreadable
  }
  return { id: undefined };
}

/**
 * Rolls a swap back (see the module comment): afterwards `root/<cell>` holds the content it had before
 * the swap began, and the swap's staging directory and journal are gone. Idempotent.
 */
export async function rollBackSwap(root: string, cell: string, id: string): Promise<void> {
  const live = join(root, cell);
  const old = join(root, oldName(cell, id));
  const staging = join(root, stagingName(cell, id));
  if ((await pathKind(old)) !== 'missing') {
    if ((await pathKind(live)) !== 'missing') {
      await rm(staging, { recursive: true, force: true });
      await rename(live, staging);
    }
    await rename(old, live);
  }
  await rm(staging, { recursive: true, force: true });
  await rm(join(root, journalName(cell)), { force: true });
}

/**
 * Swaps `.staging-<cell>-<id>` in for `root/<cell>` (steps 1-5 of the module comment). Resolves once
 * the new content is live and the old one deleted; rejects with the cell unchanged (rolled back) if
 * the swap could not be done. The caller holds the cell's lock and has claimed the staging directory.
 */
export async function commitSwap(root: string, cell: string, id: string): Promise<void> {
  const live = join(root, cell);
  const old = join(root, oldName(cell, id));
  const journal = join(root, journalName(cell));
  claimPath(old);
  claimPath(journal);
  try {
    await writeJournal(root, { version: 1, cell, id });
    try {
      await rename(live, old);
      await rename(join(root, stagingName(cell, id)), live);
      await rm(journal);
    } catch (error) {
      await rollBackSwap(root, cell, id);
      throw error;
    }
    await rm(old, { recursive: true, force: true }).catch(() => undefined);
  } finally {
    releasePath(old);
    releasePath(journal);
  }
}

/**
 * Recovers a root after a crash: rolls back every swap whose journal is still there, deletes journals
 * that were being written, abandoned staging directories and leftover old directories. Paths claimed
 * by live transactions of this process are left alone. A missing root is fine (nothing to do).
 */
export async function recoverRoot(root: string): Promise<void> {
  const list = async (): Promise<string[]> => {
    try {
      return await readdir(root);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  };
  for (const name of await list()) {
    const entry = parseRootEntry(name);
    if (entry.kind !== 'journal' || isClaimed(join(root, name))) continue;
    const journal = await readJournal(root, entry.cell);
    if (journal === undefined || (journal.id !== undefined && ownedByOtherLiveProcess(journal.id))) continue;
    let id = journal.id;
    if (id === undefined) {
      // An unreadable journal: restore the old directory of that cell, if there is exactly one.
      const olds = (await list())
        .map(parseRootEntry)
        .filter((e) => e.kind === 'old' && e.cell === entry.cell && !isClaimed(join(root, oldName(e.cell, e.id))));
      const only = olds.length === 1 ? olds[0] : undefined;
      id = only !== undefined && only.kind === 'old' ? only.id : undefined;
    }
    if (id === undefined) await rm(join(root, name), { force: true });
    else await rollBackSwap(root, entry.cell, id);
  }
  for (const name of await list()) {
    const entry = parseRootEntry(name);
    const path = join(root, name);
    if (isClaimed(path)) continue;
    if (entry.kind === 'journal-temp') await rm(path, { force: true });
    else if ((entry.kind === 'staging' || entry.kind === 'old') && !ownedByOtherLiveProcess(entry.id)) {
      await rm(path, { recursive: true, force: true });
    }
  }
}
