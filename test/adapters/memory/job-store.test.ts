import { setImmediate as tick } from 'node:timers/promises';
import test from 'ava';
import { MEMORY_JOB_STORE_WARNING, MemoryJobStore } from '../../../lib/adapters/memory/job-store.js';
import { jobStoreContract } from '../../../lib/contract/job-store.js';

jobStoreContract(test, () => new MemoryJobStore({ quiet: true }));

test('memory: warns once per process that it serves one process only, unless quiet', async (t) => {
  const warnings: Error[] = [];
  const listen = (warning: Error): void => {
    if ((warning as Error & { code?: string }).code === MEMORY_JOB_STORE_WARNING) warnings.push(warning);
  };
  process.on('warning', listen);
  t.teardown(() => process.off('warning', listen));
  new MemoryJobStore({ quiet: true });
  await tick();
  await tick();
  t.is(warnings.length, 0, 'quiet suppresses it');
  new MemoryJobStore();
  new MemoryJobStore();
  new MemoryJobStore({ quiet: false });
  await tick();
  await tick();
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.message ?? '', /this process only/);
});

test('memory: two instances do not share state', async (t) => {
  const a = new MemoryJobStore({ quiet: true });
  const b = new MemoryJobStore({ quiet: true });
  const req = { cellId: 'c', kind: 'export', name: 'n', requestKey: 'k', subject: null } as const;
  const options = { leaseMs: 60_000, maxRunning: 1 };
  t.is((await a.claim(req, options)).status, 'claimed');
  t.is((await b.claim(req, options)).status, 'claimed');
});
