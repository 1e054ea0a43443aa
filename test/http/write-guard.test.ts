import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Koa from 'koa';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { createCellSnapshotRouter } from '../../lib/router.js';
import { ROOT_TOKEN, testAuth } from '../helpers/auth.js';
import { wrapCells } from '../helpers/cells.js';
import { send } from '../helpers/http.js';
import { FIXTURE_CELLS, listen } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const headers = { authorization: `Bearer ${ROOT_TOKEN}` };

test("writeGuard: the host's write routes answer 409 PR409-CM-0002 while a job runs on their cell", async (t) => {
  const dir = await tempDir(t);
  await cp(FIXTURE_CELLS, join(dir, 'cells'), { recursive: true });
  await mkdir(join(dir, 'snapshots'));
  const router = createCellSnapshotRouter({
    cellUrl: 'path',
    prefix: '/api',
    cells: wrapCells(new FsCellDataSource({ root: join(dir, 'cells') }), { delayMs: 150 }),
    snapshots: new FsSnapshotStore({ root: join(dir, 'snapshots') }),
    auth: testAuth,
  });
  const app = new Koa();
  app.use(router.middleware());
  app.use(router.writeGuard());
  app.use(async (ctx) => {
    ctx.body = { host: ctx.method };
  });
  const { origin } = await listen(t, app, router);

  t.is((await send(`${origin}/api/alice/box/file.txt`, 'PUT', { body: 'x' })).status, 200);
  t.is((await send(`${origin}/api/alice/__export`, 'POST', { headers, body: '{"Name":"guarded"}' })).status, 202);
  for (const method of ['PUT', 'POST', 'DELETE', 'MKCOL', 'PROPPATCH', 'MOVE']) {
    const res = await send(`${origin}/api/alice/box/file.txt`, method);
    t.is(res.status, 409, method);
    t.deepEqual(res.json(), {
      code: 'PR409-CM-0002',
      message: { lang: 'en', value: 'Because [cell export] is being executed, writing to cell can not be done.' },
    });
    t.truthy(res.headers['x-personium-version']);
  }
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'PROPFIND', 'REPORT']) {
    t.is((await send(`${origin}/api/alice/box/file.txt`, method)).status, 200, method);
  }
  t.is((await send(`${origin}/api/bob/box/file.txt`, 'PUT', { body: 'x' })).status, 200, 'other cells are not blocked');
  t.is((await send(`${origin}/api/nobody/x`, 'PUT', { body: 'x' })).status, 200, 'unknown cells pass through');
  t.is((await send(`${origin}/api/alice/__export`, 'DELETE', { headers })).status, 202);
  await waitFor(async () => (await send(`${origin}/api/alice/box/file.txt`, 'PUT', { body: 'x' })).status === 200);
  t.pass();
});
