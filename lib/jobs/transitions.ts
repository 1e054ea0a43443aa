/**
 * The job state machine of the {@link JobStore} contract, as pure transitions over one cell's
 * {@link CellJobState}: claim, renew, cancel, and end (finish while live, reap once expired). Every
 * local store applies them to its own storage (`MemoryJobStore` in memory, `FsJobStore` under a file
 * lock); a store on a shared server implements the same rules in its own atomic primitive (the Redis
 * store's Lua scripts mirror these functions one for one).
 */
import { randomUUID } from 'node:crypto';
import type { ErrorBody } from '../errors.js';
import type { CellJobState, ClaimOptions, ClaimResult, ImportFailure, JobKind, JobRecord, JobRequest, JobStore } from '../types.js';

/** The highest percent a job reports while it runs: 100 only once it has finished. */
export const MAX_RUNNING_PERCENT = 99;

/**
 * A progress value as a running job's percent: floored to an integer and at most
 * {@link MAX_RUNNING_PERCENT}. Every producer and store of progress goes through this one rule.
 */
export function runningPercent(value: number): number {
  return Math.min(MAX_RUNNING_PERCENT, Math.floor(value));
}

/** When a job may be ended: `live` (finish, by its holder) or `expired` (reap, by anyone). */
export type EndWhen = 'live' | 'expired';

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
  const offered = Number.isFinite(progress) ? runningPercent(progress) : job.progress;
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
  when: EndWhen,
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
