/**
 * The little of a Redis client that `RedisJobStore` uses, and how it runs a script: `EVALSHA` with
 * the SHA computed here, `EVAL` when the server answers `NOSCRIPT` (after a restart or a failover
 * its script cache is empty; `EVAL` both runs the script and caches it on the node that ran it, which
 * is what node-redis's own `defineScript` does too), all within a deadline.
 *
 * Only types come from `redis`, so the package never loads it: the host passes its own client.
 */
import type { RedisScript } from './scripts.js';

/** The keys and arguments of a script call, as node-redis's `eval` / `evalSha` take them. */
export interface RedisEvalOptions {
  /** The keys the script touches (all in one cluster slot). */
  keys: string[];
  /** The other arguments. */
  arguments: string[];
}

/** The per-command options the store sets through `withCommandOptions`. */
export interface RedisCommandOptionsLike {
  /** Drops the command from the client's offline queue once aborted. */
  abortSignal?: AbortSignal;
}

/**
 * What `RedisJobStore` needs of a client: the results of node-redis's `createClient()` and
 * `createCluster()` (v5, v6) fit it as they are, connected by the host.
 */
export interface RedisClientLike {
  /** Runs a cached script by SHA-1; rejects with a `NOSCRIPT` error when the server lacks it. */
  evalSha(sha1: string, options: RedisEvalOptions): Promise<unknown>;
  /** Runs a script by source (and caches it on the server). */
  eval(script: string, options: RedisEvalOptions): Promise<unknown>;
  /**
   * A view of the client whose commands use these options. When present, the store passes an abort
   * signal that removes a command still waiting in the offline queue at its deadline, so a command
   * the store already reported as failed is never sent later, after a reconnect.
   */
  withCommandOptions?(options: RedisCommandOptionsLike): RedisClientLike;
}

/** Whether a value looks like a {@link RedisClientLike}. */
export function isRedisClientLike(value: unknown): value is RedisClientLike {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  return typeof client['evalSha'] === 'function' && typeof client['eval'] === 'function';
}

/** Whether a Redis error is the server's `NOSCRIPT` answer. */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** The error a call fails with when the server did not answer in time. */
export class RedisDeadlineError extends Error {
  /**
   * @param script - the script's name.
   * @param ms - the deadline.
   */
  constructor(script: string, ms: number) {
    super(`Redis did not answer the ${script} script within ${ms} ms`);
    this.name = 'RedisDeadlineError';
  }
}

/** Settles like `promise`, or rejects with `error()` once `signal` aborts, whichever comes first. */
function settleBefore<T>(promise: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(error());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (reason: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(reason);
      },
    );
  });
}

/**
 * Runs `script` with `keys` and `args`, resolving to the server's reply. Rejects with the client's
 * error, or a {@link RedisDeadlineError} when no reply came within `timeoutMs` (the command is then
 * dropped from the offline queue if it was still there; one already sent may still run). Keeps no
 * state between calls, so a client that reconnected just works.
 */
export function runScript(
  client: RedisClientLike,
  script: RedisScript,
  keys: string[],
  args: string[],
  timeoutMs: number,
): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs);
  const call = async (): Promise<unknown> => {
    const target = client.withCommandOptions?.({ abortSignal: signal }) ?? client;
    const options: RedisEvalOptions = { keys, arguments: args };
    try {
      return await target.evalSha(script.sha, options);
    } catch (error) {
      if (!isNoScript(error)) throw error;
    }
    return target.eval(script.source, options);
  };
  return settleBefore(call(), signal, () => new RedisDeadlineError(script.name, timeoutMs));
}
