/**
 * Reading a resource's `.pmeta` from a cell folder: small ones through the reused buffer, large ones
 * measured first, and every refusal named.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { readMeta } from '../../../lib/adapters/fs/dav-tree.js';
import { tempDir } from '../../helpers/tmp.js';

async function folderWith(dir: string, name: string, pmeta: string | undefined): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  if (pmeta !== undefined) await writeFile(join(folder, '.pmeta'), pmeta);
  return folder;
}

test('readMeta reads small and large .pmeta files alike, one after the other', async (t) => {
  const dir = await tempDir(t);
  const small = { t: 'dav.file', ct: 'text/plain' };
  const large = { t: 'dav.file', note: 'x'.repeat(40_000) };
  const a = await folderWith(dir, 'a', JSON.stringify(small));
  const b = await folderWith(dir, 'b', JSON.stringify(large));
  const c = await folderWith(dir, 'c', JSON.stringify({ t: 'col' }));
  t.deepEqual(readMeta(a, 'a', 1_000_000), small);
  t.deepEqual(readMeta(b, 'b', 1_000_000), large);
  t.deepEqual(readMeta(c, 'c', 1_000_000), { t: 'col' }, 'a short file after a long one: nothing of the long one is left over');
  const exact = await folderWith(dir, 'exact', JSON.stringify({ n: 'y'.repeat(16 * 1024 - 10) }));
  t.is((readMeta(exact, 'exact', 1_000_000)['n'] as string).length, 16 * 1024 - 10, 'exactly the buffer size');
});

test('readMeta refuses a .pmeta over the limit, whether it fits the buffer or not', async (t) => {
  const dir = await tempDir(t);
  const short = await folderWith(dir, 'short', JSON.stringify({ n: 'x'.repeat(200) }));
  const long = await folderWith(dir, 'long', JSON.stringify({ n: 'x'.repeat(30_000) }));
  t.throws(() => readMeta(short, 'short', 100), { message: /\.pmeta of WebDAV resource \[short\] is larger than 100 bytes/ });
  t.throws(() => readMeta(long, 'long', 20_000), { message: /\.pmeta of WebDAV resource \[long\] is larger than 20000 bytes/ });
});

test('readMeta: missing, a folder, a symbolic link, not JSON, not an object', async (t) => {
  const dir = await tempDir(t);
  const missing = await folderWith(dir, 'missing', undefined);
  t.throws(() => readMeta(missing, 'missing', 1000), { message: 'WebDAV resource [missing] has no .pmeta' });
  const folder = await folderWith(dir, 'folder', undefined);
  await mkdir(join(folder, '.pmeta'));
  t.throws(() => readMeta(folder, 'folder', 1000), { message: 'WebDAV resource [folder] has no .pmeta' });
  const linked = await folderWith(dir, 'linked', undefined);
  await writeFile(join(dir, 'elsewhere.json'), '{"t":"dav.file"}');
  await symlink(join(dir, 'elsewhere.json'), join(linked, '.pmeta'));
  t.throws(() => readMeta(linked, 'linked', 1000), { message: 'WebDAV resource [linked] has no .pmeta' });
  const broken = await folderWith(dir, 'broken', '{"t":');
  t.throws(() => readMeta(broken, 'broken', 1000), { message: '.pmeta of WebDAV resource [broken] is not valid JSON' });
  const array = await folderWith(dir, 'array', '[1,2]');
  t.throws(() => readMeta(array, 'array', 1000), { message: '.pmeta of WebDAV resource [array] is not a JSON object' });
});
