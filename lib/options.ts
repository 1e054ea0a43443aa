/**
 * Options: `resolveOptions` whitelists keys, fills defaults (the limits' from `limits.ts`) and
 * validates eagerly, throwing a `TypeError` that names the offending option.
 */
import type { Context } from 'koa';
import type {
  AuthVerifier,
  CellDataSource,
  CellSnapshotOptions,
  EventLogger,
  JobStore,
  LeaseOptions,
  SnapshotStore,
} from './types.js';
import { DEFAULT_LIMITS, type ResolvedLimits } from './limits.js';
import { isJsonObject as isObject } from './util/json.js';
import { PACKAGE_VERSION } from './version.js';

export { DEFAULT_LIMITS, type ResolvedLimits } from './limits.js';

/** Lease timing, filled. */
export type ResolvedLease = { readonly [K in keyof LeaseOptions]-?: number };

/** Options after defaults and validation (see {@link CellSnapshotOptions} for each member). */
export interface ResolvedOptions {
  /** `'path'` or the unit host of host mode, lower-cased. */
  readonly cellUrl: 'path' | { readonly host: string };
  /** The cell data source. */
  readonly cells: CellDataSource;
  /** The snapshot store. */
  readonly snapshots: SnapshotStore;
  /** The auth verifier. */
  readonly auth: AuthVerifier;
  /** The job store, when the host gave one (the router then defaults to a MemoryJobStore). */
  readonly jobs: JobStore | undefined;
  /** The event logger, if any. */
  readonly events: EventLogger | undefined;
  /** The path prefix without a trailing slash, `''` for none. */
  readonly prefix: string;
  /** The `X-Personium-Version` value. */
  readonly version: string;
  /** The CORS style. */
  readonly cors: 'any' | 'echo';
  /** The manifests' `unit_url`, or `undefined` to take it from the request. */
  readonly unitUrl: string | undefined;
  /** Every limit. */
  readonly limits: ResolvedLimits;
  /** Lease timing. */
  readonly lease: ResolvedLease;
  /** The hook for unexpected errors. */
  readonly onError: (error: unknown, ctx?: Context) => void;
}


/** The default lease timing. */
export const DEFAULT_LEASE: ResolvedLease = Object.freeze({ ttlMs: 30_000, renewMs: 10_000 });

const TOP_KEYS = [
  'cellUrl',
  'cells',
  'snapshots',
  'auth',
  'jobs',
  'events',
  'prefix',
  'version',
  'cors',
  'unitUrl',
  'limits',
  'lease',
  'onError',
] as const satisfies readonly (keyof CellSnapshotOptions)[];

function fail(message: string): never {
  throw new TypeError(`koa-cell-snapshot: ${message}`);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`unknown option ${where}${key}`);
  }
}

function requireMethods(value: unknown, name: string, methods: readonly string[]): void {
  if (!isObject(value) && typeof value !== 'function') fail(`option ${name} must be an object`);
  const record = value as Record<string, unknown>;
  for (const method of methods) {
    if (typeof record[method] !== 'function') fail(`option ${name} must have a method ${method}()`);
  }
}

function positive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    fail(`option ${name} must be a positive integer`);
  }
  return value;
}

function fill<T extends Readonly<Record<string, number>>>(input: unknown, defaults: T, name: string): T {
  if (input === undefined) return defaults;
  if (!isObject(input)) fail(`option ${name} must be an object`);
  checkKeys(input, Object.keys(defaults), `${name}.`);
  const out: Record<string, number> = { ...defaults };
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) out[key] = positive(value, `${name}.${key}`);
  }
  return Object.freeze(out) as T;
}

function normalisePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  if (typeof prefix !== 'string' || !/^\/[^?#]*$/.test(prefix)) fail('option prefix must be a path starting with /');
  return prefix.replace(/\/+$/, '');
}

/** Validates options and fills every default. Throws a `TypeError` naming the offending option. */
export function resolveOptions(input: CellSnapshotOptions): ResolvedOptions {
  if (!isObject(input)) fail('options must be an object');
  checkKeys(input, TOP_KEYS, '');

  const { cellUrl } = input;
  if (cellUrl !== 'path') {
    if (!isObject(cellUrl) || typeof cellUrl.host !== 'string' || !/^[a-z0-9.-]+$/i.test(cellUrl.host)) {
      fail("option cellUrl must be 'path' or { host: 'unit.example' }");
    }
    checkKeys(cellUrl, ['host'], 'cellUrl.');
  }
  requireMethods(input.cells, 'cells', ['getCell', 'openExport', 'beginImport']);
  requireMethods(input.snapshots, 'snapshots', ['list', 'stat', 'read', 'write', 'delete']);
  requireMethods(input.auth, 'auth', ['verify']);
  if (input.jobs !== undefined) {
    requireMethods(input.jobs, 'jobs', ['claim', 'renew', 'finish', 'reap', 'get', 'countRunning']);
  }
  if (input.events !== undefined) requireMethods(input.events, 'events', ['log']);
  if (input.version !== undefined && (typeof input.version !== 'string' || !/^[\x21-\x7e ]*$/.test(input.version))) {
    fail('option version must be a printable ASCII string');
  }
  if (input.cors !== undefined && input.cors !== 'any' && input.cors !== 'echo') {
    fail("option cors must be 'any' or 'echo'");
  }
  if (input.unitUrl !== undefined && (typeof input.unitUrl !== 'string' || !/^https?:\/\/[^/]+\/$/.test(input.unitUrl))) {
    fail("option unitUrl must be an origin ending in '/', e.g. 'https://unit.example/'");
  }
  if (input.onError !== undefined && typeof input.onError !== 'function') fail('option onError must be a function');

  const lease = fill(input.lease, DEFAULT_LEASE, 'lease');
  if (lease.renewMs >= lease.ttlMs) fail('option lease.renewMs must be less than lease.ttlMs');

  return Object.freeze({
    cellUrl: cellUrl === 'path' ? 'path' : Object.freeze({ host: cellUrl.host.toLowerCase() }),
    cells: input.cells,
    snapshots: input.snapshots,
    auth: input.auth,
    jobs: input.jobs,
    events: input.events,
    prefix: normalisePrefix(input.prefix),
    version: input.version ?? PACKAGE_VERSION,
    cors: input.cors ?? 'any',
    unitUrl: input.unitUrl,
    limits: fill(input.limits, DEFAULT_LIMITS, 'limits'),
    lease,
    onError: input.onError ?? ((error: unknown) => console.error('koa-cell-snapshot:', error)),
  });
}
