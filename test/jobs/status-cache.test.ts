import test from 'ava';
import { StatusCache } from '../../lib/jobs/status-cache.js';
import type { CellJobState } from '../../lib/types.js';

const running = (progress: number): CellJobState => ({
  running: {
    cellId: 'c',
    kind: 'export',
    name: 'n',
    requestKey: 'k',
    subject: null,
    token: 't',
    startedAt: '2026-01-01T00:00:00.000Z',
    progress,
    leaseExpiresAt: 0,
    cancelRequested: false,
  },
});

/** A read that counts its calls and answers what `next` holds when called. */
function counter(): { read: () => Promise<CellJobState>; calls: () => number; next: { state: CellJobState } } {
  let calls = 0;
  const next = { state: {} as CellJobState };
  return {
    read: async () => {
      calls += 1;
      return next.state;
    },
    calls: () => calls,
    next,
  };
}

test('concurrent and later reads within the period share one store read', async (t) => {
  const cache = new StatusCache(60_000);
  const store = counter();
  store.next.state = running(10);
  const states = await Promise.all([cache.get('a', store.read), cache.get('a', store.read), cache.get('a', store.read)]);
  t.is(store.calls(), 1);
  t.deepEqual(states, [running(10), running(10), running(10)]);
  store.next.state = running(20);
  t.deepEqual(await cache.get('a', store.read), running(10));
  t.is(store.calls(), 1);
});

test('each cell has its own entry', async (t) => {
  const cache = new StatusCache(60_000);
  const store = counter();
  await cache.get('a', store.read);
  await cache.get('b', store.read);
  t.is(store.calls(), 2);
});

test('a transition (invalidate) makes the next read go to the store', async (t) => {
  const cache = new StatusCache(60_000);
  const store = counter();
  store.next.state = running(50);
  t.deepEqual(await cache.get('a', store.read), running(50));
  store.next.state = {};
  cache.invalidate('a');
  t.deepEqual(await cache.get('a', store.read), {});
  t.is(store.calls(), 2);
});

test('a read in flight when the cell changes is not served after the change', async (t) => {
  const cache = new StatusCache(60_000);
  let release!: (state: CellJobState) => void;
  const slow = cache.get('a', () => new Promise<CellJobState>((resolve) => (release = resolve)));
  cache.invalidate('a');
  const store = counter();
  const fresh = cache.get('a', store.read);
  release(running(1));
  t.deepEqual(await slow, running(1));
  t.deepEqual(await fresh, {});
  t.is(store.calls(), 1);
});

test('an entry serves for its period, then the store is read again', async (t) => {
  let now = 0;
  const cache = new StatusCache(1000, () => now);
  const store = counter();
  await cache.get('a', store.read);
  now = 999;
  await cache.get('a', store.read);
  t.is(store.calls(), 1);
  now = 1000;
  await cache.get('a', store.read);
  t.is(store.calls(), 2);
});

test('a failed read is not kept: the next request reads again', async (t) => {
  const cache = new StatusCache(60_000);
  await t.throwsAsync(cache.get('a', () => Promise.reject(new Error('store down'))), { message: 'store down' });
  const store = counter();
  t.deepEqual(await cache.get('a', store.read), {});
  t.is(store.calls(), 1);
});

test('with a period of 0 every request reads the store', async (t) => {
  const cache = new StatusCache(0);
  const store = counter();
  await Promise.all([cache.get('a', store.read), cache.get('a', store.read)]);
  t.is(store.calls(), 2);
});

test('many cells: over 1,000 entries, the expired ones are dropped', async (t) => {
  let now = 0;
  const cache = new StatusCache(1000, () => now);
  const store = counter();
  for (let i = 0; i < 1000; i += 1) await cache.get(`old-${i}`, store.read);
  t.is(cache.size, 1000);
  now = 1500;
  await cache.get('new', store.read);
  t.is(cache.size, 1);
});
