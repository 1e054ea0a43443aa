/**
 * The thread that does the CPU-heavy work of zip entries: CRC-32, SHA-256 and deflate, at a lowered
 * priority, so that an export does not take the core from the host's event loop. A streamed entry
 * comes in pieces (`begin`, `data`, `end`); entries whose bytes are known come in batches (`batch`),
 * each deflated whole by `zlib.deflateRawSync`.
 *
 * Why a thread of its own: on a busy host the export's CPU work (deflate about 30 ms per MiB, the
 * hashes a few ms) competes with the host's requests for the same cores. This thread lowers its own
 * priority (`BACKGROUND_NICE_STEP`, see `util/inline-worker.ts`; Linux only), so the scheduler
 * prefers the host's threads and the export uses what they leave. Deflate runs ON this thread,
 * synchronously: zlib's stream API would send it to libuv's thread pool, which runs at the
 * process's priority. Node has no stateful synchronous deflate, so each piece is deflated on its
 * own with `finishFlush: Z_SYNC_FLUSH` (it ends byte-aligned on an empty stored block) and the
 * previous 32 KiB of the entry as its dictionary; the pieces concatenate into one raw deflate
 * stream, ended by an empty final block (`03 00`). The dictionary keeps the size within a few
 * hundredths of a percent of one deflate stream.
 *
 * Requests are answered in order, one reply each. A thread that is idle holds no reference on the
 * event loop; a finished export returns its thread to a pool of one (an idle thread ends after
 * {@link IDLE_MS}), so that the next export does not wait for a thread to start (tens of ms).
 *
 * @module
 */
import type { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE_STEP, startInlineWorker } from '../util/inline-worker.js';

/** An idle pooled thread ends after this long. */
export const IDLE_MS = 30_000;

/** Pieces kept for reuse, at most. */
const FREE_PIECES = 4;

/** A request to the thread. */
type Request =
  | { readonly op: 'begin'; readonly compress: boolean }
  | { readonly op: 'data'; readonly piece: ArrayBuffer; readonly length: number }
  | { readonly op: 'end' }
  | { readonly op: 'batch'; readonly data: ArrayBuffer; readonly lengths: readonly number[]; readonly deflate: readonly boolean[] }
  | { readonly op: 'priority' };

/** A reply of the thread, in the order of the requests. */
interface Reply {
  /** Deflated bytes of a `data` or `end` request (empty when storing). */
  readonly out?: Uint8Array;
  /** The piece of a `data` request, handed back for reuse. */
  readonly piece?: ArrayBuffer;
  /** The CRC-32 of the entry, on `end`. */
  readonly crc?: number;
  /** The SHA-256 of the entry in hex, on `end`. */
  readonly sha256?: string;
  /** The thread's nice value, on `priority`. */
  readonly priority?: number;
  /** Each entry's CRC-32, on `batch`. */
  readonly crcs?: readonly number[];
  /** Each entry's SHA-256 in hex, on `batch`. */
  readonly hashes?: readonly string[];
  /** Each entry's deflated length within `out` (-1 when it was not deflated), on `batch`. */
  readonly deflatedLengths?: readonly number[];
  /** Why the request failed. */
  readonly error?: string;
}

