/**
 * The snapshot reader: opens a stored archive through a {@link RandomAccessSource}, vets its whole
 * central directory before reading a byte of data, and streams its records and WebDAV tree, every
 * byte verified (CRC-32 always, size and SHA-256 against `99_integrity.json` when present).
 *
 * yauzl parses the zip through a custom random-access reader: small reads (the end of central
 * directory, every central directory record, local headers, and entries of at most 64 KiB) go
 * through a small LRU cache of 64 KiB blocks, so a central directory of 100,000 entries costs a few
 * dozen source reads, not 200,000; larger entry data is streamed with one `source.read` per entry.
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
import { createHash, type Hash } from 'node:crypto';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { crc32, inflateRawSync } from 'node:zlib';
import { RandomAccessReader, fromRandomAccessReader, type Entry, type ZipFile } from 'yauzl';
import { PersoniumError, isPersoniumError } from '../errors.js';
import type { ByteRange, DavImportNode, DavMeta, ODataRecord, ODataType } from '../types.js';
import {
  CELL_PATH,
  CONTENT_NAME,
  EXPORT_VERSION,
  INTEGRITY_PATH,
  MANIFEST_PATH,
  ODATA_FILES,
  PMETA_NAME,
  REQUIRED_PATHS,
  WEBDAV_DIR,
  type Manifest,
} from './format.js';
import { timeSlicer } from '../util/yield.js';
import type { RandomAccessSource } from './source.js';

/** The limits the reader enforces on an archive. */
export interface ReaderLimits {
  /** Most entries (central directory records) an archive may hold. */
  maxEntries: number;
  /** Largest sum of declared uncompressed sizes, in bytes. */
  maxUncompressedBytes: number;
  /**
   * Largest ratio of the archive's total uncompressed size to its own size, for archives that expand
   * beyond {@link EXPANSION_FLOOR} (1 GiB).
   */
  maxCompressionRatio: number;
  /** Longest `.pjson` line, and largest `.pmeta` or `00_cell.json`, in bytes. */
  maxLineBytes: number;
}

