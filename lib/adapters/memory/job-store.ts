/**
 * `MemoryJobStore`: the default {@link JobStore}, for one process. Also exports the pure state
 * transitions of the job contract, which every local store applies to its own storage (the Fs store
 * applies them under a file lock); a store on a shared server (Redis) implements the same rules in
 * its own atomic primitive.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorBody } from '../../errors.js';
import type {
  CellJobState,
  ClaimOptions,
  ClaimResult,
  ImportFailure,
  JobKind,
  JobRecord,
  JobRequest,
  JobStore,
} from '../../types.js';

// ---------------------------------------------------------------------------------------------
// The transitions
// ---------------------------------------------------------------------------------------------

/** Whether a job's lease is live at `now` (epoch ms): live strictly before `leaseExpiresAt`. */
export function isLive(job: JobRecord, now: number): boolean {
  return now < job.leaseExpiresAt;
}

/** Throws a `RangeError` unless `leaseMs` is a positive finite number. */
export function assertLeaseMs(leaseMs: number): void {
  if (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs <= 0) {
    throw new RangeError(`leaseMs must be a positive number of ms, got ${String(leaseMs)}`);
  }
}

/** Throws a `RangeError` unless the claim options are usable. */
export function assertClaimOptions(options: ClaimOptions): void {
  assertLeaseMs(options.leaseMs);
  if (typeof options.maxRunning !== 'number' || Number.isNaN(options.maxRunning) || options.maxRunning < 0) {
    throw new RangeError(`maxRunning must be a non-negative number, got ${String(options.maxRunning)}`);
  }
}

/** The outcome of {@link claimCell}: the answer, and the cell's new state when it was claimed. */
export interface ClaimTransition {
  /** What {@link JobStore.claim} resolves to. */
  readonly result: ClaimResult;
  /** The state to store, when `result.status` is `claimed`; absent when nothing changes. */
  readonly state?: CellJobState;
}

/**
 * Claims a cell. `state` is the cell's current state, `liveCount` the number of live jobs over all
 * cells (only looked at when the cell is free, so a caller may pass anything when it is held), `now`
 * the store's clock. A held cell answers `busy` (live lease) or `expired`; a free cell answers
 * `limit` when `liveCount >= maxRunning`; otherwise a new job with a fresh token and lease holds the
 * cell and, for an import, the cell's import failure is cleared.
 */
export function claimCell(
  state: CellJobState,
  request: JobRequest,
  options: ClaimOptions,
  liveCount: number,
  now: number,
): ClaimTransition {
  const held = state.running;
  if (held !== undefined) {
    return { result: isLive(held, now) ? { status: 'busy', job: held } : { status: 'expired', job: held } };
  }
  if (liveCount >= options.maxRunning) return { result: { status: 'limit' } };
  const job: JobRecord = Object.freeze({
    cellId: request.cellId,
    kind: request.kind,
    name: request.name,
    requestKey: request.requestKey,
    subject: request.subject,
    token: randomUUID(),
    startedAt: new Date(now).toISOString(),
    progress: 0,
    leaseExpiresAt: now + options.leaseMs,
    cancelRequested: false,
  });
  const importFailure = request.kind === 'import' ? undefined : state.importFailure;
  return {
    result: { status: 'claimed', job },
    state: Object.freeze(importFailure === undefined ? { running: job } : { running: job, importFailure }),
  };
}

/**
 * Renews the lease of the job holding `token`, if its lease is live: the lease becomes
 * `now + leaseMs`, the progress the larger of the stored one and `progress` (floored to an integer,
 * at most 99, a non-finite value ignored). Resolves to the new state, or `undefined` when nothing
 * may change.
 */
export function renewJob(
  state: CellJobState,
  token: string,
  progress: number,
  leaseMs: number,
  now: number,
): CellJobState | undefined {
  const job = state.running;
  if (job === undefined || job.token !== token || !isLive(job, now)) return undefined;
  const offered = Number.isFinite(progress) ? Math.min(99, Math.floor(progress)) : job.progress;
  const running: JobRecord = Object.freeze({
    ...job,
    progress: Math.max(job.progress, offered),
    leaseExpiresAt: now + leaseMs,
  });
  return Object.freeze({ ...state, running });
}

/**
 * Marks the live job of `kind` holding the cell as cancel-requested. Resolves to the new state, or
 * `undefined` when no live job of that kind holds it.
 */
export function cancelJob(state: CellJobState, kind: JobKind, now: number): CellJobState | undefined {
  const job = state.running;
  if (job === undefined || job.kind !== kind || !isLive(job, now)) return undefined;
  return Object.freeze({ ...state, running: Object.freeze({ ...job, cancelRequested: true }) });
}

/**
 * Ends the job holding `token`: `when: 'live'` (finish) only while its lease is live, `when:
 * 'expired'` (reap) only once it has expired. A `failure` on an import becomes the cell's
 * {@link ImportFailure}; on an export it is ignored (the export records its own `.error` file).
 * Resolves to the new state (possibly empty), or `undefined` when nothing may change.
 */
