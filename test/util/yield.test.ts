import test from 'ava';
import { timeSlicer } from '../../lib/util/yield.js';

test('a time slicer resolves at once while its slice lasts', (t) => {
  // A slice no test run can spend: every call is within it.
  const slice = timeSlicer(10 * 60_000);
  for (let i = 0; i < 1000; i += 1) t.is(slice(), undefined);
});

test('a spent slice lets the event loop run once, then a new slice begins', async (t) => {
  const slice = timeSlicer(0);
  let ranMacrotask = false;
  setImmediate(() => {
    ranMacrotask = true;
  });
  const wait = slice();
  t.truthy(wait, 'a slice of 0 ms is spent at once');
  t.false(ranMacrotask, 'nothing has let the event loop run yet');
  await wait;
  t.true(ranMacrotask, 'awaiting it let the event loop run');
});