/** The default limits: 1,000,000 entries, 64 GiB, ratio 200, lines of 16 MiB (as `LimitOptions`). */
export const DEFAULT_READER_LIMITS: ReaderLimits = Object.freeze({
  maxEntries: 1_000_000,
  maxUncompressedBytes: 64 * 2 ** 30,
  maxCompressionRatio: 200,
  maxLineBytes: 16 * 2 ** 20,
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

// ---------------------------------------------------------------------------------------------
// Block-cached random access
// ---------------------------------------------------------------------------------------------

/** Size of a cache block, and the largest read served from the cache. */
export const BLOCK_SIZE = 64 * 1024;
/** Blocks kept in the LRU cache. */
const CACHE_BLOCKS = 16;

async function collect(stream: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<unknown>) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    parts.push(buffer);
    length += buffer.length;
    if (length > max) {
      stream.destroy();
      throw new Error(`source returned more than the ${max} bytes asked for`);
    }
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
}

/** yauzl's view of a {@link RandomAccessSource}, with the block cache. */
class SourceReader extends RandomAccessReader {
  private readonly blocks = new Map<number, Promise<Buffer>>();
  private readonly streams = new Set<Readable>();
  private closed = false;

  constructor(private readonly source: RandomAccessSource) {
    super();
  }

  /** Resolves to up to `length` bytes at `position` (fewer at the end of the source), from the cache. */
  async bytes(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.source.size);
    if (end <= position) return Buffer.alloc(0);
    const first = Math.floor(position / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    if (first === last) {
      const block = await this.block(first);
      return block.subarray(position - first * BLOCK_SIZE, end - first * BLOCK_SIZE);
    }
    const parts: Buffer[] = [];
    for (let index = first; index <= last; index += 1) {
      const block = await this.block(index);
      const from = index === first ? position - index * BLOCK_SIZE : 0;
      const to = index === last ? end - index * BLOCK_SIZE : block.length;
      parts.push(block.subarray(from, to));
    }
    return Buffer.concat(parts);
  }

  private block(index: number): Promise<Buffer> {
    const cached = this.blocks.get(index);
    if (cached !== undefined) {
      this.blocks.delete(index);
      this.blocks.set(index, cached);
      return cached;
    }
    if (this.closed) return Promise.reject(new Error('snapshot reader closed'));
    const start = index * BLOCK_SIZE;
    const end = Math.min(start + BLOCK_SIZE, this.source.size) - 1;
    const loading = this.source.read({ start, end }).then((stream) => collect(stream, end - start + 1));
    this.blocks.set(index, loading);
    loading.catch(() => {
      if (this.blocks.get(index) === loading) this.blocks.delete(index);
    });
    while (this.blocks.size > CACHE_BLOCKS) {
      const oldest = this.blocks.keys().next().value as number;
      this.blocks.delete(oldest);
    }
    return loading;
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    // yauzl's callback also takes the count of bytes read, which its EOF check relies on.
    const done = callback as (err: Error | null, bytesRead?: number) => void;
    this.bytes(position, length).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        done(null, bytes.length);
      },
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    this.streams.add(out);
    out.once('close', () => this.streams.delete(out));
    if (end - start <= BLOCK_SIZE) {
      this.bytes(start, end - start).then(
        (bytes) => out.end(bytes),
        (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      return out;
    }
    const range: ByteRange = { start, end: end - 1 };
    let inner: Readable | undefined;
    out.once('close', () => inner?.destroy());
    if (this.closed) {
      process.nextTick(() => out.destroy(new Error('snapshot reader closed')));
      return out;
    }
    this.source.read(range).then(
      (stream) => {
        if (out.destroyed) {
          stream.destroy();
          return;
        }
        inner = stream;
        stream.once('error', (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
        stream.pipe(out);
      },
      (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
    );
    return out;
  }

  override close(callback: (err: Error | null) => void): void {
    this.shutdown();
    setImmediate(() => callback(null));
  }

  /** Drops the cache and destroys every stream still open on the source. */
  shutdown(): void {
    this.closed = true;
    this.blocks.clear();
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Verification of entry data
// ---------------------------------------------------------------------------------------------

/** What the bytes of one entry must be. */
interface Expectation {
  readonly path: string;
  readonly size: number;
  readonly crc32: number;
  readonly sha256?: string | undefined;
  readonly integritySize?: number | undefined;
}

/** A pass-through that checks size, CRC-32 and (optionally) SHA-256, failing with `PR400-SN-0003`. */
class VerifyingStream extends Transform {
  private crc = 0;
  private size = 0;
  private readonly hash: Hash | undefined;

  constructor(
    private readonly expected: Expectation,
    private readonly onBytes: ((n: number) => void) | undefined,
  ) {
    super();
    this.hash = expected.sha256 !== undefined ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.expected.size) {
      callback(new PersoniumError('PR400-SN-0003', [this.expected.path]));
      return;
    }
    this.crc = crc32(chunk, this.crc);
    this.hash?.update(chunk);
    if (this.onBytes !== undefined) {
      try {
        this.onBytes(chunk.length);
      } catch (error) {
        callback(error as Error);
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { expected } = this;
    const digest = this.hash?.digest('hex');
    const ok =
      this.size === expected.size &&
      this.crc === expected.crc32 >>> 0 &&
      (expected.integritySize === undefined || expected.integritySize === this.size) &&
      (expected.sha256 === undefined || expected.sha256 === digest);
    callback(ok ? null : new PersoniumError('PR400-SN-0003', [expected.path]));
  }
}

/** Maps an error of yauzl's data stream to the reader's vocabulary. */
function dataError(error: unknown, path: string): unknown {
  if (isPersoniumError(error)) return error;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    // zlib errors (corrupt deflate data) and yauzl's byte-count assertions (sizes that lie).
    if ((typeof code === 'string' && code.startsWith('Z_')) || /bytes in the stream/.test(error.message)) {
      return new PersoniumError('PR400-SN-0003', [path], { cause: error });
    }
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// The central directory
// ---------------------------------------------------------------------------------------------

/** What the reader keeps of one central directory record. */
interface EntryInfo {
  readonly name: string;
  /** Bytes of the name in UTF-8 (as stored: names are refused unless they are valid UTF-8). */
  readonly nameLength: number;
  readonly directory: boolean;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly offset: number;
  /** Where the next entry (or the central directory) starts: this entry's data must end before. */
  boundary: number;
  /** What `99_integrity.json` promises for this entry, once it is loaded. */
  promised?: Promised;
}

/** One WebDAV resource found in the central directory. */
interface Resource {
  readonly path: string;
  readonly pmeta: EntryInfo;
  readonly content: EntryInfo | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ONE_MIB = 2 ** 20;
/**
 * Archives may always expand to this many bytes, whatever their compression ratio: a bomb is about
 * expansion, and a small archive of very repetitive files (logs, zero-filled images) is legitimate.
 */
export const EXPANSION_FLOOR = 2 ** 30;
const MANIFEST_MAX_BYTES = ONE_MIB;
const LOCAL_HEADER_SIZE = 30;
const TYPE_MASK = 0o170000;
const TYPE_SYMLINK = 0o120000;
const TYPE_FILE = 0o100000;
const TYPE_DIR = 0o040000;
const PARAM_MAX = 160;

function unsafe(reason: string, cause?: unknown): PersoniumError {
  return new PersoniumError('PR400-SN-0002', [reason], cause === undefined ? {} : { cause });
}

/** Shortens a text for an error message parameter. */
export function clip(text: string, max = PARAM_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function describe(name: string): string {
  return JSON.stringify(clip(name, 120));
}

/** Why an entry name is unsafe, or `undefined`. `name` has its trailing `/` (directory) removed. */
function badName(name: string): string | undefined {
  if (name === '') return 'empty entry name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return `control character in entry name ${describe(name)}`;
  if (name.includes('\\')) return `backslash in entry name ${describe(name)}`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `absolute entry name ${describe(name)}`;
  for (const segment of name.split('/')) {
    if (segment === '..') return `entry name climbs out: ${describe(name)}`;
    if (segment === '' || segment === '.') return `empty or "." segment in entry name ${describe(name)}`;
  }
  return undefined;
}

/** Orders paths as a depth-first walk with siblings in code-unit order (`/` sorts first). */
export function compareDavPaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x === 0x2f) return -1;
      if (y === 0x2f) return 1;
      return x - y;
    }
  }
  return a.length - b.length;
}

const KNOWN_ODATA: ReadonlyMap<string, ODataType> = new Map(ODATA_FILES.map((f) => [f.path, f.type]));

/** Whether an entry belongs to the layout the reader reads. */
function isKnown(name: string): boolean {
  if (name === MANIFEST_PATH || name === CELL_PATH || name === INTEGRITY_PATH || KNOWN_ODATA.has(name)) return true;
  if (!name.startsWith(WEBDAV_DIR)) return false;
  const base = name.slice(name.lastIndexOf('/') + 1);
  return base === PMETA_NAME || base === CONTENT_NAME;
}

/** Opens the zip with yauzl; anything it cannot parse is `PR400-MC-0004`. */
function openZip(reader: SourceReader, size: number): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    try {
      fromRandomAccessReader(
        reader,
        size,
        { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: true },
        (error, zipfile) => (error ? reject(new PersoniumError('PR400-MC-0004', [], { cause: error })) : resolve(zipfile)),
      );
    } catch (error) {
      reject(new PersoniumError('PR400-MC-0004', [], { cause: error }));
    }
  });
}

/** Maps an error yauzl raised while reading central directory records. */
function directoryError(error: unknown): PersoniumError {
  if (isPersoniumError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/strong encryption/.test(message)) return unsafe('encrypted entry (strong encryption)', error);
  if (/size mismatch for stored file/.test(message)) {
    return unsafe('stored entry whose compressed and uncompressed sizes differ', error);
  }
  return new PersoniumError('PR400-MC-0004', [], { cause: error });
}

/** The outcome of vetting a central directory. */
interface Directory {
  readonly files: Map<string, EntryInfo>;
  readonly entries: number;
  readonly uncompressedBytes: number;
  readonly resources: Resource[];
  readonly ignored: EntryInfo[];
  readonly integrityBound: number;
}

/** Reads and vets every central directory record. */
async function vetDirectory(zipfile: ZipFile, size: number, limits: ReaderLimits, signal?: AbortSignal): Promise<Directory> {
  if (zipfile.entryCount > limits.maxEntries) {
    throw unsafe(`${zipfile.entryCount} entries, over the limit of ${limits.maxEntries}`);
  }
  const cursor: unknown = Reflect.get(zipfile, 'readEntryCursor');
  const directoryOffset = typeof cursor === 'number' && cursor <= size ? cursor : size;
  const all: EntryInfo[] = [];
  const files = new Map<string, EntryInfo>();
  const names = new Set<string>();
  const folders = new Set<string>();
  let uncompressedBytes = 0;
  const expansionLimit = Math.max(EXPANSION_FLOOR, limits.maxCompressionRatio * size);
  let integrityBound = 8192;
  try {
    for await (const entry of zipfile.eachEntry()) {
      signal?.throwIfAborted();
      const info = vetEntry(entry, limits);
      uncompressedBytes += info.uncompressedSize;
      if (uncompressedBytes > limits.maxUncompressedBytes) {
        throw unsafe(`uncompressed sizes sum to over the limit of ${limits.maxUncompressedBytes} bytes`);
      }
      if (uncompressedBytes > expansionLimit) {
        throw unsafe(`expands to over ${limits.maxCompressionRatio} times its ${size} bytes (a compression bomb)`);
      }
      const key = info.directory ? info.name.slice(0, -1) : info.name;
      if (names.has(key)) throw unsafe(`duplicate entry ${describe(key)}`);
      names.add(key);
      if (info.directory) folders.add(key);
      else files.set(key, info);
      let slash = key.lastIndexOf('/');
      while (slash > 0) {
        const folder = key.slice(0, slash);
        if (folders.has(folder)) break;
        folders.add(folder);
        slash = key.lastIndexOf('/', slash - 1);
      }
      integrityBound += 3 * info.nameLength + 256;
      all.push(info);
    }
  } catch (error) {
    throw directoryError(error);
  }
  for (const name of files.keys()) {
    if (folders.has(name)) throw unsafe(`${describe(name)} is both a file and a folder`);
  }
  checkOverlaps(all, directoryOffset);

  const pmetas = new Map<string, EntryInfo>();
  const contents = new Map<string, EntryInfo>();
  const ignored: EntryInfo[] = [];
  for (const [name, info] of files) {
    if (!isKnown(name)) {
      ignored.push(info);
      continue;
    }
    if (!name.startsWith(WEBDAV_DIR)) continue;
    const rest = name.slice(WEBDAV_DIR.length);
    const slash = rest.lastIndexOf('/');
    const folder = slash < 0 ? '' : rest.slice(0, slash);
    if (rest.endsWith(PMETA_NAME)) pmetas.set(folder, info);
    else contents.set(folder, info);
  }
  for (const folder of contents.keys()) {
    if (!pmetas.has(folder)) throw unsafe(`${describe(`${WEBDAV_DIR}${folder === '' ? '' : `${folder}/`}${CONTENT_NAME}`)} has no ${PMETA_NAME}`);
  }
  const resources: Resource[] = [...pmetas.keys()]
    .sort(compareDavPaths)
    .map((path) => ({ path, pmeta: pmetas.get(path) as EntryInfo, content: contents.get(path) }));
  return { files, entries: all.length, uncompressedBytes, resources, ignored, integrityBound };
}

/** Vets one central directory record. */
function vetEntry(entry: Entry, limits: ReaderLimits): EntryInfo {
  const raw = entry.fileNameRaw;
  let decoded: string;
  try {
    decoded = utf8.decode(raw);
  } catch {
    throw unsafe(`entry name is not UTF-8: ${describe(raw.toString('latin1'))}`);
  }
  const directory = decoded.endsWith('/');
  const name = directory ? decoded.slice(0, -1) : decoded;
  const problem = badName(name);
  if (problem !== undefined) throw unsafe(problem);
  if ((entry.generalPurposeBitFlag & 0x1) !== 0) throw unsafe(`encrypted entry ${describe(decoded)}`);
  const type = ((entry.externalFileAttributes >>> 16) & TYPE_MASK) >>> 0;
  if (type === TYPE_SYMLINK) throw unsafe(`symbolic link ${describe(decoded)}`);
  if (type !== 0 && type !== TYPE_FILE && type !== TYPE_DIR) throw unsafe(`special file ${describe(decoded)}`);
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw unsafe(`compression method ${entry.compressionMethod} of ${describe(decoded)}`);
  }
  if (directory && entry.uncompressedSize !== 0) throw unsafe(`directory entry with data ${describe(decoded)}`);
  return {
    name: decoded,
    nameLength: raw.length,
    directory,
    method: entry.compressionMethod,
    crc32: entry.crc32,
    compressedSize: entry.compressedSize,
    uncompressedSize: entry.uncompressedSize,
    offset: entry.relativeOffsetOfLocalHeader,
    boundary: 0,
  };
}

/** Refuses entries whose local header and data could overlap another entry or the central directory. */
function checkOverlaps(all: EntryInfo[], directoryOffset: number): void {
  const sorted = [...all].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i += 1) {
    const info = sorted[i] as EntryInfo;
    const next = sorted[i + 1];
    const boundary = next === undefined ? directoryOffset : next.offset;
    const minimalEnd = info.offset + LOCAL_HEADER_SIZE + info.nameLength + info.compressedSize;
    if (minimalEnd > boundary) {
      throw unsafe(`entry ${describe(info.name)} overlaps ${next === undefined ? 'the central directory' : describe(next.name)}`);
    }
    info.boundary = boundary;
  }
}

// ---------------------------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------------------------

/** What `99_integrity.json` promises for one entry. */
interface Promised {
  readonly size: number;
  readonly sha256: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one record (a `.pjson` line or `00_cell.json`); `PR400-CM-0004` with the text otherwise. */
function parseRecord(text: string): ODataRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PersoniumError('PR400-CM-0004', [clip(text)], { cause: error });
  }
  if (
    !isPlainObject(value) ||
    typeof value['_index'] !== 'string' ||
    typeof value['_type'] !== 'string' ||
    typeof value['_id'] !== 'string' ||
    !isPlainObject(value['_source'])
  ) {
    throw new PersoniumError('PR400-CM-0004', [clip(text)]);
  }
  return { _index: value['_index'], _type: value['_type'], _source: value['_source'], _id: value['_id'] };
}

class Reader implements SnapshotReader {
  readonly hasIntegrity: boolean;
  readonly totals: SnapshotReader['totals'];
  private integrity: Promise<void> | undefined;
  private closed = false;
  private readonly onAbort = (): void => {
    for (const stream of this.ctx.live) stream.destroy(asError(this.signal?.reason));
  };

  constructor(
    private readonly ctx: OpenContext,
    private readonly directory: Directory,
    readonly manifest: Manifest,
    private readonly manifestDigest: { size: number; sha256: string },
    private readonly limits: ReaderLimits,
    private readonly signal: AbortSignal | undefined,
  ) {
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
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private check(): void {
    if (this.closed) throw new Error('snapshot reader closed');
    this.signal?.throwIfAborted();
  }

  private file(path: string): EntryInfo {
    const info = this.directory.files.get(path);
    // openSnapshot checked every required path.
    if (info === undefined) throw new PersoniumError('PR400-MC-0001', [path]);
    return info;
  }

  /** Loads `99_integrity.json` once, when the first entry after the manifest is read. */
  private loadIntegrity(): Promise<void> {
    this.integrity ??= this.readIntegrity();
    return this.integrity;
  }

  /** Reads and checks `99_integrity.json`, and records each promise on its entry. */
  private async readIntegrity(): Promise<void> {
    const info = this.directory.files.get(INTEGRITY_PATH);
    if (info === undefined) return;
    const fail = (): PersoniumError => new PersoniumError('PR400-SN-0003', [INTEGRITY_PATH]);
    if (info.uncompressedSize > this.directory.integrityBound) throw unsafe(`${INTEGRITY_PATH} is too large`);
    const text = (await readWhole(this.ctx, info, crcOnly(info))).bytes.toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new PersoniumError('PR400-CM-0004', [clip(text)], { cause: error });
    }
    if (!isPlainObject(value) || value['algorithm'] !== 'sha256' || !Array.isArray(value['entries'])) throw fail();
    const seen = new Set<string>();
    for (const item of value['entries'] as unknown[]) {
      if (
        !isPlainObject(item) ||
        typeof item['path'] !== 'string' ||
        !Number.isSafeInteger(item['size']) ||
        (item['size'] as number) < 0 ||
        typeof item['sha256'] !== 'string' ||
        !/^[0-9a-f]{64}$/.test(item['sha256'])
      ) {
        throw fail();
      }
      const path = item['path'];
      if (seen.has(path) || path === INTEGRITY_PATH) throw fail();
      seen.add(path);
      const entry = this.directory.files.get(path);
      if (entry === undefined) throw new PersoniumError('PR400-SN-0003', [path]);
      entry.promised = { size: item['size'] as number, sha256: item['sha256'] };
    }
    const manifest = this.directory.files.get(MANIFEST_PATH)?.promised;
    if (manifest === undefined || manifest.size !== this.manifestDigest.size || manifest.sha256 !== this.manifestDigest.sha256) {
      throw new PersoniumError('PR400-SN-0003', [MANIFEST_PATH]);
    }
  }

  /** Opens the verified stream of one entry. */
  async open(info: EntryInfo): Promise<Readable> {
    return openVerified(this.ctx, info, await this.expectation(info));
  }

  /** What an entry's bytes must be: CRC-32 and size, plus SHA-256 and size from the integrity list. */
  private async expectation(info: EntryInfo): Promise<Expectation> {
    this.check();
    await this.loadIntegrity();
    this.check();
    const expectation = crcOnly(info);
    if (!this.hasIntegrity || info.name === INTEGRITY_PATH) return expectation;
    const entry = info.promised;
    if (entry === undefined) throw new PersoniumError('PR400-SN-0003', [info.name]);
    return { ...expectation, sha256: entry.sha256, integritySize: entry.size };
  }

  async cellRecord(): Promise<ODataRecord> {
    this.check();
    const info = this.file(CELL_PATH);
    const bytes = await this.readSmall(info);
    return parseRecord(bytes.toString('utf8'));
  }

  /** Reads a small entry whole (`maxLineBytes` at most), verified. */
  async readSmall(info: EntryInfo): Promise<Buffer> {
    if (info.uncompressedSize > this.limits.maxLineBytes) {
      throw unsafe(`${describe(info.name)} is over the limit of ${this.limits.maxLineBytes} bytes`);
    }
    return (await readWhole(this.ctx, info, await this.expectation(info))).bytes;
  }

  records(type: ODataType): AsyncIterable<ODataRecord> {
    const file = ODATA_FILES.find((f) => f.type === type);
    if (file === undefined) throw new TypeError(`unknown OData type ${String(type)}`);
    return this.lines(this.file(file.path));
  }

  private async *lines(info: EntryInfo): AsyncGenerator<ODataRecord> {
    const stream = await this.open(info);
    const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const max = this.limits.maxLineBytes;
    const slice = timeSlicer();
    let parts: Buffer[] = [];
    let length = 0;
    let ended = false;
    /** Reads the rest of the entry: a failed check explains a bad line better than the line itself. */
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
    const take = (): string => {
      const line = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
      parts = [];
      length = 0;
      return line.toString('utf8');
    };
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) {
          ended = true;
          break;
        }
        const chunk = next.value;
        let start = 0;
        while (start < chunk.length) {
          const newline = chunk.indexOf(0x0a, start);
          const stop = newline < 0 ? chunk.length : newline;
          if (stop > start) {
            length += stop - start;
            if (length > max) {
              await drainThenThrow(unsafe(`a line of ${describe(info.name)} is over the limit of ${max} bytes`));
            }
            parts.push(chunk.subarray(start, stop));
          }
          if (newline < 0) break;
          start = newline + 1;
          let record: ODataRecord;
          try {
            record = parseRecord(take());
          } catch (error) {
            return await drainThenThrow(error);
          }
          this.check();
          await slice();
          yield record;
        }
      }
      // A last line without '\n' is a record too (the entry has ended: its checks passed).
      if (length > 0) yield parseRecord(take());
    } finally {
      if (!ended) stream.destroy();
    }
  }

  async *dav(): AsyncGenerator<DavImportNode> {
    this.check();
    let previous: Readable | undefined;
    try {
      for (const resource of this.directory.resources) {
        if (previous !== undefined && !previous.readableEnded) previous.destroy();
        previous = undefined;
        this.check();
        const text = (await this.readSmall(resource.pmeta)).toString('utf8');
        let meta: unknown;
        try {
          meta = JSON.parse(text);
        } catch (error) {
          throw new PersoniumError('PR400-CM-0004', [clip(text)], { cause: error });
        }
        if (!isPlainObject(meta)) throw new PersoniumError('PR400-CM-0004', [clip(text)]);
        if (resource.content === undefined) {
          yield { path: resource.path, meta: meta as DavMeta };
        } else {
          previous = await this.open(resource.content);
          yield { path: resource.path, meta: meta as DavMeta, content: previous };
        }
      }
    } finally {
      if (previous !== undefined && !previous.readableEnded) previous.destroy();
    }
  }

  async checkUnused(): Promise<number> {
    this.check();
    // The integrity list is read (and checked) once, before any other entry.
    await this.loadIntegrity();
    for (const info of this.directory.ignored) {
      const stream = await this.open(info);
      for await (const chunk of stream) void chunk;
    }
    return this.directory.ignored.length + (this.hasIntegrity ? 1 : 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const stream of this.ctx.live) stream.destroy();
    this.ctx.live.clear();
    try {
      this.ctx.zipfile.close();
    } catch {
      // already closed
    }
    this.ctx.source.shutdown();
  }
}

