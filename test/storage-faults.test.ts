import test from 'ava';
import { redisFaultKind } from '../lib/adapters/redis/job-store.js';
import { type ErrorCode, PersoniumError } from '../lib/errors.js';
import {
  STORAGE_FAULT_CODES,
  classifyStorageError,
  classifying,
  isStorageFault,
  storageFault,
  systemFaultKind,
} from '../lib/storage-faults.js';

/** A Node.js system error as `fs` makes it, path included. */
function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, open '/srv/data/snapshots/secret-cell/.upload-1'`), {
    code,
    path: '/srv/data/snapshots/secret-cell/.upload-1',
  });
}

test('errno codes: ENOSPC and EDQUOT are a full store (507), EROFS, EACCES, EPERM one not writable (503)', (t) => {
  const expected: Record<string, [ErrorCode, number]> = {
    ENOSPC: ['PR507-SN-0001', 507],
    EDQUOT: ['PR507-SN-0001', 507],
    EROFS: ['PR503-SN-0001', 503],
    EACCES: ['PR503-SN-0001', 503],
    EPERM: ['PR503-SN-0001', 503],
  };
  for (const [code, [personium, status]] of Object.entries(expected)) {
    const cause = systemError(code);
    const error = classifyStorageError(cause, 'snapshot area');
    if (!(error instanceof PersoniumError)) return t.fail(code);
    t.is(error.code, personium, code);
    t.is(error.status, status, code);
    t.is(error.cause, cause, `${code}: the cause is kept for the operator`);
    t.false(error.expose, `${code}: a 5xx never shows more than its catalogue message`);
    t.false(error.message.includes('/'), `${code}: no path in ${error.message}`);
    t.true(error.message.includes('[snapshot area]'), `${code}: the message names the store`);
    t.true(isStorageFault(error));
  }
});

test('anything else passes through unchanged: other errno codes, aborts, catalogue errors, non-errors', (t) => {
  const others = [
    systemError('ENOENT'),
    systemError('EIO'),
    new DOMException('aborted', 'AbortError'),
    new PersoniumError('PR412-DV-0001'),
    new Error('a bug'),
    'a string',
    undefined,
  ];
  for (const error of others) t.is(classifyStorageError(error, 'job store'), error);
  t.false(isStorageFault(new PersoniumError('PR503-SV-0003')));
});

test('classifying() rejects with the classified error; another rule plugs in (as an S3 store would)', async (t) => {
  const full = await t.throwsAsync(classifying('cell data', () => Promise.reject(systemError('ENOSPC'))), { instanceOf: PersoniumError });
  t.is(full?.code, 'PR507-SN-0001');
  t.is(full?.message, 'Insufficient storage: the [cell data] has no space left (disk full or quota exceeded).');
  const s3Rule = (error: unknown) => ((error as { name?: string }).name === 'EntityTooLarge' ? 'full' : undefined) as 'full' | undefined;
  const tooLarge = Object.assign(new Error('Your proposed upload exceeds the maximum allowed size'), { name: 'EntityTooLarge' });
  const viaS3 = await t.throwsAsync(classifying('snapshot area', () => Promise.reject(tooLarge), s3Rule), { instanceOf: PersoniumError });
  t.is(viaS3?.code, 'PR507-SN-0001');
  t.is(await classifying('cell data', async () => 42), 42);
});

test('every kind has its own code, and storageFault() builds it', (t) => {
  t.is(new Set(Object.values(STORAGE_FAULT_CODES)).size, 4);
  t.is(storageFault('missing', 'job store').message, 'The [job store] is not available (its storage directory is missing).');
  t.is(storageFault('out-of-memory', 'job store').status, 503);
  t.is(systemFaultKind({ code: 42 }), undefined);
});

test("Redis: an OOM answer is out-of-memory, any other error is not a storage fault", (t) => {
  t.is(redisFaultKind(new Error("OOM command not allowed when used memory > 'maxmemory'.")), 'out-of-memory');
  t.is(redisFaultKind(new Error('ERR unknown command')), undefined);
  t.is(redisFaultKind(new Error('NOSCRIPT No matching script')), undefined);
});
