/**
 * The snapshot writer: streams an {@link ExportView} into a zip in the export_version 2 layout, in
 * constant memory whatever the size of the cell, through the module's own {@link ZipWriter} (see
 * `zip.ts` for why not yazl).
 *
 * How memory stays constant: one entry is written at a time; records flow through a pull-based
 * `Readable` that asks the view for the next record only when the zip writer wants more bytes; a
 * file's content is opened only when its turn comes and streamed (files over 64 KiB) or read whole
 * (up to 64 KiB); backpressure from `out` reaches every source. What grows with the cell is only
 * what the zip format itself needs at the end: the central directory (about 100 bytes per entry) and
 * the `99_integrity.json` lines (about 130 bytes per entry), both packed in 1 MiB slabs.
 */
import { Readable, type Writable } from 'node:stream';
import type { DavContent, DavNode, ExportView } from '../types.js';
import {
  CELL_PATH,
  CONTENT_NAME,
  INTEGRITY_PATH,
  MANIFEST_PATH,
  ODATA_FILES,
  PMETA_NAME,
  davFolder,
  manifestJson,
  recordJson,
} from './format.js';
import { recordBatches } from './lines.js';
import { TRIAL_MIN_SAVING, compressionOf, isPrecompressedType } from './compression.js';
import { ByteSlabs } from '../util/byte-slabs.js';
import { ZipWriter, type ZipEntryInfo } from './zip.js';
import { backgroundSlicer, paceBackground } from '../util/loop-pacer.js';

/** What a running export has written so far (the units of {@link ExportView.totals}). */
export interface WriteProgress {
  /** OData records written, the cell record not included. */
  records: number;
  /** WebDAV resources written. */
  davNodes: number;
  /** Bytes of WebDAV file content written (uncompressed). */
  bytes: number;
}

/** Options of {@link writeSnapshot}. */
export interface WriteSnapshotOptions {
  /** The `unit_url` of the manifest, ending in `/`. */
  unitUrl: string;
  /** The manifest's `create_date` and every entry's timestamp, epoch ms. Default: now. */
  createDate?: number | undefined;
  /** Aborts the write: it stops within a second and rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /**
   * Receives the progress while work advances, at most every `progressIntervalMs` and at least
   * every second, and once more with the final counts before the promise resolves. A throw from it
   * fails the write.
   */
  onProgress?: ((done: WriteProgress) => void) | undefined;
  /** The progress throttle, in ms. Default 250. */
  progressIntervalMs?: number | undefined;
  /**
   * Writes every central directory record and the end records in ZIP64 form even when not needed
   * (for tests of ZIP64 readers). ZIP64 is always used where the sizes require it.
   */
  forceZip64?: boolean | undefined;
}

const NEWLINE = 0x0a;

/** Files up to this size are read whole and written with their sizes known; larger ones are streamed. */
export const SMALL_FILE_BYTES = 64 * 1024;

/** Why a DAV path cannot be written, or `undefined` when it is fine. */
function badDavPath(path: string): string | undefined {
  if (path === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'control character or backslash';
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `segment [${segment}]`;
    if (segment === PMETA_NAME) return `segment [${PMETA_NAME}]`;
  }
  return undefined;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('content streams must yield bytes');
}

/**
 * Passes on a view's `.pjson` text ({@link ExportView.recordLines}), telling `count` how many lines
 * each piece holds, and lets the event loop run when the background job's time slice is spent. A
 * piece that does not end with a `\n` fails the write: lines of two pieces would run together.
 */
async function* countedLines(pieces: AsyncIterable<Buffer>, count: (lines: number) => void): AsyncGenerator<Buffer> {
  const slice = backgroundSlicer();
  for await (const piece of pieces) {
    if (piece.length === 0) continue;
    if (piece[piece.length - 1] !== NEWLINE) throw new Error('the export view gave .pjson text that does not end with a whole line');
    const pause = slice();
    if (pause !== undefined) await pause;
    let lines = 0;
    for (let at = piece.indexOf(NEWLINE); at >= 0; at = piece.indexOf(NEWLINE, at + 1)) lines += 1;
    count(lines);
    yield piece;
  }
}

