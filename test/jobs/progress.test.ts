import test from 'ava';
import { MAX_RETRY_AFTER_S, Progress, retryAfterSeconds } from '../../lib/jobs/progress.js';

const START = Date.UTC(2026, 0, 1);
const STARTED_AT = new Date(START).toISOString();

/** The Retry-After values a client that obeys them sees over a job whose percent at `t` seconds is `percent(t)`. */
function polls(percent: (t: number) => number, until: number): number[] {
  const seen: number[] = [];
  for (let t = 0; t < until; ) {
    const after = retryAfterSeconds(STARTED_AT, Math.floor(percent(t)), START + t * 1000);
    seen.push(after);
    t += after;
  }
  return seen;
}

/** Asserts every value is a whole number of seconds in 1..10, each at most twice or half the one before. */
function assertSteady(t: import('ava').ExecutionContext, seen: number[]): void {
  t.true(seen.every((s) => Number.isInteger(s) && s >= 1 && s <= MAX_RETRY_AFTER_S), seen.join(' '));
  for (let i = 1; i < seen.length; i += 1) {
    const [a = 1, b = 1] = [seen[i - 1], seen[i]];
    t.true(Math.max(a / b, b / a) <= 2, `${a} then ${b} in ${seen.join(' ')}`);
  }
}

test('Retry-After over a long job with a silent start, a stall and jumps: 1..10 s, steady, quick at the start and the end', (t) => {
  // 20 s without progress, then 10 %/3 min, a stall at 60 % for 200 s, then the rest.
  const percent = (s: number): number => (s < 20 ? 0 : s < 200 ? (s - 20) / 18 : s < 400 ? 60 : Math.min(99, 60 + (s - 400) / 5));
  const seen = polls(percent, 600);
  t.log(seen.join(' '));
  assertSteady(t, seen);
  t.is(seen[0], 1, 'a job that just started is polled after a second');
  t.is(Math.max(...seen), MAX_RETRY_AFTER_S);
  t.true((seen.at(-1) ?? 99) <= 2, 'polled often near the end');
});

test('Retry-After of a four-second export never waits past its end, as the first estimates swing', (t) => {
  const seen = polls((s) => Math.min(99, s * 25), 4);
  t.log(seen.join(' '));
  assertSteady(t, seen);
  t.true(seen.reduce((a, b) => a + b, 0) <= 5);
});

test('Progress: weighted by bytes and records, never decreasing, at most 99 before the end', (t) => {
  const progress = new Progress({ records: 10, davNodes: 0, bytes: 10 * 512 });
  t.is(progress.update({ records: 5, davNodes: 0, bytes: 0 }), 25);
  t.is(progress.update({ records: 0, davNodes: 0, bytes: 0 }), 25, 'never decreases');
  t.is(progress.update({ records: 10, davNodes: 0, bytes: 10 * 512 }), 99);
});

test('Progress: 0% until the total is known, then weighted from the work done so far', (t) => {
  const progress = new Progress();
  t.is(progress.update({ records: 5, davNodes: 0, bytes: 0 }), 0, 'no total yet');
  progress.setTotal({ records: 10, davNodes: 0, bytes: 10 * 512 });
  t.is(progress.update({ records: 5, davNodes: 0, bytes: 0 }), 25);
});
