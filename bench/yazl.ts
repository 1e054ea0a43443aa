/**
 * Why the snapshot writer is not yazl: the same N small entries (`.pmeta`-sized JSON, 55-255 bytes,
 * deflated at zlib's default level) written to a file by our ZipWriter and by yazl, each writer run in
 * its own process, with time and peak memory (maxRSS). Every archive is verified before its row is
 * printed (yauzl: entry count, names in order, every entry's bytes; then `unzip -tqq` when present,
 * which checks the CRC-32s), so no row can come from broken output.
 *
 * yazl is driven three ways; the first is the headline comparison:
 *   - `yazl addBuffer, ≤64 in flight`: backpressured, see {@link yazlWindowed};
 *   - `yazl addReadStreamLazy`: the README's way of holding nothing until yazl asks for the entry;
 *   - `yazl addBuffer, all at once`: every entry added before the first is written (what this
 *     benchmark used to do; yazl starts N deflates at once).
 * Our ZipWriter is driven as the snapshot writer drives it: `addBytes` for each entry, awaiting only
 * the promise it returns when it asks to wait (its CRC-32, SHA-256 and deflate run in batches on its
 * deflate thread). `'auto'`: entries under 64 bytes are stored untried, the others deflated and
 * stored only when deflate would be larger; the archive column shows how many entries each writer
 * stored deflated.
 *
 *   npx tsx bench/yazl.ts [N ...]     (default: 5000 20000 60000)
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { ZipWriter } from '../lib/snapshot/zip.js';

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);

/** Entries handed to yazl but not yet written by it, at most (see {@link yazlWindowed}). */
const WINDOW = 64;

const WRITERS = {
  ours: 'ours (ZipWriter.addBytes, waiting when it asks)',
  window: `yazl addBuffer, ≤${WINDOW} in flight`,
  lazy: 'yazl addReadStreamLazy',
  eager: 'yazl addBuffer, all at once',
} as const;
type Writer = keyof typeof WRITERS;

function entry(i: number): Buffer {
  return Buffer.from(`{"i":"entry-${i}","t":"dav.file","p":${i},"u":${i * 7},"note":"${'x'.repeat(i % 200)}"}`);
}

const entryName = (i: number): string => `20_webdav/f${i}/.pmeta`;

/**
 * Passes yazl's output through and counts the entries yazl has written. yazl writes entries strictly
 * in order and each local file header as its own `write()` (for `addBuffer`: header, then the deflated
 * bytes), so a chunk that is exactly one local header (signature, 30 bytes + name + extra) marks one
 * entry being written.
 */
class EntryCounter extends Transform {
  written = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length >= 30 && chunk.readUInt32LE(0) === 0x04034b50 && chunk.length === 30 + chunk.readUInt16LE(26) + chunk.readUInt16LE(28)) {
      this.written += 1;
      this.emit('entry');
    }
    callback(null, chunk);
  }
}

/**
 * yazl with backpressure. Its README promises bounded memory and throttles its output with `pipe()`,
 * but documents no per-entry completion event and no window size for `addBuffer`, which starts an
 * asynchronous deflate for each buffer as soon as it is added. So the caller bounds itself: at most
 * {@link WINDOW} entries added and not yet written (counted by {@link EntryCounter}), waiting for
 * yazl to write one before adding the next; the output is piped to the file, so a slow disk holds
 * yazl back through `pipe()`. Why 64: at most 64 buffers and zlib states are pending, and it is not
 * a window that handicaps yazl (20,000 entries on 2 cores: windows of 4-32 took 9.5-13 s, 64-512
 * 5.8-6.9 s, 1 took 6.4 s).
 */
async function yazlWindowed(count: number, out: string, mtime: Date): Promise<void> {
  const zip = new yazl.ZipFile();
  const counter = new EntryCounter();
  const done = pipeline(zip.outputStream, counter, createWriteStream(out));
  for (let i = 0; i < count; i += 1) {
    while (i - counter.written >= WINDOW) await once(counter, 'entry');
    zip.addBuffer(entry(i), entryName(i), { mtime });
  }
  zip.end();
  await done;
}

