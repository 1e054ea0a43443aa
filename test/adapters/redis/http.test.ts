/**
 * RedisJobStore behind real hosts: two hosts over one Redis see one job state, and while Redis is
 * away, status reads and job starts answer 503 `PR503-SV-0003` while a running job keeps running.
 */
import { join } from 'node:path';
import avaTest from 'ava';
import { FsSnapshotStore } from '../../../lib/adapters/fs/snapshot-store.js';
import { RedisJobStore } from '../../../lib/adapters/redis/job-store.js';
import type { CellDataSource, CellEvent, DavNode } from '../../../lib/types.js';
import { ROOT_TOKEN } from '../../helpers/auth.js';
import { cellIdOf } from '../../helpers/cell-digest.js';
import { redisClient, redisServer } from '../../helpers/redis-server.js';
import { type TestServer, makeDataDir, startServer } from '../../helpers/server.js';
import { unlessHung, waitFor } from '../../helpers/wait.js';
import { needing } from '../../helpers/tools.js';

const test = needing(avaTest, 'redis-server');

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

/** A gate the test opens when it wants the export to go on. */
interface Gate {
  readonly passed: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open = (): void => {};
  const passed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { passed, open };
}

async function* afterGate(nodes: AsyncIterable<DavNode>, wait: Promise<void>, signal: AbortSignal): AsyncIterable<DavNode> {
  await Promise.race([
    wait,
    new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
  ]);
  yield* nodes;
}

/** The real cell source, whose exports wait at the WebDAV tree until the gate opens. */
function gated(inner: CellDataSource, wait: Promise<void>): CellDataSource {
  return {
    getCell: (name) => inner.getCell(name),
    beginImport: (cell, signal) => inner.beginImport(cell, signal),
    async openExport(cell, signal) {
      const view = await inner.openExport(cell, signal);
      return {
        totals: view.totals,
        cellRecord: () => view.cellRecord(),
        records: (type) => view.records(type),
        dav: () => afterGate(view.dav(), wait, signal),
        close: () => view.close(),
      };
    },
  };
}

async function exportStatus(server: TestServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await server.request('GET', 'alice', '__export', { headers: auth });
  return { status: res.status, body: res.json<Record<string, unknown>>() };
}

test('redis http: two hosts over one Redis see one job, and only one export runs at a time', async (t) => {
  const redis = await redisServer(t);
  const dataDir = await makeDataDir(t);
  const exportGate = gate();
  t.teardown(() => exportGate.open());
  const host = async (): Promise<TestServer> =>
    startServer(t, 'root', {
      dataDir,
      wrapCells: (cells) => gated(cells, exportGate.passed),
      options: { jobs: new RedisJobStore({ client: await redisClient(t, redis.url), prefix: 'shared:' }) },
    });
  const a = await host();
  const b = await host();

  t.is((await a.request('POST', 'alice', '__export', { headers: json, body: '{"Name":"across"}' })).status, 202);
  const seen = await exportStatus(b);
  t.is(seen.status, 200);
  t.like(seen.body, { status: 'exportation in progress', exportation_name: 'across' });
  const second = await b.request('POST', 'alice', '__export', { headers: json, body: '{"Name":"other"}' });
  t.is(second.status, 409);
  t.is(second.json<{ code: string }>().code, 'PR409-CM-0002');

  exportGate.open();
  await waitFor(async () => (await exportStatus(b)).body['status'] === 'ready');
  const names = (await new FsSnapshotStore({ root: join(dataDir, 'snapshots') }).list(await cellIdOf(a.dataDir, 'alice'))).map((i) => i.name);
  t.true(names.includes('across.zip'));
  t.false(names.includes('other.zip'));
});

test('redis http: Redis away → 503 PR503-SV-0003 for status, starts and cancels; a running export survives and completes', async (t) => {
  const redis = await redisServer(t);
  const exportGate = gate();
  t.teardown(() => exportGate.open());
  const events: CellEvent[] = [];
  const errors: unknown[] = [];
  const server = await startServer(t, 'root', {
    wrapCells: (cells) => gated(cells, exportGate.passed),
    options: {
      jobs: new RedisJobStore({ client: await redisClient(t, redis.url), prefix: 'outage:' }),
      events: { log: (event) => void events.push(event) },
      onError: (error) => void errors.push(error),
    },
  });
  t.is((await server.request('POST', 'alice', '__export', { headers: json, body: '{"Name":"through"}' })).status, 202);
  t.is((await exportStatus(server)).body['status'], 'exportation in progress');

  await redis.stop({ save: true });
  // Let at least one renewal fail while Redis is away: the job must not take it as a lost lease.
  // (A status read may be served from a read of the last second; the failed renewal drops it.)
  await waitFor(async () => errors.length > 0);
  // Every answer comes while Redis is still away: none waits for it.
  const answers = await unlessHung(Promise.all([
    server.request('GET', 'alice', '__export', { headers: auth }),
    server.request('GET', 'alice', '__import', { headers: auth }),
    server.request('POST', 'bob', '__export', { headers: json, body: '{"Name":"during"}' }),
    server.request('POST', 'alice', '__import', { headers: json, body: '{"Name":"through"}' }),
    server.request('DELETE', 'alice', '__export', { headers: auth }),
  ]), 'answers while Redis is away');
  for (const res of answers) {
    t.is(res.status, 503);
    t.deepEqual(res.json(), {
      code: 'PR503-SV-0003',
      message: { lang: 'en', value: 'Server error. (Lock Manager) Data lock state unknown.' },
    });
  }
  await redis.start();
  await waitFor(async () => (await exportStatus(server)).status === 200);
  t.is((await exportStatus(server)).body['status'], 'exportation in progress', 'still running after the outage');
  exportGate.open();
  await waitFor(async () => (await exportStatus(server)).body['status'] === 'ready');
  const names = (await new FsSnapshotStore({ root: join(server.dataDir, 'snapshots') }).list(await cellIdOf(server.dataDir, 'alice'))).map(
    (i) => i.name,
  );
  t.true(names.includes('through.zip'), names.join(', '));
  t.false(names.includes('through.error'));
  t.deepEqual(
    events.filter((e) => e.type === 'cell.export').map((e) => e.info),
    ['accepted', 'completed'],
  );
  t.is((await server.request('GET', 'bob', '__export', { headers: auth })).json<{ status: string }>().status, 'ready',
    'the start refused during the outage never ran');
});

