/**
 * The meter of streamed entries: length checks on the event loop, and a deflate thread that fails
 * fails the entry with its error.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { DeflateThread } from '../../lib/snapshot/deflate-thread.js';
import { Meter, PIECE_BYTES } from '../../lib/snapshot/zip-meter.js';
import { unlessHung } from '../helpers/wait.js';

const sink = (): Writable => new Writable({ write: (_chunk, _encoding, callback) => callback() });

test('a deflate thread that has stopped fails the entry with its error', async (t) => {
  const thread = new DeflateThread();
  await thread.terminate();
  const meter = new Meter('f.bin', undefined, undefined, true, thread);
  const source = Readable.from([Buffer.alloc(PIECE_BYTES * 3, 1)], { objectMode: false });
  const error = await t.throwsAsync(unlessHung(pipeline(source, meter, sink()), 'the entry'));
  t.is(error?.message, 'the deflate thread was stopped');
});

test('more or fewer bytes than declared fail the entry, naming it', async (t) => {
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  const longer = pipeline(Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), new Meter('a/long', 15, undefined, true, thread), sink());
  await t.throwsAsync(longer, { message: '[a/long] is longer than its declared 15 bytes' });
  const shorter = pipeline(Readable.from([Buffer.alloc(10)]), new Meter('a/short', 15, undefined, false, thread), sink());
  await t.throwsAsync(shorter, { message: '[a/short] has 10 bytes, not its declared 15' });
  // The thread serves the next entry after those failures.
  const meter = new Meter('a/ok', 3, undefined, false, thread);
  await pipeline(Readable.from([Buffer.from('abc')]), meter, sink());
  t.is(meter.size, 3);
  t.is(meter.digest, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
