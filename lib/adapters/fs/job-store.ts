/**
 * `FsJobStore`: a {@link JobStore} in a directory, for every process of one machine, surviving
 * restarts.
 *
 * Layout under `root`:
 *
 * - `cells/<K>.json`: the whole state of one cell (`{cellId, running?, importFailure?}`), `K` being
 *   `fileKey(cellId)`; replaced atomically (temp `cells/.tmp-p<pid>-*`, fsync, rename), removed when
 *   empty. Temp files a crash left behind are removed when a store instance first touches the root:
 *   at once when the process named in them is gone, else once they are ten minutes old.
 * - `active/<K>`: an empty marker for every cell that may hold a job, so that counting live jobs
 *   reads only those cells. It is created before a claim writes the cell's state and removed after a
 *   finish or reap did, so the markers always cover every held cell (a stale marker, left by a crash,
 *   is ignored and cleaned up by the next claim).
 * - `.lock`: the store-wide lock (see `lock.ts`): every `claim`, `renew`, `finish` and `reap` runs
 *   its read-check-write under it, which makes the per-cell check and the global `maxRunning` count
 *   of a claim atomic together, across processes. `get` and `countRunning` read without the lock:
 *   each cell file is always complete, old or new. A lock left by a process killed while holding it
 *   is removed when a store instance first touches the root (a read too), and at once by any
 *   contender, so a crash leaves no lock behind.
 *
 * The transitions are the same pure functions `MemoryJobStore` applies.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ErrorBody } from '../../errors.js';
import type { CellJobState, ClaimOptions, ClaimResult, JobKind, JobRecord, JobRequest, JobStore } from '../../types.js';
import {
  type EndWhen,
  assertClaimOptions,
  assertLeaseMs,
  cancelJob,
  claimCell,
  endJob,
  isEmptyState,
  isLive,
  renewJob,
} from '../../jobs/transitions.js';
import { withFsFaults } from './fs-faults.js';
import { breakAbandonedLock, withFileLock } from './lock.js';
import type { FileLockOptions } from './lock.js';
import {
  errorCode,
  fileKey,
  inFlightTemps,
  processIsRunning,
  readJsonFile,
  removeFile,
  syncDir,
  writeFileAtomic,
} from './store-files.js';

/** Prefix of the temp files of cell states being written. */
const TEMP_PREFIX = '.tmp-';
/** This process's temp files: `.tmp-p<pid>-<random>`, so that a store starting later knows whose they were. */
const OWN_TEMP_PREFIX = `${TEMP_PREFIX}p${process.pid}-`;
/**
 * Temp files older than this, found when a store starts, were left by a crash and are removed; so
 * are younger ones named for a process that no longer runs (this machine's processes share a root).
 */
const ABANDONED_TEMP_MS = 10 * 60_000;

/** Whether a temp file's name says it was written by a process that no longer runs. */
function writerIsGone(entry: string): boolean {
  const pid = /^\.tmp-p(\d{1,10})-/.exec(entry)?.[1];
  if (pid === undefined || Number(pid) === process.pid) return pid !== undefined;
  return !processIsRunning(Number(pid));
}

/** Options of {@link FsJobStore}. */
export interface FsJobStoreOptions {
  /** The directory holding the store's files; created when first used. */
  readonly root: string;
  /**
   * After how many ms without a refresh the store lock is broken. Default 10,000. Live holders
   * refresh it, and no operation holds it for more than a few file operations. A lock whose holder no
   * longer runs on this machine is broken at once; this bounds the wait for one held by a process
   * that hangs, or that this machine cannot see (another pid namespace).
   */
  readonly lockStaleMs?: number;
  /** How long an operation waits for the store lock before rejecting, in ms. Default 60,000. */
  readonly lockTimeoutMs?: number;
}

/** The content of a cell file. */
interface CellFile extends CellJobState {
  /** The cell id, to check the file against the key. */
  readonly cellId: string;
}

