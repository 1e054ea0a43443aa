/**
 * A small streaming ZIP writer, in constant memory per entry, for archives of any number of entries.
 *
 * Why not yazl (`bench/yazl.ts`, BENCHMARKS.md): yazl 3.3.1 rescans its entry list from the start on
 * every state change (`pumpEntries` → `getFirstNotDoneEntry`), which grows with the square of the
 * number of entries, and deflates every `addBuffer` asynchronously, a thread-pool round trip per
 * entry. Driven with backpressure it took 9 to 12 times as long as this writer for 60,000 small
 * entries; a cell with 100,000 WebDAV files has 200,000 entries. This writer does O(1) work per
 * entry, coalesces small writes into 64 KiB chunks and honours the backpressure of its output. The
 * CRC-32, SHA-256 and deflate of every entry run on a thread of lower priority (`deflate-thread.ts`),
 * so that an export leaves the event loop and the CPU to the host's requests: streamed entries in
 * pieces, entries of known bytes (the `.pmeta` files and small contents) in batches of up to 256,
 * one message to the thread and back for each batch rather than a zlib call per entry on the event
 * loop.
 *
 * Format (APPNOTE 6.3): UTF-8 names (flag bit 11); entries whose bytes are known up front (the
 * manifest, `.pmeta`, small files) have their CRC and sizes in the local header; streamed entries
 * have flag bit 3, zero sizes in the local header and a data descriptor with its signature, in ZIP64
 * form (8-byte sizes) when a size does not fit 32 bits. The central directory carries an Info-ZIP
 * "UT" timestamp and, when a size or offset does not fit 32 bits (or ZIP64 is forced), a ZIP64
 * extended information field with all three values; the end records switch to ZIP64 when the count,
 * the size or the offset of the central directory require it. This is the form yazl and Go's
 * archive/zip write; `unzip -t`, Python's `zipfile`, Java's `ZipFile` and yauzl all read it.
 */
import { once } from 'node:events';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteSlabs } from '../util/byte-slabs.js';
import { type BatchDigest, DeflateThread } from './deflate-thread.js';
import { Meter } from './zip-meter.js';

/** What was written for one entry. */
export interface ZipEntryInfo {
  /** The entry path. */
  readonly path: string;
  /** Uncompressed bytes. */
  readonly size: number;
  /** Bytes as stored in the archive. */
  readonly compressedSize: number;
  /** Whether the entry is deflated (otherwise stored). */
  readonly deflated: boolean;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc32: number;
  /** SHA-256 of the uncompressed bytes, lowercase hex. */
  readonly sha256: string;
}

/** Options of a {@link ZipWriter}. */
export interface ZipWriterOptions {
  /** The timestamp of every entry. */
  readonly mtime: Date;
  /** Writes every central directory record and the end records in ZIP64 form. */
  readonly forceZip64?: boolean | undefined;
}

/** How a streamed entry is written. */
export interface ZipStreamOptions {
  /** Deflate (true) or store (false). */
  readonly compress: boolean;
  /** When given, the stream must yield exactly this many bytes, or the entry fails. */
  readonly expectedSize?: number | undefined;
  /** Called with the uncompressed length of every chunk as it is consumed. */
  readonly onChunk?: ((n: number) => void) | undefined;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_DESCRIPTOR = 0x08074b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_END = 0x06054b50;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const VERSION_MADE_BY = (3 << 8) | 45; // Unix, APPNOTE 4.5
const VERSION_DEFAULT = 20;
const VERSION_ZIP64 = 45;
const MAX32 = 0xffffffff;
const MAX16 = 0xffff;
const FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;
/** An entry of {@link ZipWriter.addBytes} waiting for its batch. */
interface QueuedEntry {
  readonly path: string;
  readonly name: Buffer;
  readonly data: Buffer;
  /** Whether the thread deflates it. */
  readonly deflate: boolean;
  /** The saving the deflated form must make to be kept, as a fraction; -1: kept whatever its size. */
  readonly keep: number;
  readonly onWritten: ((info: ZipEntryInfo) => void) | undefined;
}

/**
 * Entries of {@link ZipWriter.addBytes} sent to the deflate thread together, at most: one message
 * to the thread and back costs tens of microseconds, a `.pmeta`'s deflate about ten.
 */
export const BATCH_ENTRIES = 256;
/** Bytes of entries sent together: a batch is sent once it holds this much, whatever its count. */
export const BATCH_BYTES = 256 * 1024;
/** Batches sent and not yet written beyond which {@link ZipWriter.addBytes} asks its caller to wait (it then has three under way). */
const BATCHES_UNDER_WAY = 2;
/** Pending output is written out once it reaches this size. */
const FLUSH_BYTES = 64 * 1024;
/**
 * `'auto'` stores data shorter than this without trying to deflate it: deflate saves a few bytes at
 * most on so little, against the entry's own 80-odd bytes of headers, and costs a zlib call (about
 * 14 microseconds, most of an entry's time for a cell of one-line files).
 */
export const MIN_DEFLATE_BYTES = 64;

function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % 0x100000000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}

