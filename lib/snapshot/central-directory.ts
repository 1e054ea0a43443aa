/**
 * The central directory: every record vetted before a byte of data is read (names, types,
 * encryption, methods, duplicates, overlaps, counts, sizes, expansion), and the WebDAV resources it
 * describes, in walk order.
 */
import { type Entry, type ZipFile, fromRandomAccessReader } from 'yauzl';
import { PersoniumError, isPersoniumError } from '../errors.js';
import type { ODataType } from '../types.js';
import { CELL_PATH, CONTENT_NAME, INTEGRITY_PATH, MANIFEST_PATH, ODATA_FILES, PMETA_NAME, WEBDAV_DIR } from './format.js';
import { ONE_MIB, type ReaderLimits, describe, unsafe } from './reader-shared.js';
import type { SourceReader } from './block-reader.js';

/** What `99_integrity.json` promises for one entry. */
export interface Promised {
  readonly size: number;
  readonly sha256: string;
}


/** What the reader keeps of one central directory record. */
export interface EntryInfo {
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
export interface Resource {
  readonly path: string;
  readonly pmeta: EntryInfo;
  readonly content: EntryInfo | undefined;
}

export const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/**
 * Archives may always expand to this many bytes, whatever their compression ratio: a bomb is about
 * expansion, and a small archive of very repetitive files (logs, zero-filled images) is legitimate.
 */
export const EXPANSION_FLOOR = 2 ** 30;
export const MANIFEST_MAX_BYTES = ONE_MIB;
export const LOCAL_HEADER_SIZE = 30;
const TYPE_MASK = 0o170000;
const TYPE_SYMLINK = 0o120000;
const TYPE_FILE = 0o100000;
const TYPE_DIR = 0o040000;
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
export function openZip(reader: SourceReader, size: number): Promise<ZipFile> {
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
export interface Directory {
  readonly files: Map<string, EntryInfo>;
  readonly entries: number;
  readonly uncompressedBytes: number;
  readonly resources: Resource[];
  readonly ignored: EntryInfo[];
  readonly integrityBound: number;
}

/** Reads and vets every central directory record. */
export async function vetDirectory(zipfile: ZipFile, size: number, limits: ReaderLimits, signal?: AbortSignal): Promise<Directory> {
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
      const info = vetEntry(entry);
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
function vetEntry(entry: Entry): EntryInfo {
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
