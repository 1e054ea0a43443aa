import test from 'ava';
import { timeSlicer } from '../../lib/util/yield.js';

test('a time slicer resolves at once within its slice, and lets the event loop run after it', async (t) => {
  const slice = timeSlicer(5);
  t.is(slice(), undefined, 'nothing to wait for at first');
  let ranMacrotask = false;
  setImmediate(() => {
    ranMacrotask = true;
  });
  const start = performance.now();
  while (performance.now() - start < 6);
  t.false(ranMacrotask, 'a busy loop keeps the event loop');
  const wait = slice();
  t.truthy(wait, 'the slice is spent');
  await wait;
  t.true(ranMacrotask, 'awaiting it let the event loop run');
  t.is(slice(), undefined, 'a new slice begins');
});
