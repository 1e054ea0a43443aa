/**
 * The snapshot reader: opens a stored archive through a {@link RandomAccessSource}, vets its whole
 * central directory before reading a byte of data, and streams its records and WebDAV tree, every
 * byte verified (CRC-32 always, size and SHA-256 against `99_integrity.json` when present).
 *
 * yauzl parses the zip through a block-cached random-access reader (`block-reader.ts`): a central
 * directory of 100,000 entries costs a few dozen source reads, not 200,000. The central directory is
 * vetted in `central-directory.ts`, entry data read and checked in `entry-data.ts` and
 * `verifying-stream.ts`; this module opens a snapshot and reads its records and tree.
 *
 * What `openSnapshot` refuses, and with which code:
 * - not a zip, truncated, or a central directory yauzl cannot parse: `PR400-MC-0004`;
 * - `PR400-SN-0002` (the message names the reason): an entry name that is empty, not UTF-8, absolute
 *   (`/…` or a drive letter), holds a backslash, a NUL or control character, or an empty, `.` or
 *   `..` segment; a symbolic link or other special file (Unix mode in the external attributes); an
 *   encrypted entry; a compression method other than stored or deflate; a directory entry with data;
 *   two entries with the same name (also after removing a trailing `/`); a name that is both a file
 *   and a folder; entries whose byte ranges overlap (or reach into the central directory); more
 *   entries than `maxEntries`; declared uncompressed sizes summing over `maxUncompressedBytes`, or
 *   over both 1 GiB and `maxCompressionRatio` times the archive's size (a compression bomb; declared
 *   sizes are then enforced while reading, so they cannot lie); a WebDAV `content` without the
 *   `.pmeta` beside it;
 * - `00_manifest.json` missing: `PR400-MC-0001`; over 1 MiB: `PR400-SN-0002`; not a JSON object:
 *   `PR400-CM-0004`; `export_version` not the number 2: `PR400-MC-0003`; then the first missing
 *   required entry, in {@link REQUIRED_PATHS} order: `PR400-MC-0001`.
 *
 * Entries outside the known layout are **ignored**, not refused: anything at the top level other
 * than the manifest, `10_odata/`, `20_webdav/` and `99_integrity.json`; anything in `10_odata/`
 * other than `00_cell.json` and the 16 `.pjson` files (so a version 1 archive, with its
 * `10_odata/10_data.pjson`, is refused for its version, as Personium does); and, inside
 * `20_webdav/`, any file other than `.pmeta` and `content` (Personium's exporter copies stray files
 * verbatim). Ignored entries still pass every safety check above and count towards every limit;
 * they are never decompressed, except by {@link SnapshotReader.checkUnused} (used by `verify`).
 * A folder of `20_webdav/` is a resource when it holds `.pmeta`; a folder without one (an
 * intermediate folder) is not, but resources below it still are.
 */
