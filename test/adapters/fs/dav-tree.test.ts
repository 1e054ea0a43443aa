/**
 * The WebDAV walker of the Fs cell source, run on its worker thread: order, what is a resource,
 * `.pmeta` reading and its refusals, small contents read whole, counts, batches larger than one,
 * stopping (early return, abort), and the thread's lowered priority.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { BATCH_RESOURCES, countDav, walkDav, type DavResource, type WalkOptions } from '../../../lib/adapters/fs/dav-tree.js';
import { BACKGROUND_NICE_STEP } from '../../../lib/util/inline-worker.js';
import { tempDir } from '../../helpers/tmp.js';

const OPTIONS: WalkOptions = { maxMetaBytes: 1_000_000, smallBytes: 64 * 1024 };

/** Makes `dav/<path>` with a `.pmeta` (unless `meta` is undefined) and a `content` (if given). */
async function resource(cellDir: string, path: string, meta: unknown, content?: Buffer | string): Promise<string> {
  const dir = join(cellDir, 'dav', path);
  await mkdir(dir, { recursive: true });
  if (meta !== undefined) await writeFile(join(dir, '.pmeta'), typeof meta === 'string' ? meta : JSON.stringify(meta));
  if (content !== undefined) await writeFile(join(dir, 'content'), content);
  return dir;
}

async function walkAll(cellDir: string, options = OPTIONS, signal = new AbortController().signal): Promise<DavResource[]> {
  const all: DavResource[] = [];
  for await (const batch of walkDav(cellDir, options, signal)) all.push(...batch);
  return all;
}

test('the root first, depth-first, siblings in code-unit order; folders without .pmeta walked, not yielded', async (t) => {
  const cell = await tempDir(t);
  await resource(cell, '', { t: 'Cell' });
  await resource(cell, '__', { t: 'col.box' });
  await resource(cell, '__/b.txt', { t: 'dav.file', n: 2 }, 'bee\n');
  await resource(cell, '__/a', { t: 'col' });
  await resource(cell, '__/a/Z.txt', { t: 'dav.file' }, '');
  await resource(cell, '__/plain/deep.txt', { t: 'dav.file' }, 'deep');
  await mkdir(join(cell, 'dav', '.pkeys'), { recursive: true });
  await writeFile(join(cell, 'dav', '.pkeys', '.pmeta'), '{}');
  const all = await walkAll(cell);
  t.deepEqual(
    all.map((r) => r.path),
    ['', '__', '__/a', '__/a/Z.txt', '__/b.txt', '__/plain/deep.txt'],
  );
  const file = all.find((r) => r.path === '__/b.txt');
  t.deepEqual(file?.meta, { t: 'dav.file', n: 2 });
  t.is(file?.contentSize, 4);
  t.deepEqual(file?.small, Buffer.from('bee\n'));
  const empty = all.find((r) => r.path === '__/a/Z.txt');
  t.is(empty?.contentSize, 0);
  t.is(empty?.small, undefined, 'an empty content is not read');
  t.is(all.find((r) => r.path === '__/a')?.contentSize, undefined, 'a collection has no content');
  t.deepEqual(await countDav(cell, new AbortController().signal), { davNodes: 6, bytes: 8 });
});

test('a content over smallBytes is sized, not read; links are neither resources nor content', async (t) => {
  const cell = await tempDir(t);
  await resource(cell, '', { t: 'Cell' });
  await mkdir(join(await resource(cell, 'folder-pmeta', undefined), '.pmeta'));
  await writeFile(join(cell, 'elsewhere.json'), '{}');
  await symlink(join(cell, 'elsewhere.json'), join(await resource(cell, 'linked-pmeta', undefined), '.pmeta'));
  await resource(cell, 'big', { t: 'dav.file' }, Buffer.alloc(70_000, 'x'));
  const linked = await resource(cell, 'linked', { t: 'dav.file' });
  await writeFile(join(cell, 'elsewhere'), 'secret');
  await symlink(join(cell, 'elsewhere'), join(linked, 'content'));
  await symlink(join(cell, 'dav', 'big'), join(cell, 'dav', 'loop'));
  const all = await walkAll(cell);
  t.deepEqual(
    all.map((r) => [r.path, r.contentSize, r.small?.length]),
    [
      ['', undefined, undefined],
      ['big', 70_000, undefined],
      // folder-pmeta and linked-pmeta have no regular .pmeta: not resources.
      ['linked', undefined, undefined],
    ],
  );
});

test('many resources come in several batches, whole and in order', async (t) => {
  const cell = await tempDir(t);
  const count = BATCH_RESOURCES * 2 + 7;
  const names = Array.from({ length: count }, (_, i) => `f${String(i).padStart(5, '0')}`);
  await resource(cell, '', { t: 'Cell' });
  for (const name of names) await resource(cell, name, { t: 'dav.file', name }, `${name}\n`);
  let batches = 0;
  const all: DavResource[] = [];
  for await (const batch of walkDav(cell, OPTIONS, new AbortController().signal)) {
    batches += 1;
    all.push(...batch);
  }
  t.true(batches >= 3, `${batches} batches`);
  t.deepEqual(
    all.map((r) => r.path),
    ['', ...names],
  );
  for (const r of all.slice(1)) {
    t.deepEqual(r.meta, { t: 'dav.file', name: r.path });
    t.deepEqual(r.small, Buffer.from(`${r.path}\n`));
  }
});

