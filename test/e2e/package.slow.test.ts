/**
 * The package as consumers get it: `npm pack`, the tarball installed into fresh host projects on koa 2
 * and on koa 3, and in each an ESM host (`import`), a CommonJS host (`require`) and a TypeScript host
 * (type-checked against the shipped `.d.ts`) complete an export over HTTP. The README's embedding
 * example runs too, and fails closed without its secret. Minutes of packing and installing:
 * `npm run test:slow`.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { send } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const TSX = join(ROOT, 'node_modules/tsx/dist/esm/index.mjs');
const env = { ...process.env, NODE_NO_WARNINGS: '1' };

/** The body of a host app: mounts the router beside a route of its own, exports alice, prints the result. */
const BODY = `
const data = process.argv[2];
const router = createCellSnapshotRouter({
  cellUrl: 'path',
  cells: new FsCellDataSource({ root: data + '/cells' }),
  snapshots: new FsSnapshotStore({ root: data + '/snapshots' }),
  jobs: new FsJobStore({ root: data + '/jobs' }),
  auth: staticTokenAuth({ token: 'package-test-token' }),
});
const app = new Koa();
app.use(router.middleware());
app.use(async (ctx) => { ctx.body = 'host route'; });
const server = app.listen(0, '127.0.0.1', async () => {
  const address = server.address();
  const base = 'http://127.0.0.1:' + (typeof address === 'object' && address !== null ? address.port : 0);
  const headers = { authorization: 'Bearer package-test-token' };
  const post = await fetch(base + '/alice/__export', { method: 'POST', headers, body: '{"Name":"packed"}' });
  let status = '';
  for (let i = 0; i < 600 && status !== 'ready'; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await (await fetch(base + '/alice/__export', { headers })).json()).status;
  }
  const zip = await fetch(base + '/alice/__snapshot/packed.zip', { headers });
  const host = await (await fetch(base + '/elsewhere')).text();
  const error = new PersoniumError('PR404-DV-0003').status;
  console.log(JSON.stringify({ post: post.status, status, zip: zip.status, bytes: (await zip.arrayBuffer()).byteLength, host, error }));
  await router.close();
  server.close();
});
`;
const NAMES = 'createCellSnapshotRouter, staticTokenAuth, FsCellDataSource, FsSnapshotStore, FsJobStore, PersoniumError';
const ESM_APP = `import Koa from 'koa';\nimport { ${NAMES} } from 'koa-cell-snapshot';\n${BODY}`;
const CJS_APP = `const Koa = require('koa');\nconst { ${NAMES} } = require('koa-cell-snapshot');\n${BODY}`;

/** The README's embedding example, as the README shows it. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embedding it'));
  const match = /```ts\n([^]*?)```/.exec(section);
  if (match?.[1] === undefined) throw new Error('no example in the README');
  return match[1];
}

let packed: Promise<string> | undefined;
let packDir: string | undefined;

test.after.always(async () => {
  if (packDir !== undefined) await rm(packDir, { recursive: true, force: true });
});

/** `npm pack` of the repository, once for this file's tests; resolves to the tarball's path. */
function tarball(): Promise<string> {
  packed ??= (async () => {
    const work = await mkdtemp(join(tmpdir(), 'kcs-pack-'));
    packDir = work;
    await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT, maxBuffer: 16 * 2 ** 20 });
    const name = (await readdir(work)).find((file) => file.endsWith('.tgz'));
    if (name === undefined) throw new Error('npm pack made no tarball');
    return join(work, name);
  })();
  return packed;
}

/** A fresh host project with the tarball and koa of `major` installed. */
async function hostProject(t: ExecutionContext, major: 2 | 3): Promise<string> {
  const file = await tarball();
  const project = await tempDir(t, `kcs-host-koa${major}-`);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'host', private: true }));
  const types = major === 2 ? '@types/koa@^2.15' : '@types/koa@^3';
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', file, `koa@^${major}`, types, '@types/node@^20'], {
    cwd: project,
    maxBuffer: 16 * 2 ** 20,
  });
  const installed = JSON.parse(await readFile(join(project, 'node_modules/koa/package.json'), 'utf8')) as { version: string };
  if (!installed.version.startsWith(`${major}.`)) throw new Error(`koa ${installed.version} installed, not ${major}`);
  return project;
}

