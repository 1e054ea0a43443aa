/**
 * `@aws-sdk/client-s3` is an optional peer dependency: a process in which it cannot be resolved (a
 * module-resolution hook refuses it, as if it were not installed) still imports the package and runs
 * the CLI; only using an S3SnapshotStore needs it, and says so.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Registers a resolve hook that fails `@aws-sdk/*` like a missing package. */
const HIDE_SDK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) {
    const error = new Error('Cannot find package ' + specifier);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}\`));
`)}`;

const SCRIPT = `
const lib = await import('./lib/index.ts');
const store = new lib.S3SnapshotStore({ client: { send: async () => ({}) }, bucket: 'b', prefix: 'p/' });
const error = await store.list('0123456789abcdef0123456789abcdef').then(() => undefined, (e) => e.message);
let sdk = 'missing';
await import('@aws-sdk/client-s3').then(() => { sdk = 'present'; }, () => undefined);
console.log(JSON.stringify({ exports: typeof lib.createCellSnapshotRouter, sdk, error }));
`;

test('without @aws-sdk/client-s3 the package imports and the CLI runs; an S3 store says what it needs', async (t) => {
  const env = { ...process.env, NODE_NO_WARNINGS: '1' };
  const { stdout } = await run(process.execPath, ['--import=tsx', `--import=${HIDE_SDK}`, '--input-type=module', '-e', SCRIPT], { cwd: ROOT, env });
  const result = JSON.parse(stdout) as { exports: string; sdk: string; error: string };
  t.is(result.sdk, 'missing', 'the hook hides the SDK');
  t.is(result.exports, 'function');
  t.regex(result.error, /needs the optional peer dependency @aws-sdk\/client-s3/);
  const help = await run(process.execPath, ['--import=tsx', `--import=${HIDE_SDK}`, 'bin/koa-cell-snapshot.js', 'serve', '--help'], { cwd: ROOT, env });
  t.regex(help.stdout, /--snapshots WHERE/);
});