/** The thread's code: self-contained (see `startInlineWorker`). */
function deflateThreadMain(): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const os = require('node:os') as typeof import('node:os');
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const crypto = require('node:crypto') as typeof import('node:crypto');
  const WINDOW = 32 * 1024;
  let compress = false;
  let crc = 0;
  let hash = crypto.createHash('sha256');
  // The last 32 KiB of the entry so far: the next piece's dictionary.
  const window = Buffer.allocUnsafe(WINDOW);
  let windowBytes = 0;
  const port = parentPort;
  if (port === null) return;
  const send = (reply: Reply): void => {
    const transfer: ArrayBuffer[] = [];
    if (reply.out !== undefined && reply.out.length > 0) transfer.push(reply.out.buffer as ArrayBuffer);
    if (reply.piece !== undefined) transfer.push(reply.piece);
    port.postMessage(reply, transfer);
  };
  const deflate = (bytes: Buffer): Uint8Array => {
    const options: import('node:zlib').ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (windowBytes > 0) options.dictionary = window.subarray(0, windowBytes);
    const out = zlib.deflateRawSync(bytes, options);
    if (bytes.length >= WINDOW) {
      bytes.copy(window, 0, bytes.length - WINDOW);
      windowBytes = WINDOW;
    } else {
      const keep = Math.min(windowBytes, WINDOW - bytes.length);
      window.copy(window, 0, windowBytes - keep, windowBytes);
      bytes.copy(window, keep);
      windowBytes = keep + bytes.length;
    }
    // Moved to the parent: it must own its whole memory.
    return out.byteOffset === 0 && out.buffer.byteLength === out.length ? out : new Uint8Array(out);
  };
  // A small entry is deflated with the smallest window that still reaches back over all of it
  // (zlib's farthest match is 262 bytes short of its window): the same bytes come out, and setting
  // up the smaller window costs less (9.5 µs against 11-13 µs for a 115-byte .pmeta, Node 20).
  const windows: import('node:zlib').ZlibOptions[] = [];
  const wholeOptions = (length: number): import('node:zlib').ZlibOptions => {
    let bits = 9;
    while (bits < 15 && (1 << bits) - 262 < length) bits += 1;
    return (windows[bits] ??= { windowBits: bits });
  };
  port.on('message', (request: Request) => {
    try {
      if (request.op === 'begin') {
        compress = request.compress;
        crc = 0;
        hash = crypto.createHash('sha256');
        windowBytes = 0;
        send({});
      } else if (request.op === 'data') {
        const bytes = Buffer.from(request.piece, 0, request.length);
        crc = zlib.crc32(bytes, crc);
        hash.update(bytes);
        send(compress ? { out: deflate(bytes), piece: request.piece } : { piece: request.piece });
      } else if (request.op === 'batch') {
        const input = Buffer.from(request.data);
        const crcs: number[] = [];
        const hashes: string[] = [];
        const deflatedLengths: number[] = [];
        const outs: Buffer[] = [];
        let at = 0;
        for (let i = 0; i < request.lengths.length; i += 1) {
          const bytes = input.subarray(at, at + (request.lengths[i] as number));
          at += bytes.length;
          crcs.push(zlib.crc32(bytes) >>> 0);
          hashes.push(crypto.hash('sha256', bytes, 'hex'));
          if (request.deflate[i] === true) {
            const deflated = zlib.deflateRawSync(bytes, wholeOptions(bytes.length));
            outs.push(deflated);
            deflatedLengths.push(deflated.length);
          } else {
            deflatedLengths.push(-1);
          }
        }
        const joined = Buffer.concat(outs);
        // Moved to the parent: it must own its whole memory.
        const out = joined.byteOffset === 0 && joined.buffer.byteLength === joined.length ? joined : new Uint8Array(joined);
        send({ out, crcs, hashes, deflatedLengths });
      } else if (request.op === 'end') {
        // An empty final block (fixed Huffman, end of block only) ends the raw deflate stream.
        send({ out: compress ? new Uint8Array([0x03, 0x00]) : new Uint8Array(0), crc: crc >>> 0, sha256: hash.digest('hex') });
      } else {
        send({ priority: os.getPriority() });
      }
    } catch (error) {
      send({ error: error instanceof Error ? error.message : String(error) });
    }
  });
}

interface Waiter {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

/** What a finished entry measured. */
export interface EntryDigest {
  /** CRC-32 of the uncompressed bytes. */
  readonly crc: number;
  /** SHA-256 of the uncompressed bytes, lowercase hex. */
  readonly sha256: string;
  /** The last deflated bytes (the final block), empty when storing. */
  readonly tail: Buffer;
}

/** What {@link DeflateThread.batch} measured, entry by entry in the order given. */
export interface BatchDigest {
  /** CRC-32 of each entry. */
  readonly crcs: readonly number[];
  /** SHA-256 of each entry, lowercase hex. */
  readonly hashes: readonly string[];
  /** Length of each entry's deflated bytes in {@link BatchDigest.deflated}, -1 when not deflated. */
  readonly deflatedLengths: readonly number[];
  /** The deflated bytes of the entries that were deflated, one after another. */
  readonly deflated: Buffer;
}

let idle: DeflateThread | undefined;
let idleTimer: NodeJS.Timeout | undefined;

/**
 * One deflate thread, for one streamed entry at a time ({@link DeflateThread.begin}, any number of
 * {@link DeflateThread.data}, {@link DeflateThread.end}) and for batches of whole entries
 * ({@link DeflateThread.batch}), which may come between those. Requests may be sent without waiting
 * for the previous reply (they are answered in order). Once the thread fails, every request rejects.
 */
export class DeflateThread {
  readonly #worker: Worker;
  readonly #waiting: Waiter[] = [];
  #failure: Error | undefined;
  /** Pieces back from the thread, for reuse: fresh memory costs page faults, reused memory does not. */
  readonly #free: Buffer[] = [];