import type { Readable } from 'node:stream';
import type { ZipFile } from 'yauzl';
import { PersoniumError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { LineSplitter, LineTooLongError } from './lines.js';
import { parseIntegrityList, parseJsonObject, parseManifest, parseRecord } from './snapshot-json.js';
import type { DavImportNode, DavMeta, ODataRecord, ODataType } from '../types.js';
import { CELL_PATH, INTEGRITY_PATH, MANIFEST_PATH, ODATA_FILES, REQUIRED_PATHS, type Manifest } from './format.js';
import { timeSlicer } from '../util/yield.js';
import { SourceReader } from './block-reader.js';
import { type Directory, type EntryInfo, MANIFEST_MAX_BYTES, openZip, vetDirectory } from './central-directory.js';
import { type OpenContext, crcOnly, openVerified, readWhole } from './entry-data.js';
import { type ReaderLimits, asError, describe, noop, unsafe } from './reader-shared.js';
import type { RandomAccessSource } from './source.js';
import type { Expectation } from './verifying-stream.js';

/** The default limits: the router's defaults of the same names. */
export const DEFAULT_READER_LIMITS: ReaderLimits = Object.freeze({
  maxEntries: DEFAULT_LIMITS.maxEntries,
  maxUncompressedBytes: DEFAULT_LIMITS.maxUncompressedBytes,
  maxCompressionRatio: DEFAULT_LIMITS.maxCompressionRatio,
  maxLineBytes: DEFAULT_LIMITS.maxLineBytes,
});

/** Options of {@link openSnapshot} and `verifySnapshot`. */
export interface OpenSnapshotOptions {
  /** Limits; each one absent takes its {@link DEFAULT_READER_LIMITS} value. */
  limits?: Partial<ReaderLimits> | undefined;
  /**
   * Aborts everything the reader does: pending and later calls reject, and open streams are
   * destroyed, with the signal's reason.
   */
  signal?: AbortSignal | undefined;
  /** Called with the number of uncompressed bytes each time a chunk of any entry was read and checked. */
  onBytes?: ((n: number) => void) | undefined;
}

/** An open snapshot whose central directory and manifest passed every check. */
export interface SnapshotReader {
  /** The manifest. */
  readonly manifest: Manifest;
  /** Whether the archive has `99_integrity.json` (entries are then checked by size and SHA-256 too). */
  readonly hasIntegrity: boolean;
  /** Sizes from the central directory, known at open, for weighting progress. */
  readonly totals: {
    /** Central directory records, directories and ignored entries included. */
    entries: number;
    /** The sum of every entry's declared uncompressed size. */
    uncompressedBytes: number;
    /** WebDAV resources that {@link SnapshotReader.dav} will yield. */
    davNodes: number;
    /** The uncompressed size of the 16 `.pjson` files. */
    recordBytes: number;
    /** The uncompressed size of every WebDAV `content`. */
    contentBytes: number;
    /** Files outside the known layout, which the reader ignores (see the module documentation). */
    ignoredEntries: number;
  };
  /**
   * Resolves to the cell record of `10_odata/00_cell.json`. Rejects with `PR400-CM-0004` when it is
   * not a record, `PR400-SN-0002` when it exceeds `maxLineBytes`, `PR400-SN-0003` when it fails a
   * check.
   */
  cellRecord(): Promise<ODataRecord>;
  /**
   * Yields the records of one type, streamed line by line. Throws `PR400-SN-0002` for a line over
   * `maxLineBytes`, `PR400-CM-0004` (with the start of the line) for a line that is not a record,
   * blank lines included, and `PR400-SN-0003` when the entry fails a check, which wins over the
   * other two when the entry is corrupt (the rest of the entry is read to find out). A last line
   * without `\n` is a record; a file ending with `\n` has no empty last record.
   */
  records(type: ODataType): AsyncIterable<ODataRecord>;
  /**
   * Yields the same records as {@link SnapshotReader.records}, with the same checks and errors, in
   * arrays: one array for the complete lines of each chunk of the entry read (a few hundred records,
   * never empty), so that a consumer awaits once per chunk instead of once per record.
   */
  recordChunks(type: ODataType): AsyncIterable<ODataRecord[]>;
  /**
   * Yields the bytes of one type's `.pjson` entry in pieces of whole lines (each line with its `\n`,
   * but for a last line without one), as they are read: for a consumer that parses them elsewhere.
   * Throws `PR400-SN-0002` for a line over `maxLineBytes` and `PR400-SN-0003` when the entry fails a
   * check, as {@link SnapshotReader.records} does; whether each line is a record is the consumer's
   * to check (`parseRecord` of `snapshot-json.ts`, `PR400-CM-0004`).
   */
  recordLines(type: ODataType): AsyncIterable<Buffer>;
  /**
   * Yields every WebDAV resource: the root `''` first, parents before their children, siblings
   * sorted by name (code-unit order). A file's `content` stream errors with `PR400-SN-0003` instead
   * of ending when its bytes fail a check; consume it before asking for the next resource (a stream
   * left unconsumed is destroyed then). A `.pmeta` that is not a JSON object: `PR400-CM-0004`.
   */
  dav(): AsyncIterable<DavImportNode>;
  /**
   * Reads and checks every file entry that the other methods never read (the ignored ones, and the
   * integrity list if no other read has loaded it yet), discarding the bytes; resolves to how many
   * such entries there are, the integrity list included.
   */
  checkUnused(): Promise<number>;
  /** Destroys open streams and releases the source. Safe to call more than once; never rejects. */
  close(): Promise<void>;
}

/** The records of arrays of records, in order. */
async function* flatten(chunks: AsyncIterable<ODataRecord[]>): AsyncGenerator<ODataRecord> {
  for await (const chunk of chunks) yield* chunk;
}

class Reader implements SnapshotReader {
  readonly hasIntegrity: boolean;
  readonly totals: SnapshotReader['totals'];
  #integrity: Promise<void> | undefined;
  #closed = false;
  readonly #onAbort = (): void => {
    for (const stream of this.#ctx.live) stream.destroy(asError(this.#signal?.reason));
  };

  readonly #ctx: OpenContext;
  readonly #directory: Directory;
  readonly #manifestDigest: { size: number; sha256: string };
  readonly #limits: ReaderLimits;
  readonly #signal: AbortSignal | undefined;

  constructor(
    ctx: OpenContext,
    directory: Directory,
    readonly manifest: Manifest,
    manifestDigest: { size: number; sha256: string },
    limits: ReaderLimits,
    signal: AbortSignal | undefined,
  ) {
    this.#ctx = ctx;
    this.#directory = directory;
    this.#manifestDigest = manifestDigest;
    this.#limits = limits;
    this.#signal = signal;
    this.hasIntegrity = directory.files.has(INTEGRITY_PATH);
    let recordBytes = 0;
    for (const file of ODATA_FILES) recordBytes += directory.files.get(file.path)?.uncompressedSize ?? 0;
    let contentBytes = 0;
    for (const resource of directory.resources) contentBytes += resource.content?.uncompressedSize ?? 0;
    this.totals = {
      entries: directory.entries,
      uncompressedBytes: directory.uncompressedBytes,
      davNodes: directory.resources.length,
      recordBytes,
      contentBytes,
      ignoredEntries: directory.ignored.length,
    };
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #check(): void {
    if (this.#closed) throw new Error('snapshot reader closed');
    this.#signal?.throwIfAborted();
  }

  #file(path: string): EntryInfo {
    const info = this.#directory.files.get(path);
    // openSnapshot checked every required path.
    if (info === undefined) throw new PersoniumError('PR400-MC-0001', [path]);
    return info;
  }

  /** Loads `99_integrity.json` once, when the first entry after the manifest is read. */
  #loadIntegrity(): Promise<void> {
    this.#integrity ??= this.#readIntegrity();
    return this.#integrity;
  }

  /** Reads and checks `99_integrity.json`, and records each promise on its entry. */
  async #readIntegrity(): Promise<void> {
    const info = this.#directory.files.get(INTEGRITY_PATH);
    if (info === undefined) return;
    if (info.uncompressedSize > this.#directory.integrityBound) throw unsafe(`${INTEGRITY_PATH} is too large`);
    const text = (await readWhole(this.#ctx, info, crcOnly(info))).bytes.toString('utf8');
    for (const { path, size, sha256 } of parseIntegrityList(text)) {
      const entry = this.#directory.files.get(path);
      if (entry === undefined) throw new PersoniumError('PR400-SN-0003', [path]);
      entry.promised = { size, sha256 };
    }
    const manifest = this.#directory.files.get(MANIFEST_PATH)?.promised;
    if (manifest === undefined || manifest.size !== this.#manifestDigest.size || manifest.sha256 !== this.#manifestDigest.sha256) {
      throw new PersoniumError('PR400-SN-0003', [MANIFEST_PATH]);
    }
  }

  /** Opens the verified stream of one entry. */
  async open(info: EntryInfo): Promise<Readable> {
    return openVerified(this.#ctx, info, await this.#expectation(info));
  }

  /** What an entry's bytes must be: CRC-32 and size, plus SHA-256 and size from the integrity list. */
  async #expectation(info: EntryInfo): Promise<Expectation> {
    this.#check();
    await this.#loadIntegrity();
    this.#check();
    const expectation = crcOnly(info);
    if (!this.hasIntegrity || info.name === INTEGRITY_PATH) return expectation;
    const entry = info.promised;
    if (entry === undefined) throw new PersoniumError('PR400-SN-0003', [info.name]);
    return { ...expectation, sha256: entry.sha256, integritySize: entry.size };
  }

  async cellRecord(): Promise<ODataRecord> {
    this.#check();
    const info = this.#file(CELL_PATH);
    const bytes = await this.readSmall(info);
    return parseRecord(bytes.toString('utf8'));
  }

  /** Reads a small entry whole (`maxLineBytes` at most), verified. */
  async readSmall(info: EntryInfo): Promise<Buffer> {
    if (info.uncompressedSize > this.#limits.maxLineBytes) {
      throw unsafe(`${describe(info.name)} is over the limit of ${this.#limits.maxLineBytes} bytes`);
    }
    return (await readWhole(this.#ctx, info, await this.#expectation(info))).bytes;
  }

  records(type: ODataType): AsyncIterable<ODataRecord> {
    return flatten(this.recordChunks(type));
  }

  recordChunks(type: ODataType): AsyncIterable<ODataRecord[]> {
    const toRecords = (lines: string[]): ODataRecord[] => lines.map((line) => parseRecord(line));
    return this.#split(this.#pjson(type), (splitter, chunk) => {
      const lines = splitter.pushText(chunk);
      return lines.length === 0 ? undefined : toRecords(lines);
    }, (last) => [parseRecord(last.toString('utf8'))]);
  }

  recordLines(type: ODataType): AsyncIterable<Buffer> {
    return this.#split(this.#pjson(type), (splitter, chunk) => splitter.pushLines(chunk), (last) => last);
  }

  /** The entry of one type's records. */
  #pjson(type: ODataType): EntryInfo {
    const file = ODATA_FILES.find((f) => f.type === type);
    if (file === undefined) throw new TypeError(`unknown OData type ${String(type)}`);
    return this.#file(file.path);
  }

  /**
   * Streams an entry through a {@link LineSplitter}: `take` makes what to yield of each chunk (or
   * `undefined` for nothing), `last` of a last line without `\n`. A line over `maxLineBytes` throws
   * `PR400-SN-0002`; an error of `take` is thrown as is; either only after the rest of the entry was
   * read, since a failed check explains a bad line better than the line itself.
   */
  async *#split<T>(info: EntryInfo, take: (splitter: LineSplitter, chunk: Buffer) => T | undefined, last: (line: Buffer) => T): AsyncGenerator<T> {
    const stream = await this.open(info);
    const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const max = this.#limits.maxLineBytes;
    const splitter = new LineSplitter(max);
    const slice = timeSlicer();
    let ended = false;
    const drainThenThrow = async (error: unknown): Promise<never> => {
      try {
        while (!ended) {
          const next = await iterator.next();
          if (next.done === true) ended = true;
        }
      } catch (streamError) {
        ended = true;
        throw streamError;
      }
      throw error;
    };
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) {
          ended = true;
          break;
        }
        let value: T | undefined;
        try {
          value = take(splitter, next.value);
        } catch (error) {
          const reason = error instanceof LineTooLongError ? unsafe(`a line of ${describe(info.name)} is over the limit of ${max} bytes`) : error;
          return await drainThenThrow(reason);
        }
        if (value === undefined) continue;
        this.#check();
        const pause = slice();
        if (pause !== undefined) await pause;
        yield value;
      }
      // A last line without '\n' is a record too (the entry has ended: its checks passed).
      const line = splitter.end();
      if (line !== undefined) yield last(line);
    } finally {
      if (!ended) stream.destroy();
    }
  }

  async *dav(): AsyncGenerator<DavImportNode> {
    this.#check();
    let previous: Readable | undefined;
    try {
      for (const resource of this.#directory.resources) {
        if (previous !== undefined && !previous.readableEnded) previous.destroy();
        previous = undefined;
        this.#check();
        const meta: DavMeta = parseJsonObject((await this.readSmall(resource.pmeta)).toString('utf8'));
        if (resource.content === undefined) {
          yield { path: resource.path, meta };
        } else {
          previous = await this.open(resource.content);
          yield { path: resource.path, meta, content: previous };
        }
      }
    } finally {
      if (previous !== undefined && !previous.readableEnded) previous.destroy();
    }
  }

  async checkUnused(): Promise<number> {
    this.#check();
    // The integrity list is read (and checked) once, before any other entry.
    await this.#loadIntegrity();
    for (const info of this.#directory.ignored) {
      const stream = await this.open(info);
      for await (const chunk of stream) void chunk;
    }
    return this.#directory.ignored.length + (this.hasIntegrity ? 1 : 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const stream of this.#ctx.live) stream.destroy();
    this.#ctx.live.clear();
    try {
      this.#ctx.zipfile.close();
    } catch {
      // already closed
    }
    this.#ctx.source.shutdown();
  }
}