/** DOS date and time (local time, as Java and Info-ZIP write them), clamped to 1980-2107. */
function dosDateTime(date: Date): { date: number; time: number } {
  let d = date;
  const min = new Date(1980, 0, 1);
  const max = new Date(2107, 11, 31, 23, 59, 58);
  if (d < min) d = min;
  else if (d > max) d = max;
  return {
    date: (d.getDate() & 0x1f) | (((d.getMonth() + 1) & 0xf) << 5) | (((d.getFullYear() - 1980) & 0x7f) << 9),
    time: Math.floor(d.getSeconds() / 2) | ((d.getMinutes() & 0x3f) << 5) | ((d.getHours() & 0x1f) << 11),
  };
}

/** Throws unless `path` is a relative, forward-slash, non-climbing file path. */
function checkPath(path: string): Buffer {
  if (path === '' || path.startsWith('/') || path.endsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path)) {
    throw new Error(`invalid zip entry path ${JSON.stringify(path)}`);
  }
  if (path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new Error(`invalid zip entry path ${JSON.stringify(path)}`);
  }
  const name = Buffer.from(path, 'utf8');
  if (name.length > MAX16) throw new Error('zip entry path too long');
  return name;
}

/**
 * Writes a ZIP archive into a writable, one entry at a time. Every `add*` must be awaited before the
 * next call (a promise {@link ZipWriter.addBytes} returns, when it returns one);
 * {@link ZipWriter.finish} writes the central directory and the end records (it does not end the
 * output). {@link ZipWriter.destroy} stops everything in progress. Finish or destroy every writer:
 * either gives back the deflate thread it holds from its creation (an idle thread does not keep the
 * process alive).
 */
export class ZipWriter {
  #offset = 0;
  #count = 0;
  readonly #central = new ByteSlabs();
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #stop = new AbortController();
  readonly #dos: { date: number; time: number };
  readonly #unixSeconds: number;
  #busy = false;
  #finished = false;
  /** Room for the largest central directory record (a name of 65,535 bytes and both extra fields). */
  readonly #record = Buffer.allocUnsafe(46 + MAX16 + 9 + 28);
  /** Entries of {@link ZipWriter.addBytes} not yet sent to the deflate thread. */
  #open: QueuedEntry[] = [];
  #openBytes = 0;
  /** The batches sent and not yet written, oldest first: each settles once its entries are written. */
  readonly #batches: Promise<void>[] = [];
  /** The first failure of a batch, thrown by every later call. */
  #batchFailure: { readonly error: unknown } | undefined;
  /** The thread of the entries' CRC, hash and deflate, acquired with the writer. */
  #thread: DeflateThread | undefined;

  readonly #out: Writable;
  readonly #options: ZipWriterOptions;

  constructor(
    out: Writable,
    options: ZipWriterOptions,
  ) {
    this.#out = out;
    this.#options = options;
    this.#dos = dosDateTime(options.mtime);
    this.#unixSeconds = Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(options.mtime.getTime() / 1000)));
    // Every snapshot needs the thread: one that must start does so while the first entries are made.
    this.#thread = DeflateThread.acquire();
  }

  /** Bytes of the archive produced so far (written or about to be). */
  get bytesWritten(): number {
    return this.#offset;
  }

  /** Entries added so far. */
  get entries(): number {
    return this.#count;
  }

  /**
   * Stops the writer: the entry in progress fails, its streams are destroyed, its deflate thread
   * ends.
   */
  destroy(reason?: unknown): void {
    this.#stop.abort(reason);
    void this.#thread?.terminate();
    this.#thread = undefined;
  }

