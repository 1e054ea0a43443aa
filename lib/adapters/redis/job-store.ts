/**
 * `RedisJobStore`: a {@link JobStore} on a Redis server shared by every instance of the host.
 *
 * Every transition is one Lua script (see `scripts.ts`) run atomically on the server and judged by
 * the server's clock, so instances with skewed clocks agree. Keys, under `prefix` (default `kcs:`),
 * all carry the hash tag `{jobs}` so that each script's keys share one cluster slot:
 *
 * - `{prefix}{jobs}:job:{cellId}`: hash, the job holding the cell (live or expired), with a safety-net
 *   TTL of the lease plus {@link JOB_KEY_GRACE_MS};
 * - `{prefix}{jobs}:failure:{cellId}`: hash, the cell's import failure, without expiry;
 * - `{prefix}{jobs}:live`: sorted set of cell ids by `leaseExpiresAt`, for the global count.
 */
import { randomUUID } from 'node:crypto';
import { type ErrorBody, PersoniumError } from '../../errors.js';
import type { CellJobState, ClaimOptions, ClaimResult, JobKind, JobRecord, JobRequest, JobStore } from '../../types.js';
import { type FaultRule, storageFault } from '../../storage-faults.js';
import { type EndWhen, assertClaimOptions, assertLeaseMs, runningPercent } from '../../jobs/transitions.js';
import { type RedisClientLike, isRedisClientLike, runScript } from './client.js';
import { parseClaim, parseCount, parseOptionalJob, parseState } from './replies.js';
import { CANCEL, CLAIM, COUNT, END, GET, RENEW, type RedisScript } from './scripts.js';

/**
 * How long past its lease a job's key lives before Redis drops it (7 days). Only a safety net for
 * cells nobody looks at again: an expired job is reaped (and an import recorded as failed) by the
 * next status read or job start on its cell, which judges by `leaseExpiresAt`, not by the TTL.
 */
export const JOB_KEY_GRACE_MS = 7 * 24 * 3_600_000;

/** The default of {@link RedisJobStoreOptions.commandTimeoutMs}. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** The default of {@link RedisJobStoreOptions.prefix}. */
export const DEFAULT_REDIS_PREFIX = 'kcs:';

/** Options of {@link RedisJobStore}. */
export interface RedisJobStoreOptions {
  /**
   * A node-redis client (`createClient()`) or cluster (`createCluster()`), v5 or v6, already
   * connected by the host, which also owns its lifecycle and must listen to its `error` event. The
   * store never opens or closes connections.
   */
  readonly client: RedisClientLike;
  /**
   * Prepended to every key, to share one Redis between deployments. Default `kcs:`. Every instance
   * of one deployment must use the same prefix.
   */
  readonly prefix?: string;
  /**
   * How long a call waits for Redis before rejecting with 503 `PR503-SV-0003`, in ms. Default 2,000.
   */
  readonly commandTimeoutMs?: number;
}

/**
 * The storage faults of Redis: its `OOM command not allowed when used memory > 'maxmemory'` answer
 * (a script is refused at its first write, so nothing was changed) is `'out-of-memory'`.
 */
export const redisFaultKind: FaultRule = (error) =>
  error instanceof Error && error.message.startsWith('OOM ') ? 'out-of-memory' : undefined;

/** The script argument meaning "no global limit". */
const NO_LIMIT = '-1';

/**
 * A {@link JobStore} on Redis (5 or later), for hosts that run several instances.
 *
 * - **Atomicity**: each method is one Lua script, so two instances racing to claim a cell cannot
 *   both win, the global count of a claim is exact, and exactly one reaper wins.
 * - **Clock**: every lease is set and judged by the server's `TIME`; `startedAt` and
 *   `leaseExpiresAt` are the server's time. Instances' own clocks do not matter.
 * - **Tokens**: a `crypto.randomUUID()` made per claim call and stored by the script only when the
 *   claim wins: unique and unguessable, with no extra key (a fencing counter would add one).
 * - **Scripts**: run by `EVALSHA`; on `NOSCRIPT` (a restarted or failed-over server) by `EVAL`, which
 *   caches them again. Nothing is cached on this side but the SHA-1s.
 * - **Unavailable Redis**: any client error, error reply or a call without an answer within
 *   `commandTimeoutMs` rejects with `PersoniumError('PR503-SV-0003')` (cause attached), a Redis
 *   out of memory (`maxmemory` reached, `OOM command not allowed`) with `PR503-SN-0003`, which the
 *   router answers as 503; the job runner treats a failed renewal as unknown and tries again. A call
 *   still in the client's offline queue at its deadline is dropped, never sent after a reconnect.
 *   When the client reconnects, everything works again.
 * - **Durability**: job state lives as long as Redis keeps it. Without persistence, a Redis restart
 *   forgets running jobs: their holders learn it at their next renewal and stop as interrupted.
 *   Enable AOF where that matters.
 * - Lease lengths are rounded up to whole ms.
 */
