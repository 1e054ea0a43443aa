/**
 * The zip writer's streamed entries, whose CRC-32, SHA-256 and deflate run on the deflate thread in
 * pieces: the archive is valid for yauzl, Info-ZIP `unzip -t` and Python's `zipfile`; memory stays
 * bounded against an output that does not drain; destroying the writer stops an entry promptly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { ZipWriter } from '../../lib/snapshot/zip.js';
import { PIECE_BYTES } from '../../lib/snapshot/zip-meter.js';
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
