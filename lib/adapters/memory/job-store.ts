/**
 * `MemoryJobStore`: the default {@link JobStore}, for one process: the job transitions of
 * `jobs/transitions.ts` applied to a map.
 */
import type { ErrorBody } from '../../errors.js';
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
import type { CellJobState, ClaimOptions, ClaimResult, JobKind, JobRecord, JobRequest, JobStore } from '../../types.js';

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
    return this.#end(cellId, token, failure, 'live');
  }

  /** {@inheritDoc JobStore.reap} */
  async reap(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    return this.#end(cellId, token, failure, 'expired');
  }

  #end(cellId: string, token: string, failure: ErrorBody | undefined, when: EndWhen): boolean {
    const next = endJob(this.#get(cellId), token, failure, when, Date.now());
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
