import test, { type ExecutionContext } from 'ava';
import { FsCellDataSource } from '../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../lib/adapters/fs/snapshot-store.js';
import { createCellSnapshotRouter } from '../lib/router.js';
import type { CellSnapshotOptions } from '../lib/types.js';
import { ROOT_TOKEN, testAuth } from './helpers/auth.js';
import { MOUNT_MODES, startServer } from './helpers/server.js';
import { tempDir } from './helpers/tmp.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };

for (const mode of MOUNT_MODES) {
  test(`${mode}: other methods answer 405 PR405-MC-0001 with Allow`, async (t) => {
    const server = await startServer(t, mode);
    const cases = [
      ['PUT', '__export', 'OPTIONS, GET, POST, DELETE'],
      ['PATCH', '__import', 'OPTIONS, GET, POST, DELETE'],
      ['GET', '__snapshot', 'OPTIONS, PROPFIND'],
      ['DELETE', '__snapshot', 'OPTIONS, PROPFIND'],
      ['MKCOL', '__snapshot/a.zip', 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND'],
      ['PROPPATCH', '__snapshot/a.zip', 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND'],
    ] as const;
    for (const [method, rest, allow] of cases) {
      const res = await server.request(method, 'alice', rest, { headers: auth });
      t.is(res.status, 405, `${method} ${rest}`);
      t.deepEqual(res.json(), { code: 'PR405-MC-0001', message: { lang: 'en', value: 'Method not allowed.' } });
      t.is(res.headers.allow, allow);
    }
  });

  test(`${mode}: REPORT on a snapshot file answers 501 PR501-MC-0001`, async (t) => {
    const server = await startServer(t, mode);
    const res = await server.request('REPORT', 'alice', '__snapshot/a.zip', { headers: auth });
    t.is(res.status, 501);
    t.is(res.json<{ code: string }>().code, 'PR501-MC-0001');
  });

  test(`${mode}: a path below a snapshot file answers 404 PR404-MC-0001`, async (t) => {
    const server = await startServer(t, mode);
    for (const rest of ['__snapshot/a.zip/b', '__snapshot/a.zip/b/c']) {
      const res = await server.request('GET', 'alice', rest, { headers: auth });
      t.is(res.status, 404, rest);
      t.deepEqual(res.json(), { code: 'PR404-MC-0001', message: { lang: 'en', value: 'URI is not recognized.' } });
    }
  });

  test(`${mode}: the host's own routes and unknown paths pass through`, async (t) => {
    const server = await startServer(t, mode);
    const other = await server.request('GET', 'alice', '__other', { headers: auth });
    t.is(other.status, 404);
    t.is(other.headers['x-personium-version'], undefined);
  });
}

test('prefix: the host app keeps its own routes beside the router', async (t) => {
  const server = await startServer(t, 'prefix');
  const hello = await fetch(`${server.origin}/api/hello`);
  t.deepEqual(await hello.json(), { host: 'route' });
  const unprefixed = await fetch(`${server.origin}/alice/__export`, { headers: auth });
  t.is(unprefixed.status, 404);
  t.is(unprefixed.headers.get('x-personium-version'), null);
});

test('host: a Host outside the unit passes through', async (t) => {
  const server = await startServer(t, 'host');
  const res = await fetch(`${server.origin}/__export`, { headers: auth });
  t.is(res.status, 404);
  t.is(res.headers.get('x-personium-version'), null);
});

async function baseOptions(t: ExecutionContext): Promise<CellSnapshotOptions> {
  const dir = await tempDir(t);
  return {
    cellUrl: 'path',
    cells: new FsCellDataSource({ root: dir }),
    snapshots: new FsSnapshotStore({ root: dir }),
    auth: testAuth,
  };
}

test('options: unknown keys and wrong types throw a TypeError naming the option', async (t) => {
  const base = await baseOptions(t);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ colour: 'red' }, /unknown option colour/],
    [{ limits: { maxRunningJobs: 0 } }, /limits\.maxRunningJobs must be a positive integer/],
    [{ limits: { maxJobs: 2 } }, /unknown option limits\.maxJobs/],
    [{ cellUrl: 'host' }, /option cellUrl/],
    [{ cells: {} }, /option cells must have a method getCell\(\)/],
    [{ auth: { check: () => true } }, /option auth must have a method verify\(\)/],
    [{ cors: 'all' }, /option cors/],
    [{ prefix: 'api' }, /option prefix/],
    [{ lease: { ttlMs: 1000, renewMs: 1000 } }, /lease\.renewMs must be less than lease\.ttlMs/],
    [{ unitUrl: 'https://unit.example' }, /option unitUrl/],
    [{ onError: 'log' }, /option onError must be a function/],
  ];
  for (const [change, message] of bad) {
    const error = t.throws(() => createCellSnapshotRouter({ ...base, ...change } as CellSnapshotOptions), { instanceOf: TypeError });
    t.regex(error?.message ?? '', message);
  }
  t.notThrows(() => createCellSnapshotRouter({ ...base, prefix: '/api/', limits: { maxRunningJobs: 2 } }));
});
