/**
 * The deflate thread: its pieces make one raw deflate stream, its CRC-32 and SHA-256 are those of the
 * bytes, it runs at a lowered priority on Linux (and only it), it fails clearly, and an idle thread
 * neither keeps the process alive nor is lost between entries.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import test from 'ava';
import { DeflateThread } from '../../lib/snapshot/deflate-thread.js';
import { BACKGROUND_NICE_STEP } from '../../lib/util/inline-worker.js';
import { tempDir } from '../helpers/tmp.js';
import { HANG_MS, unlessHung } from '../helpers/wait.js';

const PIECE = 256 * 1024;

function text(bytes: number, seed: number): Buffer {
  let out = '';
  for (let i = 0; out.length < bytes; i += 1) out += `{"id":${seed + i},"name":"user-${(seed + i) % 977}","v":${((seed + i) * 7919) % 10007}}\n`;
  return Buffer.from(out.slice(0, bytes));
}

/** Sends `parts` as one entry, each through a piece of the thread; resolves to what came out. */
async function entry(thread: DeflateThread, parts: readonly Buffer[], compress: boolean): Promise<{ out: Buffer; crc: number; sha256: string }> {
  await thread.begin(compress);
  const replies = parts.map((part) => {
    const piece = thread.piece(PIECE);
    part.copy(piece);
    return thread.data(piece, part.length);
  });
  const outs = await Promise.all(replies);
  const { crc, sha256, tail } = await thread.end();
  return { out: Buffer.concat([...outs, tail]), crc, sha256 };
}

test('deflated pieces, large and small, concatenate into one raw deflate stream of the bytes, with their CRC-32 and SHA-256', async (t) => {
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  // A full piece, a piece under the 32 KiB window, one after it, random bytes, and text repeating
  // the first piece (which the dictionary lets deflate refer back to).
  const parts = [text(PIECE, 0), text(1000, 5), text(40_000, 9), randomBytes(100_000), text(PIECE, 0).subarray(0, 70_000)];
  const whole = Buffer.concat(parts);
  const { out, crc, sha256 } = await entry(thread, parts, true);
  t.true(inflateRawSync(out).equals(whole));
  t.is(crc, crc32(whole));
  t.is(sha256, createHash('sha256').update(whole).digest('hex'));
  t.true(out.length < whole.length * 0.6, `${out.length} bytes deflated for ${whole.length}`);
  // The thread serves the next entry from scratch.
  const second = await entry(thread, [text(5000, 3)], true);
  t.true(inflateRawSync(second.out).equals(text(5000, 3)));
});

test('a batch measures each entry on its own, deflating those asked, to the bytes zlib gives with its defaults, between the pieces of a streamed entry', async (t) => {
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  // Sizes around each smaller window the thread picks (its reach is the window less 262 bytes).
  const sizes = [0, 1, 100, 250, 251, 700, 762, 763, 1786, 1787, 5000, 40_000, 100_000];
  // And random bytes that repeat their first 64 bytes at a distance just within or past a reach.
  const echoes = [250, 251, 700, 762, 763, 1786, 1787, 3834, 3835].map((distance) => {
    const head = randomBytes(distance);
    return Buffer.concat([head, head.subarray(0, 64)]);
  });
  const entries = [...sizes.flatMap((size, i) => [text(size, i), randomBytes(size)]), ...echoes];
  const deflate = entries.map((_, i) => i < 2 * sizes.length ? i % 3 !== 2 : true);
  await thread.begin(true);
  const piece = thread.piece(PIECE);
  text(9000, 1).copy(piece);
  const streamed = thread.data(piece, 9000);
  const batch = await thread.batch(entries, deflate);
  const { tail } = await thread.end();
  t.true(inflateRawSync(Buffer.concat([await streamed, tail])).equals(text(9000, 1)), 'the streamed entry is not disturbed');
  let at = 0;
  for (const [i, entry] of entries.entries()) {
    t.is(batch.crcs[i], crc32(entry));
    t.is(batch.hashes[i], createHash('sha256').update(entry).digest('hex'));
    const length = batch.deflatedLengths[i] as number;
    if (!deflate[i]) {
      t.is(length, -1);
      continue;
    }
    const deflated = batch.deflated.subarray(at, at + length);
    at += length;
    t.deepEqual(deflated, deflateRawSync(entry), `entry ${i} of ${entry.length} bytes`);
  }
  t.is(at, batch.deflated.length);
});