async function child(writer: Writer, count: number, out: string): Promise<void> {
  const started = performance.now();
  const mtime = new Date();
  if (writer === 'window') {
    await yazlWindowed(count, out, mtime);
  } else if (writer === 'lazy') {
    // yazl calls each function only when it is about to write that entry (one entry at a time), so
    // registering all of them up front holds no data (the README recommends it over addReadStream).
    const zip = new yazl.ZipFile();
    const done = pipeline(zip.outputStream, createWriteStream(out));
    for (let i = 0; i < count; i += 1) {
      zip.addReadStreamLazy(entryName(i), { mtime }, (cb) => cb(null, Readable.from([entry(i)], { objectMode: false })));
    }
    zip.end();
    await done;
  } else if (writer === 'eager') {
    const zip = new yazl.ZipFile();
    const done = pipeline(zip.outputStream, createWriteStream(out));
    for (let i = 0; i < count; i += 1) zip.addBuffer(entry(i), entryName(i), { mtime });
    zip.end();
    await done;
  } else {
    const file = createWriteStream(out);
    const zip = new ZipWriter(file, { mtime });
    // As the snapshot writer drives it: wait only when the writer asks to.
    for (let i = 0; i < count; i += 1) {
      const wait = zip.addBytes(entryName(i), entry(i), 'auto');
      if (wait !== undefined) await wait;
    }
    await zip.finish();
    file.end();
    await new Promise<void>((resolve) => file.once('finish', () => resolve()));
  }
  const ms = Math.round(performance.now() - started);
  process.stdout.write(JSON.stringify({ ms, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

interface Verified {
  readonly deflated: number;
  readonly bytes: number;
  readonly unzip: boolean;
}

/** Reads the archive back: `count` entries, named in order, each holding exactly its bytes. */
async function verify(path: string, count: number): Promise<Verified> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  let deflated = 0;
  let i = 0;
  try {
    if (zip.entryCount !== count) throw new Error(`${path}: ${zip.entryCount} entries in the central directory, expected ${count}`);
    for await (const found of zip.eachEntry()) {
      if (found.fileName !== entryName(i)) throw new Error(`${path}: entry ${i} is ${found.fileName}`);
      if (found.compressionMethod === 8) deflated += 1;
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(found)) chunks.push(chunk as Buffer);
      if (!Buffer.concat(chunks).equals(entry(i))) throw new Error(`${path}: entry ${i} has the wrong bytes`);
      i += 1;
    }
  } finally {
    zip.close();
  }
  if (i !== count) throw new Error(`${path}: read ${i} entries, expected ${count}`);
  let unzip = false;
  try {
    await run('unzip', ['-tqq', path], { maxBuffer: 64 * 2 ** 20 });
    unzip = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: unzip -t failed: ${String(error)}`);
  }
  return { deflated, bytes: (await stat(path)).size, unzip };
}

interface Measure {
  readonly ms: number;
  readonly maxRssMb: number;
}

if (process.argv[2] === 'child') {
  const writer = process.argv[3] ?? '';
  if (!Object.hasOwn(WRITERS, writer)) throw new Error(`unknown writer ${writer}`);
  await child(writer as Writer, Number(process.argv[4]), process.argv[5] ?? '');
} else {
  const counts = process.argv.slice(2).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const yazlVersion = (createRequire(import.meta.url)('yazl/package.json') as { version: string }).version;
  const work = await mkdtemp(join(tmpdir(), 'kcs-yazl-'));
  try {
    console.log(`node ${process.version}, yazl ${yazlVersion}, ${(await run('nproc')).stdout.trim()} cores; each row is one run in its own process\n`);
    console.log('| entries | writer | time | time ÷ ours | peak RSS | peak RSS ÷ ours | archive (verified) |');
    console.log('|---|---|---|---|---|---|---|');
    for (const count of counts.length > 0 ? counts : [5000, 20000, 60000]) {
      let ours: Measure | undefined;
      for (const writer of Object.keys(WRITERS) as Writer[]) {
        const out = join(work, `${writer}-${count}.zip`);
        const { stdout } = await run(process.execPath, ['--import=tsx', SELF, 'child', writer, String(count), out], { maxBuffer: 2 ** 20 });
        const measured = JSON.parse(stdout) as Measure;
        const checked = await verify(out, count);
        await rm(out, { force: true });
        ours ??= measured;
        const ratio = (a: number, b: number) => (writer === 'ours' ? '1' : (a / b).toFixed(1));
        const archive = `${count} entries, ${checked.deflated} deflated, ${(checked.bytes / 2 ** 20).toFixed(1)} MiB${checked.unzip ? ', `unzip -t` ok' : ''}`;
        console.log(
          `| ${count} | ${WRITERS[writer]} | ${measured.ms} ms | ${ratio(measured.ms, ours.ms)} | ${measured.maxRssMb} MB | ` +
            `${ratio(measured.maxRssMb, ours.maxRssMb)} | ${archive} |`,
        );
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
