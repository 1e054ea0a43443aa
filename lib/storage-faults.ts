/**
 * Faults of the machine a store runs on (a full disk, a read-only or missing store, a server out of
 * memory) as catalogue errors: the one place that turns a low-level error into one of the storage
 * codes of `errors.ts`. Every adapter classifies its own errors here, at its boundary: the file-system
 * stores by `errno` ({@link systemFaultKind}); another adapter passes its own rule (an S3 store would
 * map `EntityTooLarge` or a quota answer to `'full'`, `AccessDenied` to `'not-writable'`).
 *
 * The message names the kind of fault and the store, never a path or the system message; the cause
 * (with its path) stays on the error for the host's `onError` hook and the event log.
 */
import { type ErrorCode, PersoniumError, isPersoniumError } from './errors.js';

/** The kinds of storage fault, each with its own code. */
export type StorageFaultKind = 'full' | 'not-writable' | 'missing' | 'out-of-memory';

/** The store a fault happened in, as its message names it. */
export type StoreRole = 'snapshot area' | 'cell data' | 'job store';

/** The code of each kind (see `docs/protocol.md`, Storage faults). */
export const STORAGE_FAULT_CODES = {
  full: 'PR507-SN-0001',
  'not-writable': 'PR503-SN-0001',
  missing: 'PR503-SN-0002',
  'out-of-memory': 'PR503-SN-0003',
} as const satisfies Record<StorageFaultKind, ErrorCode>;

/** Turns an error of some store into a fault kind, or `undefined` when it is not a storage fault. */
export type FaultRule = (error: unknown) => StorageFaultKind | undefined;

/** `errno` codes of a full disk or an exhausted quota. */
const FULL = new Set(['ENOSPC', 'EDQUOT']);
/** `errno` codes of a store that may not be written. */
const NOT_WRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

/** The `code` of a Node.js system error, if it has one. */
function systemCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/**
 * The rule of the file-system stores: `ENOSPC`, `EDQUOT` are `'full'`; `EROFS`, `EACCES`, `EPERM`
 * are `'not-writable'`. (A missing root is judged by the store itself, which knows its root.)
 */
export const systemFaultKind: FaultRule = (error) => {
  const code = systemCode(error);
  if (code === undefined) return undefined;
  if (FULL.has(code)) return 'full';
  if (NOT_WRITABLE.has(code)) return 'not-writable';
  return undefined;
};

/** The catalogue error of a storage fault of `kind` in `store`, keeping `cause` for the operator. */
export function storageFault(kind: StorageFaultKind, store: StoreRole, cause?: unknown): PersoniumError {
  return new PersoniumError(STORAGE_FAULT_CODES[kind], [store], cause === undefined ? {} : { cause });
}

/**
 * `error` as the store's storage fault when `rule` recognises it; anything else (a catalogue error
 * already, an abort, a bug) is returned as it is.
 */
export function classifyStorageError(error: unknown, store: StoreRole, rule: FaultRule = systemFaultKind): unknown {
  if (isPersoniumError(error)) return error;
  const kind = rule(error);
  return kind === undefined ? error : storageFault(kind, store, error);
}

/** Runs `fn`, rejecting with {@link classifyStorageError} of whatever it rejects with. */
export async function classifying<T>(store: StoreRole, fn: () => Promise<T>, rule: FaultRule = systemFaultKind): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw classifyStorageError(error, store, rule);
  }
}

/** Whether `error` is the catalogue error of a storage fault (of any kind). */
export function isStorageFault(error: unknown): error is PersoniumError {
  return isPersoniumError(error) && (Object.values(STORAGE_FAULT_CODES) as string[]).includes(error.code);
}
