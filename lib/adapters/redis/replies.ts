/**
 * Reads the replies of the `RedisJobStore` scripts (see `scripts.ts`) into job contract values,
 * checking every field: a reply of another shape (keys written by something else) is an error, never
 * a half-read record.
 */
import type { ErrorBody } from '../../errors.js';
import type { CellJobState, ClaimResult, ImportFailure, JobKind, JobRecord } from '../../types.js';

/** A reply of a shape the scripts never produce. */
export class RedisReplyError extends Error {
  /** @param what - what was wrong. */
  constructor(what: string) {
    super(`RedisJobStore: unexpected reply from Redis: ${what}`);
    this.name = 'RedisReplyError';
  }
}

/** A bulk string as a JS string (a client may map bulk strings to Buffers). */
function text(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  throw new RedisReplyError(`${what} is not a string`);
}

function list(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new RedisReplyError(`${what} is not an array`);
  return value;
}

/** A flat `HGETALL` reply (`field, value, field, value…`) as a map. */
function hash(value: unknown, what: string): Map<string, string> {
  const items = list(value, what);
  if (items.length % 2 !== 0) throw new RedisReplyError(`${what} has an odd length`);
  const fields = new Map<string, string>();
  for (let i = 0; i < items.length; i += 2) fields.set(text(items[i], `${what} field`), text(items[i + 1], `${what} value`));
  return fields;
}

function field(fields: Map<string, string>, name: string, what: string): string {
  const value = fields.get(name);
  if (value === undefined) throw new RedisReplyError(`${what} lacks ${name}`);
  return value;
}

function integer(fields: Map<string, string>, name: string, what: string): number {
  const raw = field(fields, name, what);
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new RedisReplyError(`${what}.${name} is not an integer`);
  return value;
}

function json(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new RedisReplyError(`${what} is not JSON`);
  }
}

function isKind(value: string): value is JobKind {
  return value === 'export' || value === 'import';
}

function errorBodyOf(value: unknown, what: string): ErrorBody {
  if (typeof value === 'object' && value !== null) {
    const body = value as Record<string, unknown>;
    const message = body['message'];
    if (typeof body['code'] === 'string' && typeof message === 'object' && message !== null) {
      const m = message as Record<string, unknown>;
      if (m['lang'] === 'en' && typeof m['value'] === 'string') return { code: body['code'], message: { lang: 'en', value: m['value'] } };
    }
  }
  throw new RedisReplyError(`${what} is not an error body`);
}

/** A job hash read by `HGETALL`. */
export function parseJob(value: unknown): JobRecord {
  const what = 'job';
  const fields = hash(value, what);
  const kind = field(fields, 'kind', what);
  if (!isKind(kind)) throw new RedisReplyError(`job.kind is ${JSON.stringify(kind)}`);
  const subject = json(field(fields, 'subject', what), 'job.subject');
  if (subject !== null && typeof subject !== 'string') throw new RedisReplyError('job.subject is not a string or null');
  const cancel = field(fields, 'cancelRequested', what);
  if (cancel !== '0' && cancel !== '1') throw new RedisReplyError('job.cancelRequested is not 0 or 1');
  return {
    cellId: field(fields, 'cellId', what),
    kind,
    name: field(fields, 'name', what),
    requestKey: field(fields, 'requestKey', what),
    subject,
    token: field(fields, 'token', what),
    startedAt: field(fields, 'startedAt', what),
    progress: integer(fields, 'progress', what),
    leaseExpiresAt: integer(fields, 'leaseExpiresAt', what),
    cancelRequested: cancel === '1',
  };
}

/** A failure hash read by `HGETALL`, or `undefined` when it was empty (absent). */
function parseFailure(value: unknown): ImportFailure | undefined {
  const what = 'importFailure';
  const fields = hash(value, what);
  if (fields.size === 0) return undefined;
  return {
    name: field(fields, 'name', what),
    startedAt: field(fields, 'startedAt', what),
    progress: integer(fields, 'progress', what),
    error: errorBodyOf(json(field(fields, 'error', what), 'importFailure.error'), 'importFailure.error'),
  };
}

/** The reply of the claim script. */
export function parseClaim(value: unknown): ClaimResult {
  const items = list(value, 'claim');
  const status = text(items[0], 'claim status');
  if (status === 'limit' && items.length === 1) return { status };
  if ((status === 'claimed' || status === 'busy' || status === 'expired') && items.length === 2) {
    return { status, job: parseJob(items[1]) };
  }
  throw new RedisReplyError(`claim answered ${JSON.stringify(status)}`);
}

/** The reply of the renew and cancel scripts: a job, or null. */
export function parseOptionalJob(value: unknown): JobRecord | undefined {
  return value === null || value === undefined ? undefined : parseJob(value);
}

/** The reply of the get script. */
export function parseState(value: unknown): CellJobState {
  const items = list(value, 'get');
  if (items.length !== 2) throw new RedisReplyError('get answered other than two hashes');
  const running = hash(items[0], 'job').size === 0 ? undefined : parseJob(items[0]);
  const importFailure = parseFailure(items[1]);
  return {
    ...(running === undefined ? {} : { running }),
    ...(importFailure === undefined ? {} : { importFailure }),
  };
}

/** An integer reply (the end and count scripts). */
export function parseCount(value: unknown, what: string): number {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' || typeof value === 'bigint' ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new RedisReplyError(`${what} is not a count`);
  return n;
}
