/**
 * The job runner: one job per cell (export and import together), a global limit, a lease renewed
 * while the job runs, progress published at least once a second, cancellation through an
 * `AbortSignal`, and expired jobs of dead workers finished as interrupted by whoever looks next.
 */
import { type ErrorBody, PersoniumError, errorBody, isPersoniumError } from '../errors.js';
import type { ResolvedLease } from '../options.js';
import { isStorageFault } from '../storage-faults.js';
import type { CellJobState, EventLogger, ImportFailure, JobKind, JobRecord, JobStore } from '../types.js';
import { emitEvent } from './events.js';
import { StatusCache } from './status-cache.js';
import type { JobHandle, JobKindModule, PreparedJob } from './job-kind.js';
import { runningPercent } from './transitions.js';

/** How often progress is published, in ms. */
const PROGRESS_INTERVAL_MS = 1000;
/** How far this instance's clock may lag the job store's before a dead job shows as running, in ms. */
const CLOCK_SKEW_MS = 5000;
/** How long a cancel waits for the job to stop before answering anyway, in ms. */
const CANCEL_WAIT_MS = 2000;
/** How often a cancel of a job on another instance looks whether it stopped, in ms. */
const CANCEL_POLL_MS = 50;

/** How often a running job renews its lease and publishes its progress, in ms. */
const renewalMs = (lease: ResolvedLease): number => Math.min(PROGRESS_INTERVAL_MS, lease.renewMs);
/** How many failures that could not be left behind ({@link JobRunner.unrecordedFailure}) are kept. */
const MAX_UNRECORDED = 1024;
/** The longest cause an event quotes, in characters. */
const MAX_CAUSE_CHARS = 300;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** The low-level cause of a failure, for the operator's event log: its message, on one line, short. */
function causeText(error: unknown): string | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  if (!(cause instanceof Error)) return undefined;
  const text = cause.message.replaceAll(/\s+/g, ' ').trim();
  return text.length > MAX_CAUSE_CHARS ? `${text.slice(0, MAX_CAUSE_CHARS)}…` : text;
}

/** What the runner needs. */
export interface JobRunnerOptions {
  readonly jobs: JobStore;
  /**
   * Every job kind, for what a failure of a job of that kind leaves behind (also of dead workers), and
   * whether a dead worker's job had completed.
   */
  readonly kinds: Readonly<Record<JobKind, Pick<JobKindModule, 'storedFailure' | 'leaveFailure' | 'completedBeforeStop'>>>;
  readonly events: EventLogger | undefined;
  readonly maxRunningJobs: number;
  readonly lease: ResolvedLease;
  readonly onError: (error: unknown) => void;
}

interface ActiveJob {
  readonly record: JobRecord;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** Body keys as an event names them: at most 10, each quoted and at most 64 characters. */
function describeKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 10).map((key) => JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key));
  return `body keys ${shown.join(', ')}${keys.length > 10 ? ` and ${keys.length - 10} more` : ''} (only Name is read)`;
}

/** `cell export` / `cell import`, the parameter of the busy and cancel codes. */
export function jobLabel(kind: JobKind): string {
  return `cell ${kind}`;
}

/** Runs jobs against a job store. */
export class JobRunner {
  readonly #options: JobRunnerOptions;
  readonly #active = new Map<string, ActiveJob>();
  readonly #statuses: StatusCache;
  readonly #unrecorded = new Map<string, ImportFailure & { readonly kind: JobKind }>();

