/**
 * The package as consumers get it: `npm pack`, install the tarball into a fresh host project, mount
 * the router in a plain JavaScript Koa app and in a TypeScript one (type-checked against the shipped
 * `.d.ts`), and complete an export with each. A minute of packing and installing: `npm run test:slow`.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const TSX = join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');

/** A host app: mounts the router beside a route of its own, exports alice over HTTP, prints the result. */
const APP = `
import Koa from 'koa';
import { createCellSnapshotRouter, FsCellDataSource, FsSnapshotStore, FsJobStore, PersoniumError } from 'koa-cell-snapshot';

const data = process.argv[2];
const router = createCellSnapshotRouter({
  cellUrl: 'path',
  cells: new FsCellDataSource({ root: data + '/cells' }),
  snapshots: new FsSnapshotStore({ root: data + '/snapshots' }),
  jobs: new FsJobStore({ root: data + '/jobs' }),
  auth: { verify: async ({ authorization }) => (authorization === 'Bearer t' ? { subject: 'owner', privileges: ['root'] } : undefined) },
});
const app = new Koa();
app.use(router.middleware());
app.use(async (ctx) => { ctx.body = 'host route'; });
const server = app.listen(0, '127.0.0.1', async () => {
  const address = server.address();
  const base = 'http://127.0.0.1:' + (typeof address === 'object' && address !== null ? address.port : 0);
  const headers = { authorization: 'Bearer t' };
  const post = await fetch(base + '/alice/__export', { method: 'POST', headers, body: '{"Name":"packed"}' });
  let status = '';
  for (let i = 0; i < 100 && status !== 'ready'; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await (await fetch(base + '/alice/__export', { headers })).json()).status;
  }
  const zip = await fetch(base + '/alice/__snapshot/packed.zip', { headers });
  const host = await (await fetch(base + '/elsewhere')).text();
  const contract = /*CONTRACT*/ '';
  console.log(JSON.stringify({ post: post.status, status, zip: zip.status, bytes: (await zip.arrayBuffer()).byteLength, host, error: new PersoniumError('PR404-DV-0003').status, contract }));
  await router.close();
  server.close();
});
`;

test('npm pack → install into a fresh project → JavaScript and TypeScript hosts complete an export', async (t) => {
  const work = await tempDir(t, 'kcs-pack-');
  await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT, maxBuffer: 16 * 2 ** 20 });
  const tarball = (await readdir(work)).find((name) => name.endsWith('.tgz'));
  if (tarball === undefined) return t.fail('npm pack made no tarball');

  const project = join(work, 'host');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball), 'koa@^3', '@types/node@^20'], {
    cwd: project,
    maxBuffer: 16 * 2 ** 20,
  });
  // The JavaScript host also loads the contract suites (a TypeScript user of them has ava's types).
  const contractKeys = "Object.keys(await import('koa-cell-snapshot/contract')).sort().join(',')";
  await writeFile(join(project, 'app.mjs'), APP.replace("/*CONTRACT*/ ''", contractKeys));
  await writeFile(join(project, 'app.ts'), APP);
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], noEmit: true, skipLibCheck: false },
      files: ['app.ts'],
    }),
  );
  const typecheck = await run(process.execPath, [TSC, '-p', project]).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  t.is(typecheck, '', 'the TypeScript host type-checks against the shipped .d.ts');

  for (const [file, loader] of [['app.mjs', []], ['app.ts', [`--import=${TSX}`]]] as const) {
    const data = join(work, `data-${file}`);
    await cp(join(project, 'node_modules/koa-cell-snapshot/fixtures/cells'), join(data, 'cells'), { recursive: true });
    const { stdout } = await run(process.execPath, [...loader, join(project, file), data], { cwd: project, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    t.like(result, { post: 202, status: 'ready', zip: 200, host: 'host route', error: 404 }, file);
    if (file === 'app.mjs') t.is(result['contract'], 'cellDataSourceContract,jobStoreContract,snapshotStoreContract');
    t.true(Number(result['bytes']) > 1000, file);
  }
});
