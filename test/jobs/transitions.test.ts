/** The pure job transitions (every store's contract suite runs them through a real store too). */
import test from 'ava';
import { claimCell, endJob, renewJob, runningPercent } from '../../lib/jobs/transitions.js';
import type { JobRequest } from '../../lib/types.js';

const request = (kind: 'export' | 'import'): JobRequest => ({ cellId: 'c', kind, name: 'n', requestKey: 'k', subject: null });
const options = { leaseMs: 1000, maxRunning: 4 };
const failure = { code: 'PR400-SN-0003', message: { lang: 'en' as const, value: 'Snapshot integrity check failed. [x]' } };

test('runningPercent: floored, at most 99', (t) => {
  t.is(runningPercent(0), 0);
  t.is(runningPercent(41.9), 41);
  t.is(runningPercent(99.99), 99);
  t.is(runningPercent(250), 99);
});

test('renew keeps the larger progress, clamped; a stale token or an expired lease changes nothing', (t) => {
  const { state } = claimCell({}, request('export'), options, 0, 0);
  if (state?.running === undefined) return t.fail('not claimed');
  const token = state.running.token;
  t.is(renewJob(state, token, 120, 1000, 10)?.running?.progress, 99);
  const renewed = renewJob(state, token, 30, 1000, 10);
  t.is(renewJob(renewed ?? {}, token, 20, 1000, 20)?.running?.progress, 30, 'never decreases');
  t.is(renewJob(state, 'other', 50, 1000, 10), undefined);
  t.is(renewJob(state, token, 50, 1000, 1000), undefined, 'expired at leaseExpiresAt');
});

test('end: a failed import is kept, a failed export is not; finish only while live, reap only once expired', (t) => {
  for (const kind of ['import', 'export'] as const) {
    const { state } = claimCell({}, request(kind), options, 0, 0);
    if (state?.running === undefined) return t.fail('not claimed');
    const token = state.running.token;
    t.is(endJob(state, token, failure, 'expired', 10), undefined, `${kind}: a live job is not reaped`);
    t.is(endJob(state, token, failure, 'live', 2000), undefined, `${kind}: an expired job is not finished`);
    const ended = endJob(state, token, failure, 'live', 10);
    t.is(ended?.running, undefined);
    t.is(ended?.importFailure?.error.code, kind === 'import' ? 'PR400-SN-0003' : undefined);
  }
});