  /** @param options - the stores, limits and hooks. */
  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#statuses = new StatusCache(renewalMs(options.lease));
  }

  /**
   * What a status request shows: {@link JobRunner.state}, shared by the requests of up to one
   * renewal period (see `status-cache.ts`). Never for decisions: those read {@link JobRunner.state}.
   */
  status(cellId: string): Promise<CellJobState> {
    return this.#statuses.get(cellId, () => this.state(cellId));
  }

  /** What the store holds for the cell, after finishing a job whose lease expired. */
  async state(cellId: string): Promise<CellJobState> {
    const state = await this.#options.jobs.get(cellId);
    const running = state.running;
    // The store judges expiry by its own clock; looking a little early tolerates a clock behind it.
    if (running === undefined || running.leaseExpiresAt > Date.now() + CLOCK_SKEW_MS) return state;
    await this.#reap(running);
    return this.#options.jobs.get(cellId);
  }

  /**
   * The last failure of a job of `kind` on the cell that this instance ran but could not leave where
   * its kind shows failures (an export's `{Name}.error` on a full disk): kept in memory until the
   * next job of that kind starts on the cell, so that the status resource still shows it.
   */
  unrecordedFailure(cellId: string, kind: JobKind): ImportFailure | undefined {
    const failure = this.#unrecorded.get(cellId);
    return failure?.kind === kind ? failure : undefined;
  }

  /** The running job of the cell, if any: 409 `PR409-CM-0002` for write requests. */
  async assertIdle(cellId: string): Promise<void> {
    const { running } = await this.state(cellId);
    if (running !== undefined) throw new PersoniumError('PR409-CM-0002', [jobLabel(running.kind)]);
  }

  /** The checks before accepting a job: the cell idle (409), the global limit (503). */
  async precheck(cellId: string): Promise<void> {
    await this.assertIdle(cellId);
    if ((await this.#options.jobs.countRunning()) >= this.#options.maxRunningJobs) throw this.#limitError();
  }

  /**
   * Claims the cell and starts the prepared job in the background. Rejects with 409 `PR409-CM-0002`
   * when a job holds the cell, 503 `PR503-SV-0001` at the global limit, after discarding the job.
   * Resolves once the job is visible in the store, so a status read right after sees it.
   */
  async start(job: PreparedJob): Promise<JobRecord> {
    try {
      const record = await this.#claim(job);
      if (this.#unrecorded.get(record.cellId)?.kind === record.kind) this.#unrecorded.delete(record.cellId);
      this.#launch(record, job);
      if (job.ignoredKeys.length > 0) this.#emit(record, `ignored ${describeKeys(job.ignoredKeys)}`);
      return record;
    } catch (error) {
      await job.discard().catch(this.#options.onError);
      throw error;
    }
  }

  async #claim({ request }: PreparedJob): Promise<JobRecord> {
    const { jobs, lease, maxRunningJobs } = this.#options;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await this.#changed(request.cellId, jobs.claim(request, { leaseMs: lease.ttlMs, maxRunning: maxRunningJobs }));
      switch (result.status) {
        case 'claimed':
          return result.job;
        case 'busy':
          throw new PersoniumError('PR409-CM-0002', [jobLabel(result.job.kind)]);
        case 'expired':
          await this.#reap(result.job);
          break;
        case 'limit':
          throw this.#limitError();
      }
    }
    throw new PersoniumError('PR503-SV-0001', [], { headers: { 'Retry-After': '1' } });
  }

  /**
   * Cancels the cell's running job of that kind, on whichever instance runs it, and waits briefly
   * for it to stop. Rejects with 409 `PR409-SN-0001` when no such job runs.
   */
  async cancel(cellId: string, kind: JobKind): Promise<void> {
    const job = await this.#changed(cellId, this.#options.jobs.requestCancel(cellId, kind));
    if (job === undefined) throw new PersoniumError('PR409-SN-0001', [jobLabel(kind)]);
    const active = this.#active.get(cellId);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    if (active?.record.token === job.token) {
      active.controller.abort(new PersoniumError('PR409-SN-0002', [jobLabel(kind)]));
      await Promise.race([active.done, sleep(CANCEL_WAIT_MS)]);
      return;
    }
    while (Date.now() < deadline && (await this.#options.jobs.get(cellId)).running?.token === job.token) {
      await sleep(CANCEL_POLL_MS);
    }
  }

  /** Stops every running job (recorded as interrupted) and waits for them. */
  async close(): Promise<void> {
    const running = [...this.#active.values()];
    for (const job of running) job.controller.abort(new PersoniumError('PR500-SN-0001', [jobLabel(job.record.kind)]));
    await Promise.all(running.map((job) => job.done));
  }

  /** Awaits a transition of the cell in the store, then drops the cell's cached status. */
  async #changed<T>(cellId: string, transition: Promise<T>): Promise<T> {
    try {
      return await transition;
    } finally {
      this.#statuses.invalidate(cellId);
    }
  }

  #limitError(): PersoniumError {
    return new PersoniumError('PR503-SV-0001', [], { headers: { 'Retry-After': '10' } });
  }

  #emit(job: JobRecord, info: Parameters<typeof emitEvent>[2]): void {
    emitEvent(this.#options.events, job, info, this.#options.onError);
  }

  /**
   * Finishes a job whose worker died: as completed when its kind finds its result in place (the
   * worker died after its last step, before it could record that), else as interrupted
   * (`PR500-SN-0001`), as its kind records failures.
   */
  async #reap(job: JobRecord): Promise<void> {
    const interrupted = new PersoniumError('PR500-SN-0001', [jobLabel(job.kind)]).toJSON();
    const kind = this.#options.kinds[job.kind];
    let completed = false;
    try {
      completed = (await kind.completedBeforeStop?.(job)) === true;
    } catch (error) {
      this.#options.onError(error); // cannot tell: the job is recorded as interrupted
    }
    const failure = completed ? undefined : kind.storedFailure(interrupted);
    const won = await this.#changed(job.cellId, this.#options.jobs.reap(job.cellId, job.token, failure));
    if (!won) return;
    if (completed) {
      this.#emit(job, 'completed');
      return;
    }
    await this.#leaveFailure(job, interrupted);
    this.#emit(job, 'interrupted');
  }

  /**
   * Leaves the failure where the job's kind shows it; when that fails (the `.error` file on a full
   * disk), reports why, keeps the failure for {@link unrecordedFailure} and resolves to the reason.
   */
  async #leaveFailure(job: JobRecord, body: ErrorBody, progress = job.progress): Promise<unknown> {
    try {
      await this.#options.kinds[job.kind].leaveFailure(job, body);
      return undefined;
    } catch (error) {
      this.#options.onError(error);
      if (this.#unrecorded.size >= MAX_UNRECORDED) this.#unrecorded.delete(this.#unrecorded.keys().next().value ?? '');
      this.#unrecorded.set(job.cellId, { kind: job.kind, name: job.name, startedAt: job.startedAt, progress, error: body });
      return error;
    }
  }

  #launch(record: JobRecord, job: PreparedJob): void {
    const { jobs, lease } = this.#options;
    const controller = new AbortController();
    let percent = record.progress;
    let renewing: Promise<void> = Promise.resolve();

    // Renewed every second: publishes progress, extends the lease, and hears cancel requests made on
    // any instance.
    const renew = (): Promise<void> => {
      renewing = renewing.then(async () => {
        if (controller.signal.aborted) return;
        let renewed: JobRecord | undefined | 'unknown';
        try {
          renewed = await this.#changed(record.cellId, jobs.renew(record.cellId, record.token, percent, lease.ttlMs));
        } catch (error) {
          this.#options.onError(error);
          renewed = 'unknown'; // a store hiccup is not a lost lease; the next renewal decides
        }
        if (renewed === undefined) controller.abort(new PersoniumError('PR500-SN-0001', [jobLabel(record.kind)]));
        else if (renewed !== 'unknown' && renewed.cancelRequested) {
          controller.abort(new PersoniumError('PR409-SN-0002', [jobLabel(record.kind)]));
        }
      });
      return renewing;
    };
    const timer = setInterval(() => void renew(), renewalMs(lease));
    timer.unref();

    const handle: JobHandle = {
      record,
      signal: controller.signal,
      setProgress: (value) => {
        if (value > percent) percent = runningPercent(value);
      },
      confirmLease: async () => {
        await renew();
        controller.signal.throwIfAborted();
      },
    };

    const done = (async () => {
      this.#emit(record, 'accepted');
      try {
        await job.run(handle);
        controller.signal.throwIfAborted();
        clearInterval(timer);
        await renewing;
        if (await this.#changed(record.cellId, jobs.finish(record.cellId, record.token))) this.#emit(record, 'completed');
      } catch (caught) {
        clearInterval(timer);
        await renewing;
        await this.#fail(record, controller.signal.aborted ? controller.signal.reason : caught, percent);
      }
    })()
      .catch((error: unknown) => this.#options.onError(error))
      .finally(() => {
        clearInterval(timer);
        this.#active.delete(record.cellId);
      });
    this.#active.set(record.cellId, { record, controller, done });
  }

  async #fail(record: JobRecord, reason: unknown, progress: number): Promise<void> {
    if (!isPersoniumError(reason) || isStorageFault(reason)) this.#options.onError(reason);
    const body = errorBody(reason);
    const cancelled = body.code === 'PR409-SN-0002';
    let notRecorded = await this.#leaveFailure(record, body, progress);
    let ended: boolean;
    try {
      const failure = this.#options.kinds[record.kind].storedFailure(body);
      ended = await this.#changed(record.cellId, this.#options.jobs.finish(record.cellId, record.token, failure));
    } catch (error) {
      // The job store could not record the end (itself on a full disk): its lease will expire and the
      // job be reaped; the event log still gets the real failure.
      this.#options.onError(error);
      notRecorded ??= error;
      ended = true;
    }
    if (ended) {
      this.#emit(record, cancelled ? 'cancelled' : body.code === 'PR500-SN-0001' ? 'interrupted' : failedInfo(body, reason, notRecorded));
    }
  }
}

/**
 * `failed {code}`, with the low-level cause of a storage fault for the operator, and why the failure
 * could not be recorded (where its kind shows it, or in the job store): `failed PR507-SN-0001 (ENOSPC: no space left on device,
 * write); not recorded: PR507-SN-0001 (…)`.
 */
function failedInfo(body: ErrorBody, reason: unknown, notRecorded: unknown): `failed ${string}` {
  let detail = `${body.code}${describeCause(reason)}`;
  if (notRecorded !== undefined) {
    const why = isPersoniumError(notRecorded) ? notRecorded.code : 'PR500-SV-0000';
    detail += `; not recorded: ${why}${describeCause(notRecorded)}`;
  }
  return `failed ${detail}`;
}

/** ` (cause)` for a storage fault, whose low-level cause the operator needs; `''` otherwise. */
function describeCause(error: unknown): string {
  const cause = isStorageFault(error) ? causeText(error) : undefined;
  return cause === undefined ? '' : ` (${cause})`;
}