test('a stored entry yields no bytes, only its CRC-32 and SHA-256; an empty entry has those of nothing', async (t) => {
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  const parts = [randomBytes(PIECE), randomBytes(10)];
  const whole = Buffer.concat(parts);
  const stored = await entry(thread, parts, false);
  t.is(stored.out.length, 0);
  t.is(stored.crc, crc32(whole));
  t.is(stored.sha256, createHash('sha256').update(whole).digest('hex'));
  const empty = await entry(thread, [], true);
  t.true(inflateRawSync(empty.out).equals(Buffer.alloc(0)));
  t.is(empty.crc, 0);
  t.is(empty.sha256, createHash('sha256').digest('hex'));
});

test('on Linux the thread lowers its own priority and no other thread\'s; elsewhere it keeps the process\'s', async (t) => {
  const before = getPriority();
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  const own = await thread.priority();
  t.is(getPriority(), before);
  t.is(own, process.platform === 'linux' ? Math.min(19, before + BACKGROUND_NICE_STEP) : before);
});

test('a request the thread cannot serve rejects with a clear error; the thread serves the next', async (t) => {
  const thread = new DeflateThread();
  t.teardown(() => thread.terminate());
  await thread.begin(true);
  // More bytes than the piece holds: the thread refuses the request, and stays well.
  const piece = thread.piece(PIECE);
  const error = await t.throwsAsync(unlessHung(thread.data(piece, PIECE + 1), 'the refused request'));
  t.regex(error?.message ?? '', /^the deflate thread failed: /);
  t.false(thread.failed);
  await thread.begin(false);
  const bytes = Buffer.from('still serving');
  const again = thread.piece(PIECE);
  bytes.copy(again);
  await thread.data(again, bytes.length);
  const digest = await thread.end();
  t.is(digest.crc, crc32(bytes));
});

test('ending a thread rejects its pending requests', async (t) => {
  const thread = new DeflateThread();
  await thread.begin(true);
  const pending = thread.data(thread.piece(PIECE), PIECE);
  await thread.terminate();
  const error = await t.throwsAsync(pending);
  t.is(error?.message, 'the deflate thread was stopped');
  t.true(thread.failed);
});

test('a released thread is the next one acquired; a failed one is not pooled', async (t) => {
  const first = DeflateThread.acquire();
  t.teardown(() => first.terminate());
  await first.begin(true);
  first.release();
  const again = DeflateThread.acquire();
  t.is(again, first);
  await again.terminate();
  again.release();
  const fresh = DeflateThread.acquire();
  t.teardown(() => fresh.terminate());
  t.not(fresh, first);
  t.false(fresh.failed);
});

test('an idle pooled thread does not keep the process alive', async (t) => {
  const module = fileURLToPath(new URL('../../lib/snapshot/deflate-thread.ts', import.meta.url));
  const script = join(await tempDir(t), 'idle.mts');
  await writeFile(
    script,
    `import { DeflateThread } from ${JSON.stringify(module)};
    const thread = DeflateThread.acquire();
    await thread.begin(true);
    const piece = thread.piece(1024);
    piece.fill(65);
    await thread.data(piece, 1024);
    await thread.end();
    thread.release();
    console.log('released');
    `,
  );
  // The child exits by itself once its script has run: the pooled thread does not hold it.
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', script], { timeout: HANG_MS });
  t.is(stdout.trim(), 'released');
});