  #enter(): void {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
    if (this.#busy) throw new Error('ZipWriter: one entry at a time');
    if (this.#finished) throw new Error('ZipWriter: already finished');
    this.#busy = true;
  }

  #emit(bytes: Buffer): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    this.#offset += bytes.length;
  }

  /** Writes the pending bytes out when there are enough of them (or always, with `force`). */
  async #flush(force = false): Promise<void> {
    if (this.#pendingBytes === 0 || (!force && this.#pendingBytes < FLUSH_BYTES)) return;
    const chunk = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!this.#out.write(chunk)) await once(this.#out, 'drain', { signal: this.#stop.signal });
  }

  /**
   * A local file header. Every byte of it is written below, so it comes from Node's pool of small
   * buffers rather than a zeroed allocation of its own (a `malloc` per entry).
   */
  #localHeader(name: Buffer, flags: number, method: number, crc: number, compressedSize: number, size: number): Buffer {
    const header = Buffer.allocUnsafe(30 + name.length);
    header.writeUInt32LE(SIG_LOCAL, 0);
    header.writeUInt16LE(VERSION_DEFAULT, 4);
    header.writeUInt16LE(flags, 6);
    header.writeUInt16LE(method, 8);
    header.writeUInt16LE(this.#dos.time, 10);
    header.writeUInt16LE(this.#dos.date, 12);
    header.writeUInt32LE(crc >>> 0, 14);
    header.writeUInt32LE(compressedSize, 18);
    header.writeUInt32LE(size, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(0, 28);
    name.copy(header, 30);
    return header;
  }

  #addCentral(name: Buffer, flags: number, method: number, crc: number, compressedSize: number, size: number, offset: number): void {
    const zip64 = this.#options.forceZip64 === true || size > MAX32 - 1 || compressedSize > MAX32 - 1 || offset > MAX32 - 1;
    const extraLength = 9 + (zip64 ? 28 : 0);
    // Written whole (every byte below) into one reused buffer, then copied into the directory.
    const record = this.#record.subarray(0, 46 + name.length + extraLength);
    record.writeUInt32LE(SIG_CENTRAL, 0);
    record.writeUInt16LE(VERSION_MADE_BY, 4);
    record.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION_DEFAULT, 6);
    record.writeUInt16LE(flags, 8);
    record.writeUInt16LE(method, 10);
    record.writeUInt16LE(this.#dos.time, 12);
    record.writeUInt16LE(this.#dos.date, 14);
    record.writeUInt32LE(crc >>> 0, 16);
    record.writeUInt32LE(zip64 ? MAX32 : compressedSize, 20);
    record.writeUInt32LE(zip64 ? MAX32 : size, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt16LE(extraLength, 30);
    record.writeUInt16LE(0, 32); // comment
    record.writeUInt16LE(0, 34); // disk
    record.writeUInt16LE(0, 36); // internal attributes
    record.writeUInt32LE(FILE_ATTRIBUTES, 38);
    record.writeUInt32LE(zip64 ? MAX32 : offset, 42);
    name.copy(record, 46);
    let at = 46 + name.length;
    // Info-ZIP extended timestamp, modification time only.
    record.writeUInt16LE(0x5455, at);
    record.writeUInt16LE(5, at + 2);
    record.writeUInt8(1, at + 4);
    record.writeInt32LE(this.#unixSeconds, at + 5);
    at += 9;
    if (zip64) {
      record.writeUInt16LE(0x0001, at);
      record.writeUInt16LE(24, at + 2);
      writeUInt64(record, size, at + 4);
      writeUInt64(record, compressedSize, at + 12);
      writeUInt64(record, offset, at + 20);
    }
    this.#central.append(record);
    this.#count += 1;
  }

  /**
   * Adds an entry whose bytes are all known (at most 1 GiB). `compress`: `true` deflates, `false`
   * stores, `'auto'` deflates and keeps the deflated form only if it is smaller than the data by more
   * than the fraction `minSaving` (default 0: smaller at all); `'auto'` stores data shorter than
   * {@link MIN_DEFLATE_BYTES} without trying.
   *
   * The entry's CRC-32, SHA-256 and deflate are left to the deflate thread, with those of the
   * entries added next to it, in batches (see {@link BATCH_ENTRIES}); the entry is written once its
   * batch is back, in the order the entries were added, and `onWritten` then receives what was
   * written. Returns a promise when the caller must wait before adding more (the batches under way
   * are at their limit): otherwise `undefined`, so that an entry costs no promise. Throws at once
   * for an invalid path; a failure of an earlier batch (of the thread or of the output) is thrown
   * by the next call, or rejects the promise returned. Every other method first waits for the
   * batches.
   */
  addBytes(path: string, data: Buffer, compress: boolean | 'auto', minSaving = 0, onWritten?: (info: ZipEntryInfo) => void): Promise<void> | undefined {
    this.#enter();
    try {
      if (this.#batchFailure !== undefined) throw this.#batchFailure.error;
      const name = checkPath(path);
      if (data.length > 0x40000000) throw new Error('buffer too large for addBytes');
      const deflate = compress === true || (compress === 'auto' && data.length >= MIN_DEFLATE_BYTES);
      this.#open.push({ path, name, data, deflate, keep: compress === true ? -1 : minSaving, onWritten });
      this.#openBytes += data.length;
      if (this.#open.length < BATCH_ENTRIES && this.#openBytes < BATCH_BYTES) return undefined;
      this.#sendBatch();
      return this.#batches.length > BATCHES_UNDER_WAY ? (this.#batches[0] as Promise<void>) : undefined;
    } finally {
      this.#busy = false;
    }
  }

  /** Resolves once every entry added so far is written (rejects with a batch's failure). */
  async settle(): Promise<void> {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
    await this.#settleBatches();
  }

  /** Sends the open batch to the deflate thread; its entries are written once it is back, after the batch before it. */
  #sendBatch(): void {
    const entries = this.#open;
    this.#open = [];
    this.#openBytes = 0;
    if (this.#thread === undefined || this.#thread.failed) this.#thread = DeflateThread.acquire();
    const digest = this.#thread.batch(
      entries.map((entry) => entry.data),
      entries.map((entry) => entry.deflate),
    );
    digest.catch(() => undefined); // a batch after a failed one never looks at its own digest
    const previous = this.#batches.at(-1);
    const written = (previous === undefined ? digest : previous.then(() => digest))
      .then((measured) => this.#writeBatch(entries, measured))
      .catch((error: unknown) => {
        // The first failure stands for every batch after it; a destroyed writer's is its reason.
        this.#batchFailure ??= { error: this.#stop.signal.aborted ? this.#stop.signal.reason : error };
        throw this.#batchFailure.error;
      });
    this.#batches.push(written);
    written.then(
      () => {
        this.#batches.shift();
      },
      () => undefined,
    );
  }

  /** Writes a batch's entries, in order, as the thread measured them. */
  async #writeBatch(entries: readonly QueuedEntry[], measured: BatchDigest): Promise<void> {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
    let deflatedAt = 0;
    for (const [i, entry] of entries.entries()) {
      const { data } = entry;
      const crc = measured.crcs[i] as number;
      const deflatedLength = measured.deflatedLengths[i] as number;
      let stored = data;
      let method = 0;
      if (deflatedLength >= 0) {
        if (entry.keep < 0 || deflatedLength < data.length * (1 - entry.keep)) {
          stored = measured.deflated.subarray(deflatedAt, deflatedAt + deflatedLength);
          method = 8;
        }
        deflatedAt += deflatedLength;
      }
      const offset = this.#offset;
      this.#emit(this.#localHeader(entry.name, FLAG_UTF8, method, crc, stored.length, data.length));
      this.#emit(stored);
      this.#addCentral(entry.name, FLAG_UTF8, method, crc, stored.length, data.length, offset);
      entry.onWritten?.({
        path: entry.path,
        size: data.length,
        compressedSize: stored.length,
        deflated: method === 8,
        crc32: crc,
        sha256: measured.hashes[i] as string,
      });
    }
    await this.#flush();
  }

  /** Sends the open batch, and waits until every batch is written; rejects with a batch's failure. */
  async #settleBatches(): Promise<void> {
    if (this.#open.length > 0) this.#sendBatch();
    const last = this.#batches.at(-1);
    if (last !== undefined) await last;
    if (this.#batchFailure !== undefined) throw this.#batchFailure.error;
  }

  /**
   * Adds an entry streamed from `source`, deflated or stored; its CRC-32, SHA-256 and deflate run on
   * the writer's deflate thread (acquired with the writer, ended or pooled by
   * {@link ZipWriter.finish} and {@link ZipWriter.destroy}). Resolves once the whole stream was
   * consumed and written (with backpressure); rejects, destroying `source`, if the stream fails, its
   * length differs from `expectedSize`, the deflate thread fails, or the writer is destroyed.
   */
  async addStream(path: string, source: Readable, options: ZipStreamOptions): Promise<ZipEntryInfo> {
    try {
      this.#enter();
    } catch (error) {
      source.destroy();
      throw error;
    }
    try {
      const name = checkPath(path);
      await this.#settleBatches();
      const method = options.compress ? 8 : 0;
      const flags = FLAG_UTF8 | FLAG_DESCRIPTOR;
      const offset = this.#offset;
      this.#emit(this.#localHeader(name, flags, method, 0, 0, 0));
      if (this.#thread === undefined || this.#thread.failed) this.#thread = DeflateThread.acquire();
      const meter = new Meter(path, options.expectedSize, options.onChunk, options.compress, this.#thread);
      let compressedSize = 0;
      const sink = new Writable({
        highWaterMark: FLUSH_BYTES,
        write: (chunk: Buffer, _encoding, callback) => {
          compressedSize += chunk.length;
          this.#emit(chunk);
          this.#flush().then(() => callback(), callback);
        },
      });
      await pipeline([source, meter, sink], { signal: this.#stop.signal });
      const { crc, size } = meter;
      const zip64 = size > MAX32 - 1 || compressedSize > MAX32 - 1;
      const descriptor = Buffer.alloc(zip64 ? 24 : 16);
      descriptor.writeUInt32LE(SIG_DESCRIPTOR, 0);
      descriptor.writeUInt32LE(crc >>> 0, 4);
      if (zip64) {
        writeUInt64(descriptor, compressedSize, 8);
        writeUInt64(descriptor, size, 16);
      } else {
        descriptor.writeUInt32LE(compressedSize, 8);
        descriptor.writeUInt32LE(size, 12);
      }
      this.#emit(descriptor);
      this.#addCentral(name, flags, method, crc, compressedSize, size, offset);
      await this.#flush();
      return { path, size, compressedSize, deflated: options.compress, crc32: crc >>> 0, sha256: meter.digest };
    } catch (error) {
      source.destroy();
      throw this.#stop.signal.aborted ? this.#stop.signal.reason : error;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes the central directory and the end records, and everything still pending, and returns the
   * deflate thread to its pool. The output is not ended: the caller ends it.
   */
  async finish(): Promise<void> {
    this.#enter();
    try {
      await this.#settleBatches();
      const start = this.#offset;
      for (const chunk of this.#central.chunks()) {
        this.#emit(chunk);
        await this.#flush();
      }
      const size = this.#offset - start;
      const force = this.#options.forceZip64 === true;
      const zip64 = force || this.#count >= MAX16 || size >= MAX32 || start >= MAX32;
      if (zip64) {
        const end64 = Buffer.alloc(56);
        const at = this.#offset;
        end64.writeUInt32LE(SIG_ZIP64_END, 0);
        writeUInt64(end64, 44, 4);
        end64.writeUInt16LE(VERSION_MADE_BY, 12);
        end64.writeUInt16LE(VERSION_ZIP64, 14);
        end64.writeUInt32LE(0, 16);
        end64.writeUInt32LE(0, 20);
        writeUInt64(end64, this.#count, 24);
        writeUInt64(end64, this.#count, 32);
        writeUInt64(end64, size, 40);
        writeUInt64(end64, start, 48);
        this.#emit(end64);
        const locator = Buffer.alloc(20);
        locator.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
        locator.writeUInt32LE(0, 4);
        writeUInt64(locator, at, 8);
        locator.writeUInt32LE(1, 16);
        this.#emit(locator);
      }
      const end = Buffer.alloc(22);
      end.writeUInt32LE(SIG_END, 0);
      end.writeUInt16LE(0, 4);
      end.writeUInt16LE(0, 6);
      const count16 = force || this.#count >= MAX16 ? MAX16 : this.#count;
      end.writeUInt16LE(count16, 8);
      end.writeUInt16LE(count16, 10);
      end.writeUInt32LE(force || size >= MAX32 ? MAX32 : size, 12);
      end.writeUInt32LE(force || start >= MAX32 ? MAX32 : start, 16);
      end.writeUInt16LE(0, 20);
      this.#emit(end);
      await this.#flush(true);
      this.#finished = true;
      this.#thread?.release();
      this.#thread = undefined;
    } finally {
      this.#busy = false;
    }
  }
}