/** One run of {@link writeSnapshot}. */
class WriteSession {
  readonly #zip: ZipWriter;
  readonly #integrity = new ByteSlabs();
  #integrityCount = 0;
  readonly #progress: WriteProgress = { records: 0, davNodes: 0, bytes: 0 };
  readonly #createDate: number;
  #lastReported = '';
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  readonly #waiters = new Set<(error: unknown) => void>();
  /** A content stream being read before it is handed to the zip writer. */
  #current: Readable | undefined;
  #resolveRun: () => void = () => undefined;
  #rejectRun: (error: unknown) => void = () => undefined;

  readonly #view: ExportView;
  readonly #out: Writable;
  readonly #options: WriteSnapshotOptions;

  constructor(
    view: ExportView,
    out: Writable,
    options: WriteSnapshotOptions,
  ) {
    this.#view = view;
    this.#out = out;
    this.#options = options;
    this.#createDate = options.createDate ?? Date.now();
    this.#zip = new ZipWriter(out, { mtime: new Date(this.#createDate), forceZip64: options.forceZip64 });
  }

  readonly #onAbort = (): void => {
    this.#fail(this.#options.signal?.reason ?? new Error('aborted'));
  };

  readonly #onOutError = (error: unknown): void => {
    this.#fail(error);
  };

  readonly #onOutClose = (): void => {
    // After 'finish', an auto-destroying stream closes before the write settles: that is success.
    if (!this.#out.writableFinished) this.#fail(new Error('the output closed before the snapshot was written'));
  };

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#resolveRun = resolve;
      this.#rejectRun = reject;
      const { signal } = this.#options;
      if (signal?.aborted === true) {
        this.#fail(signal.reason);
        return;
      }
      signal?.addEventListener('abort', this.#onAbort, { once: true });
      this.#out.on('error', this.#onOutError);
      this.#out.once('close', this.#onOutClose);
      if (this.#options.onProgress !== undefined) {
        this.#timer = setInterval(() => this.#report(), this.#options.progressIntervalMs ?? 250);
      }
      this.#produce().then(
        () => this.#succeed(),
        (error: unknown) => this.#fail(error),
      );
    });
  }

  #report(force = false): void {
    const { onProgress } = this.#options;
    if (onProgress === undefined || this.#settled) return;
    const key = `${this.#progress.records}/${this.#progress.davNodes}/${this.#progress.bytes}`;
    if (!force && key === this.#lastReported) return;
    this.#lastReported = key;
    try {
      onProgress({ ...this.#progress });
    } catch (error) {
      this.#fail(error);
    }
  }

  #succeed(): void {
    if (this.#settled) return;
    this.#report(true);
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    this.#resolveRun();
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#zip.destroy(error);
    this.#current?.destroy();
    for (const reject of this.#waiters) reject(error);
    this.#waiters.clear();
    this.#cleanup();
    this.#rejectRun(error);
  }

  #cleanup(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#out.removeListener('close', this.#onOutClose);
    // The 'error' listener stays, a no-op once settled, so that a late error of `out` cannot become
    // an uncaught exception because of this writer.
  }

  /** Settles as `promise` does, or rejects as soon as the write fails (without leaking listeners). */
  #guard<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#settled) {
        reject(new Error('snapshot write already settled'));
        return;
      }
      this.#waiters.add(reject);
      promise.then(
        (value) => {
          this.#waiters.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.#waiters.delete(reject);
          reject(error);
        },
      );
    });
  }

  /** Opens a content; a stream that arrives after the write failed is destroyed, not leaked. */
  #open(content: DavContent): Promise<Readable> {
    const opening = content.open();
    opening.then(
      (stream) => {
        if (this.#settled) stream.destroy();
      },
      () => undefined,
    );
    return this.#guard(opening);
  }

  /** Records a written entry for `99_integrity.json`. */
  readonly #remember = (entry: ZipEntryInfo): void => {
    const line = JSON.stringify({ path: entry.path, size: entry.size, sha256: entry.sha256 });
    this.#integrity.append(Buffer.from(this.#integrityCount === 0 ? line : `,${line}`));
    this.#integrityCount += 1;
  };

  /**
   * Adds an entry whose bytes are known; the zip writer measures and writes it in a batch with its
   * neighbours. Synchronous unless the zip writer asks to wait: then it returns the promise of that
   * wait (a cell of many small resources adds most entries without a promise).
   */
  #addBytes(path: string, bytes: Buffer, compress: boolean | 'auto', minSaving = 0): Promise<void> | undefined {
    if (this.#settled) throw new Error('snapshot write already settled');
    const wait = this.#zip.addBytes(path, bytes, compress, minSaving, this.#remember);
    return wait === undefined ? undefined : this.#guard(wait);
  }

  /** Writes a whole file content held in memory, compressed by {@link compressionOf}'s rule. */
  #addWhole(path: string, bytes: Buffer, contentType: unknown): Promise<void> | undefined {
    this.#progress.bytes += bytes.length;
    return this.#addBytes(path, bytes, compressionOf(contentType, bytes), TRIAL_MIN_SAVING);
  }

  async #produce(): Promise<void> {
    const view = this.#view;
    await this.#addBytes(MANIFEST_PATH, Buffer.from(manifestJson(this.#options.unitUrl, this.#createDate)), 'auto');
    const cell = await this.#guard(view.cellRecord());
    await this.#addBytes(CELL_PATH, Buffer.from(recordJson(cell)), 'auto');
    const countRecords = (count: number): void => {
      this.#progress.records += count;
    };
    for (const file of ODATA_FILES) {
      const lines = view.recordLines?.(file.type);
      const text =
        lines === undefined
          ? recordBatches(view.records(file.type), () => countRecords(1), backgroundSlicer())
          : countedLines(lines, countRecords);
      const stream = Readable.from(text, { objectMode: false });
      this.#remember(await this.#guard(this.#zip.addStream(file.path, stream, { compress: true })));
    }
    const nodes = view.dav()[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.#guard(nodes.next());
        if (next.done === true) break;
        const pending = this.#addNode(next.value);
        if (pending !== undefined) await pending;
        const pause = paceBackground();
        if (pause !== undefined) await this.#guard(pause);
      }
    } finally {
      // Stops the view's iteration on failure, without waiting for a view that may hang.
      if (this.#settled) nodes.return?.().catch(() => undefined);
    }
    // The integrity list is complete once the last small entries are written.
    await this.#guard(this.#zip.settle());
    const integrity = Readable.from(
      [Buffer.from('{"algorithm":"sha256","entries":['), ...this.#integrity.chunks(), Buffer.from(']}')],
      { objectMode: false },
    );
    await this.#guard(this.#zip.addStream(INTEGRITY_PATH, integrity, { compress: true }));
    await this.#guard(this.#zip.finish());
    const finished = new Promise<void>((resolve) => this.#out.once('finish', resolve));
    this.#out.end();
    await this.#guard(finished);
  }

  /**
   * Writes one resource: its `.pmeta`, then its content. Synchronous for a resource whose content
   * the view holds (or that has none) while no output is due: it returns a promise only when it must
   * wait, so a cell of small files costs no promise per resource.
   */
  #addNode(node: DavNode): Promise<void> | undefined {
    const problem = badDavPath(node.path);
    if (problem !== undefined) throw new Error(`invalid WebDAV path [${node.path}]: ${problem}`);
    const folder = davFolder(node.path);
    const meta = this.#addBytes(folder + PMETA_NAME, Buffer.from(JSON.stringify(node.meta)), 'auto');
    const { content } = node;
    if (content === undefined) {
      this.#progress.davNodes += 1;
      return meta;
    }
    if (meta === undefined && content.bytes !== undefined) {
      const written = this.#addHeld(folder + CONTENT_NAME, content.bytes, content.size, node.meta['ct']);
      this.#progress.davNodes += 1;
      return written;
    }
    return this.#addNodeContent(meta, folder + CONTENT_NAME, content, node.meta['ct']);
  }

  /** The rest of {@link WriteSession.#addNode} when it must wait: `.pmeta`'s write, then the content. */
  async #addNodeContent(meta: Promise<void> | undefined, path: string, content: DavContent, contentType: unknown): Promise<void> {
    await meta;
    await this.#addContent(path, content, contentType);
    this.#progress.davNodes += 1;
  }

  /** Writes a content the view holds ({@link DavContent.bytes}), which must be `size` bytes. */
  #addHeld(path: string, bytes: Buffer, size: number, contentType: unknown): Promise<void> | undefined {
    if (bytes.length !== size) throw new Error(`content of [${path}] has ${bytes.length} bytes, not its declared ${size}`);
    return this.#addWhole(path, bytes, contentType);
  }

  /**
   * Writes a file's content: stored for an already-compressed content type or an empty file;
   * otherwise deflated unless that saves less than 5% (judged on its first 16 KiB, see
   * `compression.ts`). Content the view already holds ({@link DavContent.bytes}) and content up to
   * 64 KiB are written whole with their sizes known; larger content is streamed.
   */
  async #addContent(path: string, content: DavContent, contentType: unknown): Promise<void> {
    const { size } = content;
    const countBytes = (n: number): void => {
      this.#progress.bytes += n;
    };
    if (content.bytes !== undefined) {
      await this.#addHeld(path, content.bytes, size, contentType);
      return;
    }
    if (size === 0) {
      (await this.#open(content)).destroy();
      await this.#addBytes(path, Buffer.alloc(0), false);
      return;
    }
    const source = await this.#open(content);
    if (isPrecompressedType(contentType) && size > SMALL_FILE_BYTES) {
      this.#remember(
        await this.#guard(this.#zip.addStream(path, source, { compress: false, expectedSize: size, onChunk: countBytes })),
      );
      return;
    }
    this.#current = source;
    const iterator = source[Symbol.asyncIterator]() as AsyncIterator<unknown>;
    const head: Buffer[] = [];
    let headBytes = 0;
    let ended = false;
    try {
      while (headBytes < SMALL_FILE_BYTES + 1) {
        const next = await this.#guard(iterator.next());
        if (next.done === true) {
          ended = true;
          break;
        }
        const chunk = toBuffer(next.value);
        head.push(chunk);
        headBytes += chunk.length;
        if (headBytes > size) throw new Error(`content of [${path}] is longer than its declared ${size} bytes`);
      }
    } catch (error) {
      source.destroy();
      throw error;
    } finally {
      this.#current = undefined;
    }
    const first = Buffer.concat(head, headBytes);
    if (ended) {
      if (first.length !== size) throw new Error(`content of [${path}] has ${first.length} bytes, not its declared ${size}`);
      await this.#addWhole(path, first, contentType);
      return;
    }
    // Not precompressed (those were streamed stored above): the trial decides.
    const compress = compressionOf(contentType, first) !== false;
    async function* rest(): AsyncGenerator<Buffer> {
      let done = false;
      try {
        yield first;
        for (;;) {
          const next = await iterator.next();
          if (next.done === true) {
            done = true;
            return;
          }
          yield toBuffer(next.value);
        }
      } finally {
        if (!done) source.destroy();
      }
    }
    this.#remember(
      await this.#guard(
        this.#zip.addStream(path, Readable.from(rest(), { objectMode: false }), {
          compress,
          expectedSize: size,
          onChunk: countBytes,
        }),
      ),
    );
  }
}

/**
 * Streams the view into `out` as a zip in the export_version 2 layout: `00_manifest.json`,
 * `10_odata/00_cell.json`, the 16 `.pjson` files, the `20_webdav/` tree in the view's order (each
 * resource's `.pmeta`, then its `content` for a file) and `99_integrity.json` last (the path, size
 * and SHA-256 of every other entry). Ends `out` and resolves when it has finished. Rejects on abort
 * (with the signal's reason) or on any error of the view or of `out`; it then destroys its own
 * streams and the view's content stream in progress, and leaves `out` unended but not destroyed (the
 * caller discards it). The view is not closed: that is the caller's.
 */
export function writeSnapshot(view: ExportView, out: Writable, options: WriteSnapshotOptions): Promise<void> {
  return new WriteSession(view, out, options).run();
}