/** Copies the sample cells the package ships into a data directory. */
async function sampleData(project: string, dir: string): Promise<string> {
  await cp(join(project, 'node_modules/koa-cell-snapshot/fixtures/cells'), join(dir, 'cells'), { recursive: true });
  return dir;
}

for (const major of [2, 3] as const) {
  test(`koa ${major}: ESM, CommonJS and TypeScript hosts load the package and complete an export`, async (t) => {
    const project = await hostProject(t, major);
    await writeFile(join(project, 'app.mjs'), ESM_APP);
    await writeFile(join(project, 'app.cjs'), CJS_APP);
    await writeFile(join(project, 'app.mts'), ESM_APP);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], noEmit: true, skipLibCheck: false },
        files: ['app.mts'],
      }),
    );
    const typecheck = await run(process.execPath, [TSC, '-p', project]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    t.is(typecheck, '', 'the TypeScript host type-checks against the shipped .d.ts');

    for (const [file, loader] of [['app.mjs', []], ['app.cjs', []], ['app.mts', [`--import=${TSX}`]]] as const) {
      const data = await sampleData(project, join(project, `data-${file}`));
      const { stdout } = await run(process.execPath, [...loader, join(project, file), data], { cwd: project, env });
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
      t.like(result, { post: 202, status: 'ready', zip: 200, host: 'host route', error: 404 }, file);
      t.true(Number(result['bytes']) > 1000, file);
    }
    if (major === 3) {
      // Source maps carry their sources (lib/ is not shipped); no declaration map points at lib/.
      const dist = join(project, 'node_modules/koa-cell-snapshot/dist');
      const shipped = await readdir(dist, { recursive: true });
      t.false(shipped.some((name) => name.endsWith('.d.ts.map')), 'no declaration maps');
      const map = JSON.parse(await readFile(join(dist, 'router.js.map'), 'utf8')) as { sourcesContent?: string[] };
      t.regex(map.sourcesContent?.[0] ?? '', /createCellSnapshotRouter/, 'the map holds its source');
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', "console.log(Object.keys(await import('koa-cell-snapshot/contract')).sort().join(','))"], { cwd: project, env });
      t.is(stdout.trim(), 'cellDataSourceContract,jobStoreContract,snapshotStoreContract', 'the contract suites load too');
    }
  });
}

test("the README's embedding example: refuses to start without its secret; with it, only that secret gets in", async (t) => {
  const project = await hostProject(t, 3);
  await writeFile(join(project, 'embed.mts'), await readmeExample());
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], noEmit: true },
      files: ['embed.mts'],
    }),
  );
  t.is(await run(process.execPath, [TSC, '-p', project]).then(() => '', (error: { stdout?: string }) => error.stdout ?? String(error)), '');
  await sampleData(project, join(project, 'data'));
  const example = ['--import', TSX, join(project, 'embed.mts')];

  const withoutToken: NodeJS.ProcessEnv = { ...env };
  delete withoutToken['TOKEN'];
  const refused = await run(process.execPath, example, { cwd: project, env: withoutToken }).then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  t.is(refused?.code, 1, 'it does not start');
  t.regex(refused?.stderr ?? '', /Set TOKEN to a secret of at least 16 characters/);

  const port = await freePort();
  const secret = 'readme-example-secret-1234';
  const child = spawn(process.execPath, example, { cwd: project, env: { ...env, TOKEN: secret, PORT: String(port) }, stdio: 'ignore' });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}/alice/__export`;
  const anonymous = await waitFor(async () => send(url, 'GET').catch(() => undefined));
  t.is(anonymous.status, 401);
  t.is((await send(url, 'GET', { headers: { authorization: 'Bearer undefined' } })).status, 401);
  t.is((await send(url, 'GET', { headers: { authorization: `Bearer ${secret}` } })).status, 200);
  child.kill('SIGTERM');
  await once(child, 'exit');
});