function isCellFile(value: unknown): value is CellFile {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const running = v['running'];
  const failure = v['importFailure'];
  return (
    typeof v['cellId'] === 'string' &&
    (running === undefined ||
      (typeof running === 'object' &&
        running !== null &&
        typeof (running as Record<string, unknown>)['token'] === 'string' &&
        typeof (running as Record<string, unknown>)['leaseExpiresAt'] === 'number')) &&
    (failure === undefined || (typeof failure === 'object' && failure !== null))
  );
}

/**
 * A {@link JobStore} in a directory on the local file system: durable across restarts, and atomic
 * across every process of the machine that uses the same `root` (through a store-wide `mkdir` lock
 * with stale-lock breaking). Not for network file systems whose `mkdir` or `rename` is not atomic.
 */
export class FsJobStore implements JobStore {
  /** The absolute root directory. */
  readonly root: string;
  readonly #cellsDir: string;
  readonly #activeDir: string;
  readonly #lockPath: string;
  readonly #lockOptions: FileLockOptions;
  #ready: Promise<void> | undefined;
  #lockRecovery: Promise<void> | undefined;

  /** @param options - the root directory and lock timing. */
  constructor(options: FsJobStoreOptions) {
    if (typeof options.root !== 'string' || options.root === '') {
      throw new TypeError('FsJobStore: `root` must be a non-empty path');
    }
    this.root = resolve(options.root);
    this.#cellsDir = join(this.root, 'cells');
    this.#activeDir = join(this.root, 'active');
    this.#lockPath = join(this.root, '.lock');
    this.#lockOptions = {
      ...(options.lockStaleMs === undefined ? {} : { staleMs: options.lockStaleMs }),
      ...(options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }),
    };
  }

  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(this.#cellsDir, { recursive: true });
      await mkdir(this.#activeDir, { recursive: true });
      await this.#removeAbandonedTemps();
      await this.#recoverLock();
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Removes the store lock of a process killed while holding it, once per instance. Never rejects: a
   * lock it could not remove is broken by the next contender all the same.
   */
  #recoverLock(): Promise<void> {
    this.#lockRecovery ??= breakAbandonedLock(this.#lockPath, this.#lockOptions).then(
      () => undefined,
      () => undefined,
    );
    return this.#lockRecovery;
  }

  async #removeAbandonedTemps(): Promise<void> {
    const cutoff = Date.now() - ABANDONED_TEMP_MS;
    for (const entry of await readdir(this.#cellsDir)) {
      const path = join(this.#cellsDir, entry);
      if (!entry.startsWith(TEMP_PREFIX) || inFlightTemps.has(path)) continue;
      try {
        if (writerIsGone(entry) || (await stat(path)).mtimeMs < cutoff) await removeFile(path);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
      }
    }
  }

  /**
   * Runs `fn` under the store lock. A full or read-only disk rejects with its storage fault
   * (`PR507-SN-0001`, `PR503-SN-0001`); a root removed meanwhile is created again.
   */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFsFaults('job store', this.root, async () => {
      await this.#init();
      return withFileLock(this.#lockPath, fn, this.#lockOptions);
    });
  }

  /** Runs a write of `fn`, creating the store's directories again first if they were removed. */
  async #recreating(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      await mkdir(this.#cellsDir, { recursive: true });
      await mkdir(this.#activeDir, { recursive: true });
      await fn();
    }
  }

  #cellPath(key: string): string {
    return join(this.#cellsDir, `${key}.json`);
  }

  async #readKey(key: string): Promise<CellJobState & { cellId?: string }> {
    const value = await readJsonFile(this.#cellPath(key));
    if (value === undefined) return {};
    if (!isCellFile(value) || fileKey(value.cellId) !== key) {
      throw new Error(`Corrupt job state file: ${this.#cellPath(key)}`);
    }
    return value;
  }

  async #read(cellId: string): Promise<CellJobState> {
    const { running, importFailure } = await this.#readKey(fileKey(cellId));
    return {
      ...(running === undefined ? {} : { running }),
      ...(importFailure === undefined ? {} : { importFailure }),
    };
  }

  /** Writes a cell's new state, keeping the active markers a superset of the held cells. */
  async #write(cellId: string, previous: CellJobState, state: CellJobState): Promise<void> {
    const key = fileKey(cellId);
    const marker = join(this.#activeDir, key);
    const marking = state.running !== undefined && previous.running === undefined;
    if (marking) {
      await this.#recreating(() => writeFile(marker, ''));
      await syncDir(this.#activeDir);
    }
    if (isEmptyState(state)) {
      await removeFile(this.#cellPath(key));
      await syncDir(this.#cellsDir);
    } else {
      const file: CellFile = { cellId, ...state };
      try {
        await this.#recreating(() => writeFileAtomic(this.#cellPath(key), JSON.stringify(file), OWN_TEMP_PREFIX));
      } catch (error) {
        // Not written (a full disk): the cell holds no job, so the new marker goes too.
        if (marking) await removeFile(marker).catch(() => undefined);
        throw error;
      }
    }
    if (state.running === undefined) await removeFile(marker);
  }

  /**
   * Counts live jobs over the marked cells; with `clean`, removes the markers of cells that hold no
   * job any more (only under the lock).
   */
  async #countLive(now: number, clean: boolean): Promise<number> {
    let markers: string[];
    try {
      markers = await readdir(this.#activeDir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 0;
      throw error;
    }
    let live = 0;
    for (const key of markers) {
      if (key.startsWith('.')) continue;
      const { running } = await this.#readKey(key);
      if (running !== undefined && isLive(running, now)) live += 1;
      if (running === undefined && clean) await removeFile(join(this.#activeDir, key));
    }
    return live;
  }

  /** {@inheritDoc JobStore.claim} */
  async claim(request: JobRequest, options: ClaimOptions): Promise<ClaimResult> {
    assertClaimOptions(options);
    return this.#locked(async () => {
      const now = Date.now();
      const state = await this.#read(request.cellId);
      const live = state.running === undefined ? await this.#countLive(now, true) : 0;
      const { result, state: next } = claimCell(state, request, options, live, now);
      if (next !== undefined) await this.#write(request.cellId, state, next);
      return result;
    });
  }

  /** {@inheritDoc JobStore.renew} */
  async renew(cellId: string, token: string, progress: number, leaseMs: number): Promise<JobRecord | undefined> {
    assertLeaseMs(leaseMs);
    return this.#locked(async () => {
      const state = await this.#read(cellId);
      const next = renewJob(state, token, progress, leaseMs, Date.now());
      if (next === undefined) return undefined;
      await this.#write(cellId, state, next);
      return next.running;
    });
  }

  /** {@inheritDoc JobStore.requestCancel} */
  async requestCancel(cellId: string, kind: JobKind): Promise<JobRecord | undefined> {
    return this.#locked(async () => {
      const state = await this.#read(cellId);
      const next = cancelJob(state, kind, Date.now());
      if (next === undefined) return undefined;
      await this.#write(cellId, state, next);
      return next.running;
    });
  }

  /** {@inheritDoc JobStore.finish} */
  async finish(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    return this.#end(cellId, token, failure, 'live');
  }

  /** {@inheritDoc JobStore.reap} */
  async reap(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    return this.#end(cellId, token, failure, 'expired');
  }

  #end(cellId: string, token: string, failure: ErrorBody | undefined, when: EndWhen): Promise<boolean> {
    return this.#locked(async () => {
      const state = await this.#read(cellId);
      const next = endJob(state, token, failure, when, Date.now());
      if (next === undefined) return false;
      await this.#write(cellId, state, next);
      return true;
    });
  }

  /** {@inheritDoc JobStore.get} */
  async get(cellId: string): Promise<CellJobState> {
    await this.#recoverLock();
    return this.#read(cellId);
  }

  /** {@inheritDoc JobStore.countRunning} */
  async countRunning(): Promise<number> {
    await this.#recoverLock();
    return this.#countLive(Date.now(), false);
  }
}
