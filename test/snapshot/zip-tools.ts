/**
 * Tools of the snapshot tests: write a view to a file, inspect an archive with independent readers
 * (yauzl directly, Python's zipfile, Info-ZIP's unzip), build or rewrite archives of any shape
 * (without a system tool), and corrupt bytes in place.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DEFLATED, FLAG_UTF8, MADE_BY_UNIX, STORED, writeZip } from '../../fixtures/hostile/zip-bytes.js';
import { writeSnapshot, type WriteSnapshotOptions } from '../../lib/snapshot/writer.js';
import type { ExportView } from '../../lib/types.js';

/** The result of a child process. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program; resolves with its exit code and output (never rejects for a non-zero exit). */
export function run(command: string, args: readonly string[], options: { cwd?: string; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { cwd: options.cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Writes a view into a file with the snapshot writer. */
export async function writeToFile(view: ExportView, file: string, options: Partial<WriteSnapshotOptions> = {}): Promise<void> {
  await writeSnapshot(view, createWriteStream(file), { unitUrl: 'https://unit.example/', createDate: 1669806000000, ...options });
}

/** One central directory record, as yauzl reads it. */
export interface CentralEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
  readonly offset: number;
  readonly versionNeeded: number;
  readonly extraFieldIds: number[];
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (error, zipfile) => (error ? reject(error) : resolve(zipfile))),
  );
}

/** Lists the central directory with yauzl (an independent reader). */
export async function centralEntries(file: string): Promise<CentralEntry[]> {
  const zipfile = await openZip(file);
  const entries: CentralEntry[] = [];
  try {
    for await (const entry of zipfile.eachEntry()) {
      entries.push({
        name: entry.fileName,
        method: entry.compressionMethod,
        flags: entry.generalPurposeBitFlag,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        crc32: entry.crc32,
        offset: entry.relativeOffsetOfLocalHeader,
        versionNeeded: entry.versionNeededToExtract,
        extraFieldIds: entry.extraFields.map((field) => field.id),
      });
    }
  } finally {
    zipfile.close();
  }
  return entries;
}

/** Reads every file entry's bytes with yauzl (an independent reader), by name. */
export async function entryBytes(file: string): Promise<Map<string, Buffer>> {
  const zipfile = await openZip(file);
  const result = new Map<string, Buffer>();
  try {
    for await (const entry of zipfile.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const stream = await zipfile.openReadStreamPromise(entry);
      const parts: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
      result.set(entry.fileName, Buffer.concat(parts));
    }
  } finally {
    zipfile.close();
  }
  return result;
}

/** Where the data of an entry starts, from its local header. */
export async function dataOffset(file: string, name: string): Promise<number> {
  const entry = (await centralEntries(file)).find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no entry ${name}`);
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(30);
    await handle.read(header, 0, 30, entry.offset);
    return entry.offset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  } finally {
    await handle.close();
  }
}

/** XORs one byte of a file with `mask`. */
export async function flipByte(file: string, offset: number, mask = 0x01): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = (byte[0] as number) ^ mask;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** One entry for {@link craftZip}. */
export interface CraftEntry {
  /** The entry name (a trailing `/` makes a directory entry). */
  readonly name: string;
  /** The bytes. */
  readonly data?: Buffer | Uint8Array | string;
  /** Deflate (default) or store. */
  readonly compress?: boolean;
  /** The external attributes (e.g. a Unix mode in the high 16 bits). */
  readonly externalAttr?: number;
  /** Extra general purpose flag bits to set. */
  readonly flagBits?: number;
}

/**
 * Writes a zip of exactly these entries, in this order, with the byte-level writer of the hostile
 * corpus: any names, stored or deflated, Unix attributes, the UTF-8 flag on non-ASCII names only (as
 * Python's zipfile and Info-ZIP set it).
 */
export async function craftZip(file: string, entries: readonly CraftEntry[]): Promise<void> {
  await writeZip(
    file,
    entries.map((entry) => {
      const directory = entry.name.endsWith('/');
      const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : (entry.data ?? Buffer.alloc(0));
      return {
        name: entry.name,
        data,
        method: (entry.compress ?? true) && !directory ? DEFLATED : STORED,
        flags: (/^[\x00-\x7f]*$/.test(entry.name) ? 0 : FLAG_UTF8) | (entry.flagBits ?? 0),
        versionMadeBy: MADE_BY_UNIX,
        externalAttributes: entry.externalAttr ?? (directory ? ((0o40755 << 16) | 0x10) >>> 0 : (0o100644 << 16) >>> 0),
      };
    }),
  );
}

/** The file entries of an archive as {@link CraftEntry}s (directory entries dropped), in archive order. */
export async function craftEntriesOf(file: string): Promise<CraftEntry[]> {
  const bytes = await entryBytes(file);
  const central = await centralEntries(file);
  return central
    .filter((e) => !e.name.endsWith('/'))
    .map((e) => ({ name: e.name, data: bytes.get(e.name) as Buffer, compress: e.method === 8 }));
}

/** Python's zipfile testzip(): resolves to the first bad entry's name, or `null`. */
export async function pyTestzip(file: string): Promise<string | null> {
  const result = await run('python3', ['-c', 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())', file]);
  if (result.code !== 0) throw new Error(`python testzip failed: ${result.stderr}`);
  const out = result.stdout.trim();
  return out === 'None' ? null : out;
}

/** Reads a whole stream. */
export async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Reads a file as UTF-8. */
export function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

/**
 * Edits the central directory record of one entry in place: `edit` gets the whole file and the
 * offset of the record (its signature).
 */
export async function patchCentral(file: string, name: string, edit: (bytes: Buffer, at: number) => void): Promise<void> {
  const bytes = await readFile(file);
  const needle = Buffer.from(name);
  let found = false;
  for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
    const record = at - 46;
    if (record >= 0 && bytes.readUInt32LE(record) === 0x02014b50 && bytes.readUInt16LE(record + 28) === needle.length) {
      edit(bytes, record);
      found = true;
    }
  }
  if (!found) throw new Error(`no central record for ${name}`);
  const handle = await open(file, 'w');
  try {
    await handle.write(bytes);
  } finally {
    await handle.close();
  }
}