  /** Starts a thread. */
  constructor() {
    this.#worker = startInlineWorker(deflateThreadMain, undefined, { niceStep: BACKGROUND_NICE_STEP });
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => {
      const waiter = this.#waiting.shift();
      if (this.#waiting.length === 0) this.#worker.unref();
      if (waiter === undefined) return;
      if (reply.error !== undefined) waiter.reject(new Error(`the deflate thread failed: ${reply.error}`));
      else waiter.resolve(reply);
    });
    this.#worker.on('error', (error: Error) => this.#fail(new Error(`the deflate thread failed: ${error.message}`, { cause: error })));
    this.#worker.on('exit', (code) => this.#fail(new Error(`the deflate thread stopped (exit code ${code})`)));
  }

  /** A thread from the pool, or a new one. */
  static acquire(): DeflateThread {
    const thread = idle;
    if (thread !== undefined) {
      idle = undefined;
      clearTimeout(idleTimer);
      return thread;
    }
    return new DeflateThread();
  }

  /**
   * Returns the thread to the pool when it is healthy, has no request pending and the pool is empty;
   * otherwise ends it.
   */
  release(): void {
    if (this.#failure !== undefined || this.#waiting.length > 0 || idle !== undefined) {
      void this.terminate();
      return;
    }
    idle = this;
    idleTimer = setTimeout(() => {
      if (idle === this) idle = undefined;
      void this.terminate();
    }, IDLE_MS);
    idleTimer.unref();
  }

  /** Whether the thread failed or was ended: it answers no more requests. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Ends the thread; requests still pending reject. */
  async terminate(): Promise<void> {
    this.#fail(new Error('the deflate thread was stopped'));
    await this.#worker.terminate();
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
  }

  #request(request: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<Reply>((resolve, reject) => {
      if (this.#waiting.length === 0) this.#worker.ref();
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage(request, transfer);
    });
  }

  /** Starts an entry, deflated or stored. */
  async begin(compress: boolean): Promise<void> {
    await this.#request({ op: 'begin', compress });
  }

  /**
   * A piece of `size` bytes to fill and pass to {@link DeflateThread.data}: one back from the thread
   * when there is one (pieces go round between the event loop and the thread), else a new one.
   */
  piece(size: number): Buffer {
    const piece = this.#free.pop();
    return piece !== undefined && piece.length === size ? piece : Buffer.allocUnsafeSlow(size);
  }

  /**
   * Adds the first `length` bytes of `piece` (from {@link DeflateThread.piece}) to the entry;
   * resolves to their deflated form (empty when storing). The piece's memory moves to the thread
   * and back, for reuse: it is not the caller's any more.
   */
  async data(piece: Buffer, length: number): Promise<Buffer> {
    const reply = await this.#request({ op: 'data', piece: piece.buffer as ArrayBuffer, length }, [piece.buffer as ArrayBuffer]);
    if (reply.piece !== undefined && this.#free.length < FREE_PIECES) this.#free.push(Buffer.from(reply.piece));
    const out = reply.out;
    return out === undefined ? Buffer.alloc(0) : Buffer.from(out.buffer, out.byteOffset, out.length);
  }

  /** Ends the entry: its CRC-32, its SHA-256 and the final deflated bytes. */
  async end(): Promise<EntryDigest> {
    const reply = await this.#request({ op: 'end' });
    const out = reply.out ?? new Uint8Array(0);
    return { crc: reply.crc ?? 0, sha256: reply.sha256 ?? '', tail: Buffer.from(out.buffer, out.byteOffset, out.length) };
  }

  /**
   * Measures whole entries, independently of any entry begun with {@link DeflateThread.begin}: the
   * CRC-32 and SHA-256 of each of `entries`, and the raw deflate of those whose `deflate` is true
   * (each a whole deflate stream of its own, as `zlib.deflateRawSync` makes it). The bytes are copied
   * to the thread in one buffer.
   */
  async batch(entries: readonly Buffer[], deflate: readonly boolean[]): Promise<BatchDigest> {
    let total = 0;
    for (const entry of entries) total += entry.length;
    const data = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (const entry of entries) at += entry.copy(data, at);
    const lengths = entries.map((entry) => entry.length);
    const reply = await this.#request({ op: 'batch', data: data.buffer as ArrayBuffer, lengths, deflate }, [data.buffer as ArrayBuffer]);
    const out = reply.out ?? new Uint8Array(0);
    return {
      crcs: reply.crcs ?? [],
      hashes: reply.hashes ?? [],
      deflatedLengths: reply.deflatedLengths ?? [],
      deflated: Buffer.from(out.buffer, out.byteOffset, out.length),
    };
  }

  /** The thread's own nice value (`os.getPriority()` inside it). */
  async priority(): Promise<number> {
    return (await this.#request({ op: 'priority' })).priority ?? 0;
  }
}
