/**
 * The contract-test suite every {@link JobStore} must pass (`MemoryJobStore`, `FsJobStore`, and any
 * shared store). Leases are short and time is real: no fake timers, because a store may keep time on
 * another machine.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext, TestFn } from 'ava';
import type { ErrorBody } from '../errors.js';
import type { ClaimOptions, JobKind, JobRecord, JobRequest, JobStore } from '../types.js';

/** Makes a fresh, empty store for one test. */
export type MakeJobStore = (t: ExecutionContext) => JobStore | Promise<JobStore>;

/** A lease that outlives any test. */
export const LONG: ClaimOptions = { leaseMs: 60_000, maxRunning: 1000 };
/**
 * A lease that expires quickly. Tests never rely on an operation finishing within it: a job that must
 * be live is claimed with {@link COMFORTABLE}, and shrunk to this by a renew when it should expire.
 */
export const SHORT_MS = 100;
/** Long enough for a {@link SHORT_MS} lease to have expired. */
export const EXPIRY_WAIT_MS = 250;
/** A lease comfortably longer than a few operations on a loaded machine, but not than a test. */
export const COMFORTABLE: ClaimOptions = { leaseMs: 30_000, maxRunning: 1000 };

/** A job request for `cellId`. */
export function request(cellId: string, kind: JobKind = 'export', name = 'snap'): JobRequest {
  return { cellId, kind, name, requestKey: `key-${cellId}`, subject: 'https://unit.example/owner/#me' };
}

const INTERRUPTED: ErrorBody = { code: 'PR500-SN-0001', message: { lang: 'en', value: '[cell import] was interrupted.' } };
const BROKEN: ErrorBody = { code: 'PR400-SN-0003', message: { lang: 'en', value: 'Snapshot integrity check failed. [x]' } };

/** Claims and fails the test unless the answer is `claimed`. */
export async function claimed(
  t: ExecutionContext,
  store: JobStore,
  req: JobRequest,
  options: ClaimOptions = LONG,
): Promise<JobRecord> {
  const result = await store.claim(req, options);
  if (result.status !== 'claimed') {
    t.fail(`expected claimed, got ${result.status}`);
    throw new Error(`claim answered ${result.status}`);
  }
  return result.job;
}

