/**
 * Writing a staged file from chunks (`writeNewFile`): the bytes in order, a new file only, and on
 * every way out (done, abort, a failing source) no descriptor of the file left open. (A write that
 * fails on a full or read-only disk is tested through the import, in test/e2e/storage-faults.)
 */
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { writeNewFile } from '../../../lib/adapters/fs/new-file.js';
import { tempDir } from '../../helpers/tmp.js';

/** Whether this process holds a descriptor of `path`. */
async function isOpen(path: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === path) return true;
  }
  return false;
}

/** Chunks yielded one by one, counting how many were asked for and whether the source was closed. */
function source(chunks: Buffer[], then?: () => void): { iterable: AsyncIterable<Buffer>; asked: () => number; closed: () => boolean } {
  let asked = 0;
  let closed = false;
  async function* generate(): AsyncGenerator<Buffer> {
    try {
      for (const chunk of chunks) {
        asked += 1;
        yield chunk;
        then?.();
      }
    } finally {
      closed = true;
    }
  }
  return { iterable: generate(), asked: () => asked, closed: () => closed };
}

test.serial('the chunks are written in order, empty ones included, and the file is closed', async (t) => {
  const path = join(await tempDir(t), 'content');
  const chunks = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(3 * 1024 * 1024, 'b'), Buffer.from('é€😀')];
  const from = source(chunks);
  await writeNewFile(path, from.iterable, new AbortController().signal);
  t.deepEqual(await readFile(path), Buffer.concat(chunks));
  t.is(from.asked(), 4);
  t.false(await isOpen(path));
});

test.serial('a file that exists is refused with EEXIST before any chunk is asked for, and kept as it was', async (t) => {
  const path = join(await tempDir(t), 'content');
  await writeFile(path, 'old');
  const from = source([Buffer.from('new')]);
  const error = await t.throwsAsync(writeNewFile(path, from.iterable, new AbortController().signal));
  t.is((error as NodeJS.ErrnoException).code, 'EEXIST');
  t.is(from.asked(), 0);
  t.is(await readFile(path, 'utf8'), 'old');
});

test.serial('an abort stops at the next chunk with its reason; the source is closed, and so is the file', async (t) => {
  const path = join(await tempDir(t), 'content');
  const abort = new AbortController();
  const reason = new Error('cancelled');
  const from = source([Buffer.from('1'), Buffer.from('2'), Buffer.from('3'), Buffer.from('4')], () => abort.abort(reason));
  const error = await t.throwsAsync(writeNewFile(path, from.iterable, abort.signal));
  t.is(error, reason);
  t.is(from.asked(), 2, 'the chunk after the abort is not written');
  t.true(from.closed());
  t.is(await readFile(path, 'utf8'), '1');
  t.false(await isOpen(path));
  const already = await t.throwsAsync(writeNewFile(join(path, '..', 'other'), source([]).iterable, abort.signal));
  t.is(already, reason, 'an aborted signal creates nothing');
  t.deepEqual((await readdir(join(path, '..'))).sort(), ['content']);
});

test.serial("a source that fails rejects with its error, after the write under way ended; the file is closed", async (t) => {
  const path = join(await tempDir(t), 'content');
  const failure = new Error('corrupt entry');
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.alloc(4 * 1024 * 1024, 'x');
    throw failure;
  }
  const error = await t.throwsAsync(writeNewFile(path, failing(), new AbortController().signal));
  t.is(error, failure);
  t.false(await isOpen(path));
  t.is((await readFile(path)).length, 4 * 1024 * 1024, 'the write under way was waited for before the close');
});
