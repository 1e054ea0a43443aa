/**
 * Following a job through its status resource (`__export` or `__import`) until it ends, at the pace
 * the server asks for with `Retry-After`, and riding out a server that is briefly unreachable.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type CellClient, retryAfterOf } from './remote.js';

/** A job's status as Personium answers it. */
export interface JobStatus {
  /** `ready`, `exportation in progress`, `importation in progress` or `import failed`. */
  readonly status: string;
  /** `42%` while running. */
  readonly progress?: string;
  /** When the job started (ISO 8601). */
  readonly started_at?: string;
  /** The snapshot a running export writes. */
  readonly exportation_name?: string;
  /** The snapshot a running or failed import reads. */
  readonly importation_name?: string;
  /** Why an import failed. */
  readonly message?: { readonly code?: string; readonly message?: { readonly value?: string } };
}

/** Options of {@link pollJob}. */
export interface PollOptions {
  /** Whether the job is known to have started (the 202 said it is in progress). */
  readonly started: boolean;
  /** Called with the percentage of each status that shows the job running. */
  readonly onProgress: (percent: number) => void;
  /**
   * Whether the job already ended, asked when the status says no job runs and none was seen running
   * (Personium answers `ready` until the job starts): true ends the polling at once.
   */
  readonly ended?: () => Promise<boolean>;
  /** Called when the server could not be reached and the poll will be retried. */
  readonly onRetry: (message: string) => void;
  /** Stops polling (rejects with its reason). */
  readonly signal: AbortSignal;
}

/** Poll interval when the server sends no `Retry-After` (Personium does not), in seconds. */
const DEFAULT_INTERVAL_S = 1;
/** The longest wait between polls, whatever `Retry-After` says, in seconds. */
const MAX_INTERVAL_S = 30;
/** How long a `ready` is taken for "not started yet" when the job was never seen running, in polls. */
const START_GRACE_POLLS = 3;
/** How many times in a row an unreachable server is retried before giving up. */
const MAX_UNREACHABLE = 8;

/** Whether a status says a job is running. */
export function isRunning(status: JobStatus): boolean {
  return status.status.endsWith(' in progress');
}

/** The percentage of a running job's `progress` (`81%` → 81), 0 when absent. */
export function percentOf(status: JobStatus): number {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(status.progress ?? '');
  return match?.[1] === undefined ? 0 : Math.min(100, Number(match[1]));
}

/** Polls the job's status until it is no longer running; resolves with the final status. */
export async function pollJob(client: CellClient, kind: 'export' | 'import', options: PollOptions): Promise<JobStatus> {
  let started = options.started;
  let grace = START_GRACE_POLLS;
  let unreachable = 0;
  for (;;) {
    let wait = DEFAULT_INTERVAL_S;
    try {
      const { body, response } = await client.json<JobStatus>('GET', `__${kind}`, [200], { signal: options.signal });
      unreachable = 0;
      if (isRunning(body)) {
        started = true;
        options.onProgress(percentOf(body));
        wait = Math.min(MAX_INTERVAL_S, Math.max(1, retryAfterOf(response) ?? DEFAULT_INTERVAL_S));
      } else if (started || grace <= 0 || (options.ended !== undefined && (await options.ended()))) {
        return body;
      } else {
        grace -= 1;
      }
    } catch (error) {
      if (options.signal.aborted || (error as { retryable?: boolean }).retryable !== true) throw error;
      unreachable += 1;
      if (unreachable > MAX_UNREACHABLE) throw error;
      wait = Math.min(MAX_INTERVAL_S, 2 ** unreachable);
      options.onRetry(`${error instanceof Error ? error.message : String(error)}; retrying in ${wait}s`);
    }
    await sleep(wait * 1000, undefined, { signal: options.signal });
  }
}