/** What every entry read shares. */
interface OpenContext {
  readonly zipfile: ZipFile;
  readonly source: SourceReader;
  readonly onBytes: ((n: number) => void) | undefined;
  /** The verified streams still open, destroyed on close or abort. */
  readonly live: Set<Readable>;
}

function noop(): void {
  // Errors are seen by whoever consumes the stream.
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Entries this small are read through the block cache and inflated in one call, without a stream. */
const SMALL_COMPRESSED = BLOCK_SIZE;
const SMALL_UNCOMPRESSED = ONE_MIB;

function isSmall(info: EntryInfo): boolean {
  return info.compressedSize <= SMALL_COMPRESSED && info.uncompressedSize <= SMALL_UNCOMPRESSED;
}

/**
 * Reads an entry's local header (through the cache), checks that it names the entry and that its
 * data stays before the next entry, and resolves to where the data starts.
 */
async function locate(ctx: OpenContext, info: EntryInfo): Promise<number> {
  const header = await ctx.source.bytes(info.offset, LOCAL_HEADER_SIZE + info.nameLength);
  if (header.length < LOCAL_HEADER_SIZE || header.readUInt32LE(0) !== 0x04034b50) {
    throw new PersoniumError('PR400-SN-0003', [info.name]);
  }
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  if (nameLength !== info.nameLength || !header.subarray(LOCAL_HEADER_SIZE).equals(Buffer.from(info.name, 'utf8'))) {
    throw unsafe(`the local header of ${describe(info.name)} names another entry`);
  }
  const dataStart = info.offset + LOCAL_HEADER_SIZE + nameLength + extraLength;
  if (dataStart + info.compressedSize > info.boundary) {
    throw unsafe(`entry ${describe(info.name)} overlaps the next entry`);
  }
  return dataStart;
}

/** Checks whole bytes against an expectation; `PR400-SN-0003` when they differ. */
function checkBytes(bytes: Buffer, expected: Expectation, digest: string | undefined): void {
  const ok =
    bytes.length === expected.size &&
    crc32(bytes) === expected.crc32 >>> 0 &&
    (expected.integritySize === undefined || expected.integritySize === bytes.length) &&
    (expected.sha256 === undefined || expected.sha256 === digest);
  if (!ok) throw new PersoniumError('PR400-SN-0003', [expected.path]);
}

/** Reads and checks a small entry whole, inflating it in one bounded call. */
async function fetchSmall(ctx: OpenContext, info: EntryInfo, expected: Expectation, hashAlways: boolean): Promise<{ bytes: Buffer; digest: string | undefined }> {
  const dataStart = await locate(ctx, info);
  const raw = await ctx.source.bytes(dataStart, info.compressedSize);
  if (raw.length !== info.compressedSize) throw new PersoniumError('PR400-SN-0003', [info.name]);
  let bytes: Buffer;
  if (info.method === 8) {
    try {
      bytes = inflateRawSync(raw, { maxOutputLength: Math.max(1, expected.size) });
    } catch (error) {
      throw new PersoniumError('PR400-SN-0003', [info.name], { cause: error });
    }
  } else {
    bytes = raw;
  }
  const digest = expected.sha256 !== undefined || hashAlways ? createHash('sha256').update(bytes).digest('hex') : undefined;
  checkBytes(bytes, expected, digest);
  ctx.onBytes?.(bytes.length);
  return { bytes, digest };
}

/**
 * Opens the verified stream of one entry. A small entry is read and checked whole first, and its
 * stream errors with the check's failure; a larger one streams through yauzl (inflating it when
 * deflated) and a {@link VerifyingStream}.
 */
async function openVerified(ctx: OpenContext, info: EntryInfo, expected: Expectation): Promise<Readable> {
  if (isSmall(info)) {
    const stream = new PassThrough();
    // The consumer may attach its listeners later: a failure must not be an uncaught 'error' meanwhile.
    stream.on('error', noop);
    ctx.live.add(stream);
    stream.once('close', () => ctx.live.delete(stream));
    fetchSmall(ctx, info, expected, false).then(
      ({ bytes }) => stream.end(bytes),
      (error: unknown) => stream.destroy(asError(error)),
    );
    return stream;
  }
  const dataStart = await locate(ctx, info);
  const raw = await new Promise<Readable>((resolve, reject) => {
    ctx.zipfile.openReadStreamLowLevel(
      dataStart,
      info.compressedSize,
      0,
      info.compressedSize,
      info.method === 8,
      info.uncompressedSize,
      (error, stream) => (error ? reject(dataError(error, info.name)) : resolve(stream)),
    );
  });
  const verifier = new VerifyingStream(expected, ctx.onBytes);
  verifier.on('error', noop);
  ctx.live.add(verifier);
  raw.on('error', (error: unknown) => verifier.destroy(asError(dataError(error, info.name))));
  verifier.once('close', () => {
    ctx.live.delete(verifier);
    raw.unpipe(verifier);
    raw.destroy();
  });
  raw.pipe(verifier);
  return verifier;
}

/** Reads a whole entry, checked. */
async function readWhole(ctx: OpenContext, info: EntryInfo, expected: Expectation, hashAlways = false): Promise<{ bytes: Buffer; digest: string | undefined }> {
  if (isSmall(info)) return fetchSmall(ctx, info, expected, hashAlways);
  const stream = await openVerified(ctx, info, expected);
  const hash = hashAlways || expected.sha256 !== undefined ? createHash('sha256') : undefined;
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk);
    length += chunk.length;
    hash?.update(chunk);
  }
  return { bytes: Buffer.concat(parts, length), digest: hash?.digest('hex') };
}

/** CRC-32 and size only: what the central directory promises. */
function crcOnly(info: EntryInfo): Expectation {
  return { path: info.name, size: info.uncompressedSize, crc32: info.crc32 };
}

/** Parses and checks the manifest's bytes. */
function parseManifest(bytes: Buffer): Manifest {
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PersoniumError('PR400-CM-0004', [clip(text)], { cause: error });
  }
  if (!isPlainObject(value)) throw new PersoniumError('PR400-CM-0004', [clip(text)]);
  const version = value['export_version'];
  if (version !== EXPORT_VERSION) {
    throw new PersoniumError('PR400-MC-0003', [version === undefined ? 'null' : clip(JSON.stringify(version))]);
  }
  const unitUrl = value['unit_url'];
  const createDate = value['create_date'];
  return Object.freeze({
    export_version: EXPORT_VERSION,
    unit_url: typeof unitUrl === 'string' ? unitUrl : '',
    create_date: typeof createDate === 'number' && Number.isFinite(createDate) ? createDate : 0,
  });
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