/**
 * Opens a snapshot: vets the whole central directory, reads the manifest, checks the required
 * entries. Reads nothing but the central directory (and the end records that locate it) and the
 * manifest. Rejects with a {@link PersoniumError}: `PR400-MC-0004` not a zip; `PR400-SN-0002` unsafe
 * (see the module documentation); `PR400-CM-0004` manifest not a JSON object; `PR400-MC-0003`
 * `export_version` not 2 (the parameter is its JSON, or `null` when absent); `PR400-MC-0001` the
 * first missing required entry in {@link REQUIRED_PATHS} order (the manifest first); `PR400-SN-0003`
 * when the manifest fails its CRC-32. Errors of the source itself are passed through.
 */
export async function openSnapshot(source: RandomAccessSource, options: OpenSnapshotOptions = {}): Promise<SnapshotReader> {
  const { signal, onBytes } = options;
  signal?.throwIfAborted();
  const limits: ReaderLimits = { ...DEFAULT_READER_LIMITS };
  for (const [key, value] of Object.entries(options.limits ?? {}) as [keyof ReaderLimits, number | undefined][]) {
    if (value !== undefined) limits[key] = value;
  }
  const reader = new SourceReader(source);
  let zipfile: ZipFile | undefined;
  const ctx = (): OpenContext => ({ zipfile: zipfile as ZipFile, source: reader, onBytes, live });
  const live = new Set<Readable>();
  const onAbort = (): void => {
    for (const stream of live) stream.destroy(asError(signal?.reason));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    zipfile = await openZip(reader, source.size);
    signal?.throwIfAborted();
    const directory = await vetDirectory(zipfile, source.size, limits, signal);
    // Past the central directory, yauzl only reports errors of closing the reader: never fatal.
    zipfile.on('error', noop);
    const manifestInfo = directory.files.get(MANIFEST_PATH);
    if (manifestInfo === undefined) throw new PersoniumError('PR400-MC-0001', [MANIFEST_PATH]);
    if (manifestInfo.uncompressedSize > MANIFEST_MAX_BYTES) {
      throw unsafe(`${MANIFEST_PATH} is over the limit of ${MANIFEST_MAX_BYTES} bytes`);
    }
    const { bytes, digest } = await readWhole(ctx(), manifestInfo, crcOnly(manifestInfo), true);
    signal?.throwIfAborted();
    const manifest = parseManifest(bytes);
    for (const path of REQUIRED_PATHS) {
      if (!directory.files.has(path)) throw new PersoniumError('PR400-MC-0001', [path]);
    }
    signal?.removeEventListener('abort', onAbort);
    return new Reader(ctx(), directory, manifest, { size: bytes.length, sha256: digest ?? '' }, limits, signal);
  } catch (error) {
    signal?.removeEventListener('abort', onAbort);
    for (const stream of live) stream.destroy();
    try {
      zipfile?.close();
    } catch {
      // already closed
    }
    reader.shutdown();
    throw error;
  }
}