export function endJob(
  state: CellJobState,
  token: string,
  failure: ErrorBody | undefined,
  when: 'live' | 'expired',
  now: number,
): CellJobState | undefined {
  const job = state.running;
  if (job === undefined || job.token !== token || isLive(job, now) !== (when === 'live')) return undefined;
  if (job.kind === 'import' && failure !== undefined) {
    const importFailure: ImportFailure = Object.freeze({
      name: job.name,
      startedAt: job.startedAt,
      progress: job.progress,
      error: Object.freeze({ code: failure.code, message: Object.freeze({ ...failure.message }) }),
    });
    return Object.freeze({ importFailure });
  }
  return Object.freeze(state.importFailure === undefined ? {} : { importFailure: state.importFailure });
}

/** Whether a state holds nothing (no job, no failure), so that it need not be stored. */
export function isEmptyState(state: CellJobState): boolean {
  return state.running === undefined && state.importFailure === undefined;
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/** Options of {@link MemoryJobStore}. */
export interface MemoryJobStoreOptions {
  /**
   * Do not emit the process warning that this store serves one process only (e.g. in tests, or in
   * a deliberately single-process deployment). Default false.
   */
  readonly quiet?: boolean;
}

/** The `code` of the warning {@link MemoryJobStore} emits. */
export const MEMORY_JOB_STORE_WARNING = 'KCS_MEMORY_JOB_STORE';

let warned = false;

/**
 * A {@link JobStore} held in this process's memory. Every method runs its read-check-write without
 * yielding to the event loop, which makes it atomic within the process. Its state is lost on
 * restart and invisible to other processes: behind several instances, use `FsJobStore` (one
 * machine) or a shared store. The first instance constructed without `quiet` emits a process
 * warning (code {@link MEMORY_JOB_STORE_WARNING}) saying so, once per process.
 */
export class MemoryJobStore implements JobStore {
  readonly #cells = new Map<string, CellJobState>();

  /** @param options - `quiet` suppresses the once-per-process warning. */
  constructor(options: MemoryJobStoreOptions = {}) {
    if (options.quiet !== true && !warned) {
      warned = true;
      process.emitWarning(
        'MemoryJobStore keeps job state in this process only: it is lost on restart and not shared ' +
          'with other instances. Use FsJobStore (one machine) or a shared job store in production.',
        { code: MEMORY_JOB_STORE_WARNING },
      );
    }
  }

  #get(cellId: string): CellJobState {
    return this.#cells.get(cellId) ?? {};
  }

  #set(cellId: string, state: CellJobState): void {
    if (isEmptyState(state)) this.#cells.delete(cellId);
    else this.#cells.set(cellId, state);
  }

  #countLive(now: number): number {
    let live = 0;
    for (const state of this.#cells.values()) if (state.running !== undefined && isLive(state.running, now)) live += 1;
    return live;
  }

  /** {@inheritDoc JobStore.claim} */
  async claim(request: JobRequest, options: ClaimOptions): Promise<ClaimResult> {
    assertClaimOptions(options);
    const now = Date.now();
    const state = this.#get(request.cellId);
    const { result, state: next } = claimCell(state, request, options, this.#countLive(now), now);
    if (next !== undefined) this.#set(request.cellId, next);
    return result;
  }

  /** {@inheritDoc JobStore.renew} */
  async renew(cellId: string, token: string, progress: number, leaseMs: number): Promise<JobRecord | undefined> {
    assertLeaseMs(leaseMs);
    const next = renewJob(this.#get(cellId), token, progress, leaseMs, Date.now());
    if (next === undefined) return undefined;
    this.#set(cellId, next);
    return next.running;
  }

  /** {@inheritDoc JobStore.requestCancel} */
  async requestCancel(cellId: string, kind: JobKind): Promise<JobRecord | undefined> {
    const next = cancelJob(this.#get(cellId), kind, Date.now());
    if (next === undefined) return undefined;
    this.#set(cellId, next);
    return next.running;
  }

  /** {@inheritDoc JobStore.finish} */
  async finish(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    const next = endJob(this.#get(cellId), token, failure, 'live', Date.now());
    if (next === undefined) return false;
    this.#set(cellId, next);
    return true;
  }

  /** {@inheritDoc JobStore.reap} */
  async reap(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    const next = endJob(this.#get(cellId), token, failure, 'expired', Date.now());
    if (next === undefined) return false;
    this.#set(cellId, next);
    return true;
  }

  /** {@inheritDoc JobStore.get} */
  async get(cellId: string): Promise<CellJobState> {
    return this.#get(cellId);
  }

  /** {@inheritDoc JobStore.countRunning} */
  async countRunning(): Promise<number> {
    return this.#countLive(Date.now());
  }
}
