/**
 * The zip writer's entries, whose CRC-32, SHA-256 and deflate run on the deflate thread: streamed
 * entries in pieces, entries of known bytes in batches. The archive is valid for yauzl, Info-ZIP
 * `unzip -t` and Python's `zipfile`; entries are written in the order added; memory stays bounded
 * against an output that does not drain; destroying the writer stops an entry promptly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { BATCH_BYTES, BATCH_ENTRIES, MIN_DEFLATE_BYTES, ZipWriter, type ZipEntryInfo } from '../../lib/snapshot/zip.js';
import { PIECE_BYTES } from '../../lib/snapshot/zip-meter.js';
import { DeflateThread } from '../../lib/snapshot/deflate-thread.js';
import { tempDir } from '../helpers/tmp.js';
import { needing } from '../helpers/tools.js';
import { unlessHung, waitFor } from '../helpers/wait.js';
import { centralEntries, entryBytes, pyTestzip, run } from './zip-tools.js';

const unzipTest = needing(test, 'unzip');
const pythonTest = needing(test, 'python3');

/** Compressible text, random bytes, and text again, about 2.3 MB. */
function mixed(): Buffer {
  let text = '';
  for (let i = 0; text.length < 1_000_000; i += 1) text += `{"id":${i},"name":"user-${i % 977}","v":${(i * 7919) % 10007}}\n`;
  return Buffer.concat([Buffer.from(text), randomBytes(300_000), Buffer.from(text)]);
}

