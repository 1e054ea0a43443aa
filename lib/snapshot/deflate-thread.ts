/**
 * The thread that does the CPU-heavy work of streamed zip entries: CRC-32, SHA-256 and deflate, at a
 * lowered priority, so that an export does not take the core from the host's event loop.
 *
 * Why a thread of its own: on a busy host the export's CPU work (deflate about 30 ms per MiB, the
 * hashes a few ms) competes with the host's requests for the same cores. On Linux the nice value is
 * per thread, so this thread lowers its own (by {@link NICE_STEP}) and leaves every other thread of
 * the process as it was: the host's event loop wins a core whenever it has work, the export uses
 * what is left. Deflate runs ON this thread, synchronously: zlib's stream API would send it to
 * libuv's thread pool, which runs at the process's priority. Node has no stateful synchronous
 * deflate, so each piece is deflated on its own with `finishFlush: Z_SYNC_FLUSH` (it ends
 * byte-aligned on an empty stored block) and the previous 32 KiB of the entry as its dictionary;
 * the pieces concatenate into one raw deflate stream, ended by an empty final block (`03 00`). The
 * dictionary keeps the size within a few hundredths of a percent of one deflate stream. On macOS
 * and Windows a thread cannot lower only its own priority (`os.setPriority(0, …)` would lower the
 * whole process), so there the thread runs at the process's priority.
 *
 * Requests are answered in order, one reply each. A thread that is idle holds no reference on the
 * event loop; a finished export returns its thread to a pool of one (an idle thread ends after
 * {@link IDLE_MS}), so that the next export does not wait for a thread to start (tens of ms).
 *
 * @module
 */
import type { Worker } from 'node:worker_threads';
import { startInlineWorker } from '../util/inline-worker.js';

/** How much the thread raises its nice value above the process's (capped at 19, the lowest). */
export const NICE_STEP = 10;

/** An idle pooled thread ends after this long. */
export const IDLE_MS = 30_000;

/** What the thread is started with. */
interface ThreadData {
  /** Nice values to add to the thread's own, or 0. */
  readonly niceStep: number;
}

/** A request to the thread. */
type Request =
  | { readonly op: 'begin'; readonly compress: boolean }
  | { readonly op: 'data'; readonly bytes: Uint8Array }
  | { readonly op: 'end' }
  | { readonly op: 'priority' };

/** A reply of the thread, in the order of the requests. */
interface Reply {
  /** Deflated bytes of a `data` or `end` request (empty when storing). */
  readonly out?: Uint8Array;
  /** The CRC-32 of the entry, on `end`. */
  readonly crc?: number;
  /** The SHA-256 of the entry in hex, on `end`. */
  readonly sha256?: string;
  /** The thread's nice value, on `priority`. */
  readonly priority?: number;
  /** Why the request failed. */
  readonly error?: string;
}

/** The thread's code: self-contained (see `startInlineWorker`). */
function deflateThreadMain(data: ThreadData): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const os = require('node:os') as typeof import('node:os');
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const crypto = require('node:crypto') as typeof import('node:crypto');
  const WINDOW = 32 * 1024;
  if (data.niceStep > 0 && process.platform === 'linux') {
    try {
      os.setPriority(Math.min(19, os.getPriority() + data.niceStep));
    } catch {
      // A thread may always lower its priority; should it fail, the thread runs at the process's.
    }
  }
  let compress = false;
  let crc = 0;
  let hash = crypto.createHash('sha256');
  let window: Buffer | undefined;
  const port = parentPort;
  if (port === null) return;
  /** A transferable copy of `bytes` unless it owns its whole memory. */
  const own = (bytes: Buffer): Uint8Array =>
    bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : new Uint8Array(bytes);
  const send = (reply: Reply): void => {
    const out = reply.out;
    port.postMessage(reply, out !== undefined && out.length > 0 ? [out.buffer as ArrayBuffer] : []);
  };
  port.on('message', (request: Request) => {
    try {
      if (request.op === 'begin') {
        compress = request.compress;
        crc = 0;
        hash = crypto.createHash('sha256');
        window = undefined;
        send({});
      } else if (request.op === 'data') {
        const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.length);
        crc = zlib.crc32(bytes, crc);
        hash.update(bytes);
        if (!compress) {
          send({});
          return;
        }
        const options: import('node:zlib').ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
        if (window !== undefined) options.dictionary = window;
        const out = own(zlib.deflateRawSync(bytes, options));
        window =
          bytes.length >= WINDOW || window === undefined
            ? Buffer.from(bytes.subarray(Math.max(0, bytes.length - WINDOW)))
            : Buffer.concat([window, bytes]).subarray(-WINDOW);
        send({ out });
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

let idle: DeflateThread | undefined;
let idleTimer: NodeJS.Timeout | undefined;

/**
 * One deflate thread, for one entry at a time: {@link DeflateThread.begin}, any number of
 * {@link DeflateThread.data}, {@link DeflateThread.end}. Requests may be sent without waiting for the
 * previous reply (they are answered in order). Once the thread fails, every request rejects.
 */
export class DeflateThread {
  readonly #worker: Worker;
  readonly #waiting: Waiter[] = [];
  #failure: Error | undefined;

  /** Starts a thread; `resourceLimits` bound its heap (the tests use them to make it fail). */
  constructor(options: { resourceLimits?: import('node:worker_threads').ResourceLimits } = {}) {
    this.#worker = startInlineWorker(deflateThreadMain, { niceStep: NICE_STEP }, options);
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
   * Adds `bytes` to the entry; resolves to their deflated form (empty when storing). `bytes` is
   * moved to the thread: it must own its whole memory (offset 0, the whole `ArrayBuffer`) and is
   * unusable afterwards; otherwise it is copied.
   */
  async data(bytes: Buffer): Promise<Buffer> {
    const movable = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length && !(bytes.buffer instanceof SharedArrayBuffer);
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    const reply = await this.#request({ op: 'data', bytes: view }, movable ? [bytes.buffer as ArrayBuffer] : []);
    const out = reply.out;
    return out === undefined ? Buffer.alloc(0) : Buffer.from(out.buffer, out.byteOffset, out.length);
  }

  /** Ends the entry: its CRC-32, its SHA-256 and the final deflated bytes. */
  async end(): Promise<EntryDigest> {
    const reply = await this.#request({ op: 'end' });
    const out = reply.out ?? new Uint8Array(0);
    return { crc: reply.crc ?? 0, sha256: reply.sha256 ?? '', tail: Buffer.from(out.buffer, out.byteOffset, out.length) };
  }

  /** The thread's own nice value (`os.getPriority()` inside it). */
  async priority(): Promise<number> {
    return (await this.#request({ op: 'priority' })).priority ?? 0;
  }
}