export class RedisJobStore implements JobStore {
  /** The key prefix. */
  readonly prefix: string;
  readonly #client: RedisClientLike;
  readonly #timeoutMs: number;
  readonly #liveKey: string;

  /** @param options - the client, key prefix and command timeout. */
  constructor(options: RedisJobStoreOptions) {
    if (!isRedisClientLike(options.client)) {
      throw new TypeError('RedisJobStore: `client` must be a node-redis client (with `evalSha` and `eval`)');
    }
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (typeof prefix !== 'string') throw new TypeError('RedisJobStore: `prefix` must be a string');
    const timeout = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 2 ** 31 - 1) {
      throw new RangeError(`RedisJobStore: \`commandTimeoutMs\` must be a positive number of ms, got ${String(timeout)}`);
    }
    this.prefix = prefix;
    this.#client = options.client;
    this.#timeoutMs = timeout;
    this.#liveKey = `${prefix}{jobs}:live`;
  }

  #jobKey(cellId: string): string {
    return `${this.prefix}{jobs}:job:${cellId}`;
  }

  #failureKey(cellId: string): string {
    return `${this.prefix}{jobs}:failure:${cellId}`;
  }

  async #run(script: RedisScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await runScript(this.#client, script, keys, args, this.#timeoutMs);
    } catch (cause) {
      if (redisFaultKind(cause) === 'out-of-memory') throw storageFault('out-of-memory', 'job store', cause);
      throw new PersoniumError('PR503-SV-0003', [], { cause });
    }
  }

  /** {@inheritDoc JobStore.claim} */
  async claim(request: JobRequest, options: ClaimOptions): Promise<ClaimResult> {
    assertClaimOptions(options);
    const leaseMs = Math.ceil(options.leaseMs);
    const reply = await this.#run(
      CLAIM,
      [this.#jobKey(request.cellId), this.#failureKey(request.cellId), this.#liveKey],
      [
        request.cellId,
        request.kind,
        request.name,
        request.requestKey,
        JSON.stringify(request.subject ?? null),
        randomUUID(),
        String(leaseMs),
        Number.isFinite(options.maxRunning) ? String(options.maxRunning) : NO_LIMIT,
        String(leaseMs + JOB_KEY_GRACE_MS),
      ],
    );
    return parseClaim(reply);
  }

  /** {@inheritDoc JobStore.renew} */
  async renew(cellId: string, token: string, progress: number, leaseMs: number): Promise<JobRecord | undefined> {
    assertLeaseMs(leaseMs);
    const lease = Math.ceil(leaseMs);
    const offered = Number.isFinite(progress) ? String(runningPercent(progress)) : '';
    const reply = await this.#run(
      RENEW,
      [this.#jobKey(cellId), this.#liveKey],
      [cellId, token, offered, String(lease), String(lease + JOB_KEY_GRACE_MS)],
    );
    return parseOptionalJob(reply);
  }

  /** {@inheritDoc JobStore.requestCancel} */
  async requestCancel(cellId: string, kind: JobKind): Promise<JobRecord | undefined> {
    return parseOptionalJob(await this.#run(CANCEL, [this.#jobKey(cellId)], [kind]));
  }

  /** {@inheritDoc JobStore.finish} */
  async finish(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    return this.#end(cellId, token, failure, 'live');
  }

  /** {@inheritDoc JobStore.reap} */
  async reap(cellId: string, token: string, failure?: ErrorBody): Promise<boolean> {
    return this.#end(cellId, token, failure, 'expired');
  }

  async #end(cellId: string, token: string, failure: ErrorBody | undefined, when: EndWhen): Promise<boolean> {
    const error =
      failure === undefined
        ? ''
        : JSON.stringify({ code: failure.code, message: { lang: failure.message.lang, value: failure.message.value } });
    const reply = await this.#run(
      END,
      [this.#jobKey(cellId), this.#failureKey(cellId), this.#liveKey],
      [cellId, token, when, error],
    );
    return parseCount(reply, 'end') === 1;
  }

  /** {@inheritDoc JobStore.get} */
  async get(cellId: string): Promise<CellJobState> {
    return parseState(await this.#run(GET, [this.#jobKey(cellId), this.#failureKey(cellId)], []));
  }

  /** {@inheritDoc JobStore.countRunning} */
  async countRunning(): Promise<number> {
    return parseCount(await this.#run(COUNT, [this.#liveKey], []), 'countRunning');
  }
}