/** Registers the whole {@link JobStore} contract as tests titled `job store: …`. */
export function jobStoreContract(test: TestFn, makeStore: MakeJobStore): void {
  const title = (what: string): string => `job store: ${what}`;

  test(title('a claim answers a complete job record and get shows it'), async (t) => {
    const store = await makeStore(t);
    t.deepEqual(await store.get('c1'), {});
    t.is(await store.countRunning(), 0);
    const before = Date.now();
    const job = await claimed(t, store, request('c1', 'import', 'backup'), { leaseMs: 30_000, maxRunning: 4 });
    const after = Date.now();
    t.like(job, {
      cellId: 'c1',
      kind: 'import',
      name: 'backup',
      requestKey: 'key-c1',
      subject: 'https://unit.example/owner/#me',
      progress: 0,
    });
    t.true(typeof job.token === 'string' && job.token.length >= 16);
    t.regex(job.startedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const started = Date.parse(job.startedAt);
    t.true(started >= before - 5 && started <= after + 5);
    t.true(job.leaseExpiresAt >= before + 30_000 - 5 && job.leaseExpiresAt <= after + 30_000 + 5);
    t.deepEqual(await store.get('c1'), { running: job });
    t.is(await store.countRunning(), 1);
  });

  test(title('a null subject is kept'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, { ...request('c1'), subject: null });
    t.is(job.subject, null);
    t.is((await store.get('c1')).running?.subject, null);
  });

  test(title('100 concurrent claims of one cell: exactly one is claimed, the others busy'), async (t) => {
    const store = await makeStore(t);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.claim(request('hot', i % 2 ? 'export' : 'import', `n${i}`), LONG)),
    );
    const won = results.filter((r) => r.status === 'claimed');
    t.is(won.length, 1);
    t.is(results.filter((r) => r.status === 'busy').length, 99);
    const winner = won[0];
    if (winner?.status !== 'claimed') return;
    for (const r of results) if (r.status === 'busy') t.is(r.job.token, winner.job.token);
    t.deepEqual((await store.get('hot')).running, winner.job);
    t.is(await store.countRunning(), 1);
  });

  test(title('a held cell is busy for either kind while the lease is live; other cells are free'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1', 'export'));
    for (const kind of ['export', 'import'] as const) {
      const result = await store.claim(request('c1', kind), LONG);
      t.is(result.status, 'busy');
      if (result.status === 'busy') t.deepEqual(result.job, job);
    }
    await claimed(t, store, request('c2', 'import'));
    t.is(await store.countRunning(), 2);
  });

  test(title('a new token per claim; stale tokens change nothing'), async (t) => {
    const store = await makeStore(t);
    const first = await claimed(t, store, request('c1'));
    t.false(await store.finish('c1', 'not-the-token'));
    t.falsy(await store.renew('c1', 'not-the-token', 50, 60_000));
    t.true(await store.finish('c1', first.token));
    t.deepEqual(await store.get('c1'), {});
    const second = await claimed(t, store, request('c1'));
    t.not(second.token, first.token);
    t.false(await store.finish('c1', first.token), 'finish with the previous run token');
    t.falsy(await store.renew('c1', first.token, 10, 60_000), 'renew with the previous run token');
    t.false(await store.reap('c1', first.token));
    t.deepEqual(await store.get('c1'), { running: second });
    t.false(await store.finish('other-cell', second.token), 'a token holds one cell only');
  });

  test(title('renew extends the lease and keeps progress monotonic, integer and below 100'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1'), COMFORTABLE);
    await sleep(20);
    const renewedAt = Date.now();
    t.truthy(await store.renew('c1', job.token, 40, 45_000));
    let running = (await store.get('c1')).running;
    t.is(running?.progress, 40);
    t.true((running?.leaseExpiresAt ?? 0) >= renewedAt + 45_000);
    t.is(running?.token, job.token);
    t.is(running?.startedAt, job.startedAt);
    t.truthy(await store.renew('c1', job.token, 30, 30_000));
    t.is((await store.get('c1')).running?.progress, 40, 'never decreases');
    t.truthy(await store.renew('c1', job.token, 61.7, 30_000));
    t.is((await store.get('c1')).running?.progress, 61);
    t.truthy(await store.renew('c1', job.token, 150, 30_000));
    t.is((await store.get('c1')).running?.progress, 99, 'never 100 while running');
    t.truthy(await store.renew('c1', job.token, 12, 30_000));
    running = (await store.get('c1')).running;
    t.is(running?.progress, 99);
  });

  test(title('a lease not renewed expires: claim answers expired, renew and finish are refused'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1', 'import'), COMFORTABLE);
    t.truthy(await store.renew('c1', job.token, 25, SHORT_MS));
    await sleep(EXPIRY_WAIT_MS);
    const result = await store.claim(request('c1', 'export'), LONG);
    t.is(result.status, 'expired');
    if (result.status === 'expired') {
      t.is(result.job.token, job.token);
      t.is(result.job.progress, 25);
    }
    t.falsy(await store.renew('c1', job.token, 50, 60_000), 'a lost lease cannot be renewed');
    t.false(await store.finish('c1', job.token), 'a lost lease cannot be finished');
    const state = await store.get('c1');
    t.is(state.running?.token, job.token, 'the expired job still holds the cell until reaped');
    t.is(state.running?.progress, 25);
    t.is(state.importFailure, undefined);
    t.is(await store.countRunning(), 0);
  });

  test(title('reap: refused while live, exactly one of concurrent reapers wins, then the cell is free'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1', 'import', 'restore'), COMFORTABLE);
    t.false(await store.reap('c1', job.token, INTERRUPTED), 'not while the lease is live');
    t.is((await store.get('c1')).running?.token, job.token);
    t.truthy(await store.renew('c1', job.token, 33, SHORT_MS));
    await sleep(EXPIRY_WAIT_MS);
    t.false(await store.reap('c1', 'wrong-token', INTERRUPTED));
    const reaps = await Promise.all(Array.from({ length: 20 }, () => store.reap('c1', job.token, INTERRUPTED)));
    t.is(reaps.filter(Boolean).length, 1);
    const state = await store.get('c1');
    t.is(state.running, undefined);
    t.deepEqual(state.importFailure, { name: 'restore', startedAt: job.startedAt, progress: 33, error: INTERRUPTED });
    t.false(await store.reap('c1', job.token, INTERRUPTED));
    const next = await claimed(t, store, request('c1', 'export'));
    t.not(next.token, job.token);
    t.deepEqual((await store.get('c1')).importFailure?.error, INTERRUPTED, 'an export claim keeps it');
  });

  test(title('reaping an export records no import failure'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1', 'export'), { leaseMs: SHORT_MS, maxRunning: 4 });
    await sleep(EXPIRY_WAIT_MS);
    t.true(await store.reap('c1', job.token, INTERRUPTED));
    t.deepEqual(await store.get('c1'), {});
  });

  test(title('countRunning counts live leases only'), async (t) => {
    const store = await makeStore(t);
    const short1 = await claimed(t, store, request('short-1'), COMFORTABLE);
    const short2 = await claimed(t, store, request('short-2', 'import'), COMFORTABLE);
    const long = await claimed(t, store, request('long'), { leaseMs: 60_000, maxRunning: 10 });
    t.is(await store.countRunning(), 3);
    t.truthy(await store.renew('short-1', short1.token, 1, SHORT_MS));
    t.truthy(await store.renew('short-2', short2.token, 1, SHORT_MS));
    await sleep(EXPIRY_WAIT_MS);
    t.is(await store.countRunning(), 1);
    t.true(await store.finish('long', long.token));
    t.is(await store.countRunning(), 0);
  });

  test(title('the global limit: a free cell answers limit, a held one busy; expired jobs do not count'), async (t) => {
    const store = await makeStore(t);
    const options: ClaimOptions = { leaseMs: 60_000, maxRunning: 2 };
    const a = await claimed(t, store, request('a'), options);
    const b = await claimed(t, store, request('b'), options);
    t.deepEqual(await store.claim(request('c'), options), { status: 'limit' });
    t.is((await store.claim(request('a'), options)).status, 'busy');
    t.deepEqual(await store.get('c'), {}, 'a refused claim stores nothing');
    t.truthy(await store.renew('b', b.token, 0, SHORT_MS));
    await sleep(EXPIRY_WAIT_MS);
    await claimed(t, store, request('c'), options);
    t.deepEqual(await store.claim(request('d'), options), { status: 'limit' });
    t.true(await store.finish('a', a.token));
    await claimed(t, store, request('d'), options);
    t.deepEqual(await store.claim(request('e'), { leaseMs: 1_000, maxRunning: 0 }), { status: 'limit' });
  });

  test(title('the global limit holds under 20 concurrent claims of different cells'), async (t) => {
    const store = await makeStore(t);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.claim(request(`cell-${i}`), { leaseMs: 60_000, maxRunning: 5 })),
    );
    t.is(results.filter((r) => r.status === 'claimed').length, 5);
    t.is(results.filter((r) => r.status === 'limit').length, 15);
    t.is(await store.countRunning(), 5);
  });

  test(title('finish: only by the holder with a live lease; frees the cell'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1'));
    t.true(await store.finish('c1', job.token));
    t.deepEqual(await store.get('c1'), {});
    t.is(await store.countRunning(), 0);
    t.false(await store.finish('c1', job.token), 'a second finish changes nothing');
    const expiring = await claimed(t, store, request('c1'), { leaseMs: SHORT_MS, maxRunning: 4 });
    await sleep(EXPIRY_WAIT_MS);
    t.false(await store.finish('c1', expiring.token));
    t.is((await store.get('c1')).running?.token, expiring.token);
  });

  test(title('an import failure is recorded, kept by an export claim, cleared by the next import claim'), async (t) => {
    const store = await makeStore(t);
    const imp = await claimed(t, store, request('c1', 'import', 'first'));
    t.truthy(await store.renew('c1', imp.token, 37, 60_000));
    t.true(await store.finish('c1', imp.token, BROKEN));
    const failure = { name: 'first', startedAt: imp.startedAt, progress: 37, error: BROKEN };
    t.deepEqual(await store.get('c1'), { importFailure: failure });
    t.is(await store.countRunning(), 0);

    const exp = await claimed(t, store, request('c1', 'export', 'an-export'));
    t.deepEqual(await store.get('c1'), { running: exp, importFailure: failure });
    t.true(await store.finish('c1', exp.token, INTERRUPTED), 'an export failure is not an import failure');
    t.deepEqual(await store.get('c1'), { importFailure: failure });

    const next = await claimed(t, store, request('c1', 'import', 'second'));
    t.deepEqual(await store.get('c1'), { running: next }, 'cleared as soon as the import is accepted');
    t.true(await store.finish('c1', next.token));
    t.deepEqual(await store.get('c1'), {}, 'a successful import leaves no failure');
  });

  test(title('a refused import claim does not clear the failure'), async (t) => {
    const store = await makeStore(t);
    const imp = await claimed(t, store, request('c1', 'import', 'first'));
    t.true(await store.finish('c1', imp.token, BROKEN));
    const blocker = await claimed(t, store, request('other'), { leaseMs: 60_000, maxRunning: 1 });
    t.deepEqual(await store.claim(request('c1', 'import'), { leaseMs: 60_000, maxRunning: 1 }), { status: 'limit' });
    t.is((await store.get('c1')).importFailure?.error.code, BROKEN.code);
    t.true(await store.finish('other', blocker.token));
  });

  test(title('cells are independent'), async (t) => {
    const store = await makeStore(t);
    const a = await claimed(t, store, request('a', 'import'));
    const b = await claimed(t, store, request('b', 'import'));
    t.true(await store.finish('a', a.token, BROKEN));
    t.deepEqual((await store.get('b')).running, b);
    t.is((await store.get('b')).importFailure, undefined);
    t.is((await store.get('a')).importFailure?.name, 'snap');
  });

  test(title('requestCancel marks the live job of that kind; the holder learns it from renew'), async (t) => {
    const store = await makeStore(t);
    t.is(await store.requestCancel('c1', 'export'), undefined, 'nothing running');
    const job = await claimed(t, store, request('c1', 'export'), COMFORTABLE);
    t.false(job.cancelRequested);
    t.is(await store.requestCancel('c1', 'import'), undefined, 'another kind');
    const marked = await store.requestCancel('c1', 'export');
    t.like(marked, { token: job.token, cancelRequested: true });
    t.true((await store.get('c1')).running?.cancelRequested);
    const renewed = await store.renew('c1', job.token, 10, 30_000);
    t.like(renewed, { token: job.token, cancelRequested: true, progress: 10 });
    t.true(await store.finish('c1', job.token));
    t.is(await store.requestCancel('c1', 'export'), undefined, 'finished');
  });

  test(title('requestCancel ignores a job whose lease expired'), async (t) => {
    const store = await makeStore(t);
    const job = await claimed(t, store, request('c1', 'import'), COMFORTABLE);
    t.truthy(await store.renew('c1', job.token, 0, SHORT_MS));
    await sleep(EXPIRY_WAIT_MS);
    t.is(await store.requestCancel('c1', 'import'), undefined);
    t.false((await store.get('c1')).running?.cancelRequested);
  });

  test(title('invalid lease and limit options are refused with a RangeError'), async (t) => {
    const store = await makeStore(t);
    await t.throwsAsync(store.claim(request('c1'), { leaseMs: 0, maxRunning: 1 }), { instanceOf: RangeError });
    await t.throwsAsync(store.claim(request('c1'), { leaseMs: Number.NaN, maxRunning: 1 }), { instanceOf: RangeError });
    await t.throwsAsync(store.claim(request('c1'), { leaseMs: 1_000, maxRunning: -1 }), { instanceOf: RangeError });
    const job = await claimed(t, store, request('c1'));
    await t.throwsAsync(store.renew('c1', job.token, 10, -5), { instanceOf: RangeError });
    t.is((await store.get('c1')).running?.progress, 0);
  });
}