test('.pmeta refusals: over the limit (short or long), not JSON, not an object', async (t) => {
  const cases: [string, (cell: string) => Promise<void>, number, string][] = [
    ['short, over the limit', async (cell) => void (await resource(cell, 'x', { n: 'y'.repeat(200) })), 100, '.pmeta of WebDAV resource [x] is larger than 100 bytes'],
    ['long, over the limit', async (cell) => void (await resource(cell, 'x', { n: 'y'.repeat(30_000) })), 20_000, '.pmeta of WebDAV resource [x] is larger than 20000 bytes'],
    ['not JSON', async (cell) => void (await resource(cell, 'x', '{"t":')), 1000, '.pmeta of WebDAV resource [x] is not valid JSON'],
    ['not an object', async (cell) => void (await resource(cell, 'x', '[1]')), 1000, '.pmeta of WebDAV resource [x] is not a JSON object'],
  ];
  for (const [label, make, maxMetaBytes, message] of cases) {
    const cell = await tempDir(t);
    await resource(cell, '', { t: 'Cell' });
    await make(cell);
    await t.throwsAsync(walkAll(cell, { ...OPTIONS, maxMetaBytes }), { message }, label);
  }
  const cell = await tempDir(t);
  await resource(cell, 'long', { n: 'y'.repeat(30_000) });
  await resource(cell, 'short', { n: 'z' });
  t.deepEqual(
    (await walkAll(cell)).map((r) => (r.meta['n'] as string).length),
    [30_000, 1],
    'a long .pmeta read whole, and nothing of it left in the next',
  );
});

test('a cell without dav/ has no resources; an aborted walk rejects with the reason', async (t) => {
  const cell = await tempDir(t);
  t.deepEqual(await walkAll(cell), []);
  t.deepEqual(await countDav(cell, new AbortController().signal), { davNodes: 0, bytes: 0 });
  await resource(cell, '', { t: 'Cell' });
  for (let i = 0; i < BATCH_RESOURCES * 3; i += 1) await resource(cell, `f${i}`, { t: 'dav.file' }, 'x');
  const controller = new AbortController();
  const reason = new Error('stop');
  let seen = 0;
  const walking = (async () => {
    for await (const batch of walkDav(cell, OPTIONS, controller.signal)) {
      seen += batch.length;
      controller.abort(reason);
    }
  })();
  t.is(await t.throwsAsync(walking), reason);
  t.true(seen < BATCH_RESOURCES * 3, 'stopped before the end');
});

test('walks reuse their threads: one after another, and abandoned or aborted ones in between', async (t) => {
  const cell = await tempDir(t);
  await resource(cell, '', { t: 'Cell' });
  for (let i = 0; i < BATCH_RESOURCES * 2; i += 1) await resource(cell, `f${String(i).padStart(4, '0')}`, { t: 'dav.file' }, `${i}`);
  const signal = new AbortController().signal;
  const expected = await walkAll(cell);
  for (let round = 0; round < 3; round += 1) {
    // Abandoned after the first batch: its thread is ended, not pooled.
    for await (const batch of walkDav(cell, OPTIONS, signal)) {
      t.true(batch.length > 0);
      break;
    }
    t.deepEqual(await countDav(cell, signal), { davNodes: expected.length, bytes: expected.reduce((n, r) => n + (r.contentSize ?? 0), 0) });
    t.deepEqual((await walkAll(cell)).map((r) => r.path), expected.map((r) => r.path), `round ${round}`);
  }
});

/** The nice value of each thread of this process (Linux), from `/proc/self/task/<tid>/stat`. */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // The fields after the command name (which may hold spaces) start with the third; nice is the 19th.
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

test('on Linux the walker thread runs at the background priority, and no other thread is lowered', async (t) => {
  const cell = await tempDir(t);
  await resource(cell, '', { t: 'Cell' });
  const base = getPriority();
  const walked = await walkAll(cell);
  t.is(walked.length, 1);
  if (process.platform !== 'linux') {
    t.log('not Linux: a thread cannot lower only its own priority, so the walker keeps the process\'s');
    return;
  }
  // The walk's thread stays pooled after the walk, so it is still there to look at.
  const lowered = Math.min(19, base + BACKGROUND_NICE_STEP);
  const values = threadNiceValues();
  t.true(values.includes(lowered), `a thread at ${lowered} among ${values.join(', ')}`);
  t.is(getPriority(), base);
  t.true(values.every((nice) => nice === base || nice === lowered), values.join(', '));
});
