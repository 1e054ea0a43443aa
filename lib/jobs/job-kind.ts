/**
 * The shape every job kind (export, import) has, so that the routes only prepare and answer, and the
 * runner runs any job without knowing its kind: `prepare` makes the checks that come before the 202
 * and returns the work; what a failure leaves behind is the kind's own business.
 */
import type { ErrorBody } from '../errors.js';
import type { CellInfo, JobKind, JobRecord, JobRequest } from '../types.js';

/** What a job's work gets from the runner. */
export interface JobHandle {
  /** The job as stored. */
  readonly record: JobRecord;
  /** Aborts when the job is cancelled, its lease is lost, or the runner closes. */
  readonly signal: AbortSignal;
  /** Reports the current percent (0-99). */
  setProgress(percent: number): void;
  /** Renews the lease now; rejects (with the signal's reason) when it was lost. Call before committing. */
  confirmLease(): Promise<void>;
}

/** What a POST asks of a job kind. */
export interface JobStart {
  /** The addressed cell. */
  readonly cell: CellInfo;
  /** The request key of the POST. */
  readonly requestKey: string;
  /** The caller's subject. */
  readonly subject: string | null;
  /** The JSON body, or `undefined` when empty. */
  readonly body: Record<string, unknown> | undefined;
  /** The unit URL the manifests carry. */
  readonly unitUrl: string;
  /** The runner's checks (the cell idle: 409; the global limit: 503), made once the request is valid. */
  readonly precheck: () => Promise<void>;
}

/** A job ready to start: what to claim, the work, and how to let go of it if it never starts. */
export interface PreparedJob {
  /** What the runner claims the cell with. */
  readonly request: JobRequest;
  /** The work: resolves when it succeeded, rejects with why it failed. */
  run(job: JobHandle): Promise<void>;
  /** Releases what `prepare` opened, when the job is not started after all. */
  discard(): Promise<void>;
  /** Keys of the POST body the job ignored (Personium ignores them too), for the event log. */
  readonly ignoredKeys: readonly string[];
}

/** The keys of a POST body other than `Name`, which every job kind ignores. */
export function ignoredKeys(body: Record<string, unknown> | undefined): string[] {
  return Object.keys(body ?? {}).filter((key) => key !== 'Name');
}

/** One kind of job. */
export interface JobKindModule {
  /** Which kind. */
  readonly kind: JobKind;
  /** The checks before the 202 (400, 404, 409, 503…), then the job, ready to start. */
  prepare(start: JobStart): Promise<PreparedJob>;
  /** The failure the job store keeps for the cell when a job of this kind fails with `failure`, if any. */
  storedFailure(failure: ErrorBody): ErrorBody | undefined;
  /** Leaves a failure where this kind shows it besides the job store. */
  leaveFailure(record: JobRecord, failure: ErrorBody): Promise<void>;
  /**
   * For a job whose holder stopped (its lease ran out): whether the job had already put its result
   * in place, its last step done (an export's committed zip). If so this finishes what the job left
   * undone after that step and resolves `true`, and the job is reaped as completed rather than
   * interrupted. Absent: always interrupted.
   */
  completedBeforeStop?(record: JobRecord): Promise<boolean>;
}