/** `data` in chunks of uneven sizes: tiny ones, ones larger than a piece, ones that straddle pieces. */
function unevenly(data: Buffer): Readable {
  const sizes = [1, 7, 70_000, PIECE_BYTES * 2 + 5, 3, 100_000];
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0, i = 0; at < data.length; i += 1) {
      const size = sizes[i % sizes.length] as number;
      yield data.subarray(at, at + size);
      at += size;
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

async function writeArchive(file: string, entries: readonly { path: string; data: Buffer; compress: boolean }[]) {
  const out = createWriteStream(file);
  const zip = new ZipWriter(out, { mtime: new Date(Date.UTC(2024, 0, 2)) });
  const infos = [];
  for (const entry of entries) infos.push(await zip.addStream(entry.path, unevenly(entry.data), { compress: entry.compress, expectedSize: entry.data.length }));
  await zip.finish();
  out.end();
  await once(out, 'finish');
  return infos;
}

async function sampleArchive(t: ExecutionContext) {
  const data = mixed();
  const file = join(await tempDir(t), 'a.zip');
  const entries = [
    { path: 'text/deflated.bin', data, compress: true },
    { path: 'stored.bin', data: data.subarray(0, 700_000), compress: false },
    { path: 'small.txt', data: Buffer.from('a small one'), compress: true },
    { path: 'empty.txt', data: Buffer.alloc(0), compress: true },
  ];
  const infos = await writeArchive(file, entries);
  return { file, entries, infos };
}

test('streamed entries deflated in pieces read back byte for byte with yauzl; sizes, CRC-32 and SHA-256 are those of the bytes', async (t) => {
  const { file, entries, infos } = await sampleArchive(t);
  const bytes = await entryBytes(file);
  const central = await centralEntries(file);
  for (const [i, entry] of entries.entries()) {
    t.true(bytes.get(entry.path)?.equals(entry.data), entry.path);
    const info = infos[i];
    t.is(info?.size, entry.data.length);
    t.is(info?.sha256, createHash('sha256').update(entry.data).digest('hex'));
    const record = central.find((c) => c.name === entry.path);
    t.is(record?.method, entry.compress ? 8 : 0);
    t.is(record?.crc32, info?.crc32);
    t.is(record?.compressedSize, info?.compressedSize);
  }
  // Deflated in pieces, the text still compresses as one stream would.
  t.true((infos[0]?.compressedSize ?? 0) < entries[0]!.data.length * 0.4);
});

unzipTest('Info-ZIP unzip -t accepts streamed entries deflated in pieces', async (t) => {
  const { file } = await sampleArchive(t);
  const result = await run('unzip', ['-t', file]);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.regex(result.stdout, /No errors detected/);
});

pythonTest("Python's zipfile accepts streamed entries deflated in pieces", async (t) => {
  const { file } = await sampleArchive(t);
  t.is(await pyTestzip(file), null);
});

test('an output that does not drain stops the source after a bounded number of bytes', async (t) => {
  let read = 0;
  const source = new Readable({
    read() {
      read += 65536;
      this.push(randomBytes(65536));
    },
  });
  // Accepts a first write, then never calls back.
  const stuck = new Writable({ highWaterMark: 1, write: () => undefined });
  const zip = new ZipWriter(stuck, { mtime: new Date() });
  const adding = zip.addStream('endless.bin', source, { compress: true });
  adding.catch(() => undefined);
  // Reading stops: the count holds still for a while once the pipeline is full.
  let last = -1;
  await waitFor(async () => {
    const still = read === last;
    last = read;
    await new Promise((resolve) => setTimeout(resolve, 200));
    return still && read === last;
  });
  t.true(read <= 16 * PIECE_BYTES, `${read} bytes read`);
  zip.destroy(new Error('done'));
  const error = await t.throwsAsync(unlessHung(adding, 'the destroyed entry'));
  t.is(error?.message, 'done');
  t.true(source.destroyed);
});

test('destroying the writer fails the streamed entry in progress with the reason and destroys its source', async (t) => {
  const source = new Readable({
    read() {
      this.push(randomBytes(PIECE_BYTES));
    },
  });
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const zip = new ZipWriter(sink, { mtime: new Date() });
  let consumed = 0;
  const adding = zip.addStream('big.bin', source, { compress: true, onChunk: (n) => (consumed += n) });
  await waitFor(async () => consumed > 4 * PIECE_BYTES);
  const reason = new Error('cancelled');
  zip.destroy(reason);
  const error = await t.throwsAsync(unlessHung(adding, 'the destroyed entry'));
  t.is(error, reason);
  t.true(source.destroyed);
  // The writer refuses further entries with the same reason.
  await t.throwsAsync(zip.addStream('next.bin', Readable.from([Buffer.from('x')]), { compress: true }), { is: reason });
});

/** Entries of known bytes: tiny, text and random, each with each way of compressing. */
function knownEntries(count: number): { path: string; data: Buffer; compress: boolean | 'auto' }[] {
  const ways = [true, false, 'auto'] as const;
  return Array.from({ length: count }, (_, i) => {
    const kind = i % 4;
    const data =
      kind === 0
        ? Buffer.from(`tiny ${i}`)
        : kind === 1
          ? Buffer.from(`{"i":${i},"t":"dav.file","ct":"text/plain"}`.repeat(1 + (i % 7)))
          : kind === 2
            ? randomBytes(100 + (i % 300))
            : Buffer.alloc(0);
    return { path: `e/${i}/${kind}`, data, compress: ways[i % 3] as boolean | 'auto' };
  });
}

test('entries of known bytes, in batches on the thread, are written in the order added, between streamed ones', async (t) => {
  const file = join(await tempDir(t), 'known.zip');
  const out = createWriteStream(file);
  const zip = new ZipWriter(out, { mtime: new Date(Date.UTC(2024, 0, 2)) });
  const entries = knownEntries(BATCH_ENTRIES * 3 + 17);
  const written: ZipEntryInfo[] = [];
  const half = Math.floor(entries.length / 2);
  for (const entry of entries.slice(0, half)) await zip.addBytes(entry.path, entry.data, entry.compress, 0, (info) => void written.push(info));
  const streamed = await zip.addStream('streamed.txt', Readable.from([Buffer.from('in the middle')]), { compress: true });
  for (const entry of entries.slice(half)) await zip.addBytes(entry.path, entry.data, entry.compress, 0, (info) => void written.push(info));
  await zip.finish();
  out.end();
  await once(out, 'finish');
  const order = [...entries.slice(0, half).map((e) => e.path), 'streamed.txt', ...entries.slice(half).map((e) => e.path)];
  t.deepEqual((await centralEntries(file)).map((c) => c.name), order);
  t.deepEqual(written.map((info) => info.path), entries.map((e) => e.path), 'onWritten in the order added');
  t.is(streamed.size, 13);
  const bytes = await entryBytes(file);
  const central = new Map((await centralEntries(file)).map((c) => [c.name, c]));
  for (const [i, entry] of entries.entries()) {
    const info = written[i] as ZipEntryInfo;
    t.true(bytes.get(entry.path)?.equals(entry.data), entry.path);
    t.is(info.sha256, createHash('sha256').update(entry.data).digest('hex'));
    t.is(info.size, entry.data.length);
    t.is(central.get(entry.path)?.crc32, info.crc32);
    t.is(central.get(entry.path)?.compressedSize, info.compressedSize);
    // true deflates, false stores, 'auto' keeps deflate only when it saves, and tries no tiny data.
    const deflated = entry.compress === true || (entry.compress === 'auto' && entry.data.length >= MIN_DEFLATE_BYTES && info.compressedSize < entry.data.length);
    t.is(info.deflated, deflated, entry.path);
    t.is(central.get(entry.path)?.method, deflated ? 8 : 0, entry.path);
  }
  t.true(written.some((info, i) => entries[i]?.compress === 'auto' && info.deflated), 'some text was worth deflating');
  t.true(written.some((info, i) => entries[i]?.compress === 'auto' && entries[i]!.data.length >= MIN_DEFLATE_BYTES && !info.deflated), 'random bytes were not');
});

unzipTest('Info-ZIP unzip -t accepts entries deflated in batches', async (t) => {
  const file = join(await tempDir(t), 'known.zip');
  const out = createWriteStream(file);
  const zip = new ZipWriter(out, { mtime: new Date() });
  for (const entry of knownEntries(600)) await zip.addBytes(entry.path, entry.data, entry.compress);
  await zip.finish();
  out.end();
  await once(out, 'finish');
  const result = await run('unzip', ['-t', file]);
  t.is(result.code, 0, result.stdout + result.stderr);
});

test('addBytes asks its caller to wait once a few batches are under way, against an output that does not drain', async (t) => {
  const stuck = new Writable({ highWaterMark: 1, write: () => undefined });
  const zip = new ZipWriter(stuck, { mtime: new Date() });
  let added = 0;
  let wait: Promise<void> | undefined;
  while (wait === undefined && added < 100 * BATCH_ENTRIES) {
    wait = zip.addBytes(`f/${added}`, randomBytes(1000), 'auto');
    added += 1;
  }
  t.not(wait, undefined);
  t.true(added <= 4 * Math.min(BATCH_ENTRIES, Math.ceil(BATCH_BYTES / 1000)), `${added} entries added before waiting`);
  wait?.catch(() => undefined);
  const reason = new Error('stopped');
  zip.destroy(reason);
  await t.throwsAsync(unlessHung(wait as Promise<void>, 'the wait'), { is: reason });
  t.throws(() => zip.addBytes('after', Buffer.from('x'), true), { is: reason });
});

test.serial('a batch the deflate thread cannot measure fails the writer: settle rejects, later calls throw', async (t) => {
  // The pool holds this thread: the writer's first batch goes to it, and it is stopped under the batch.
  const pooled = DeflateThread.acquire();
  pooled.release();
  const zip = new ZipWriter(new Writable({ write: (_chunk, _encoding, callback) => callback() }), { mtime: new Date() });
  for (let i = 0; i < BATCH_ENTRIES; i += 1) t.is(zip.addBytes(`f/${i}`, Buffer.from(`entry ${i} `.repeat(20)), true), undefined);
  await pooled.terminate();
  await t.throwsAsync(unlessHung(zip.settle(), 'the failed batch'), { message: 'the deflate thread was stopped' });
  t.throws(() => zip.addBytes('after', Buffer.from('x'), true), { message: 'the deflate thread was stopped' });
  await t.throwsAsync(zip.finish(), { message: 'the deflate thread was stopped' });
});

test('an output that fails while a batch is written fails the writer with its error', async (t) => {
  const broken = new Error('disk gone');
  const out = new Writable({ write: (_chunk, _encoding, callback) => callback(broken) });
  out.on('error', () => undefined);
  const zip = new ZipWriter(out, { mtime: new Date() });
  // More than one flush of output, in several batches.
  for (let i = 0; i < 3 * BATCH_ENTRIES; i += 1) {
    const wait = zip.addBytes(`f/${i}`, randomBytes(600), false);
    if (wait !== undefined) {
      await t.throwsAsync(unlessHung(wait, 'the failed batch'), { is: broken });
      break;
    }
  }
  await t.throwsAsync(unlessHung(zip.settle(), 'the failed writer'), { is: broken });
  t.throws(() => zip.addBytes('after', Buffer.from('x'), true), { is: broken });
});
