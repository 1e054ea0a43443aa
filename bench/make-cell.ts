/**
 * Generates benchmark cells in FsCellDataSource's layout. A {@link CellShape} says how many records
 * (spread over the 16 types, each about 300 bytes, as a Personium record is) and how many WebDAV files
 * of which size (alternately compressible text and random bytes; files of a few bytes are one line of
 * text). Deterministic; streams everything, so it can make cells far larger than memory.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { ODATA_FILES } from '../lib/snapshot/format.js';

/** What a generated cell holds. */
export interface CellShape {
  /** Records, spread evenly over the 16 types. */
  readonly records: number;
  /** WebDAV files. */
  readonly files: number;
  /** Bytes of each file. */
  readonly fileBytes: number;
}

/** The shapes the benchmarks use, named for what they stress. */
export const SHAPES = {
  /** A Personium-style cell: many records and some megabyte files (334 MB). */
  records: { records: 100_000, files: 300, fileBytes: 2 ** 20 },
  /** Many one-line files and many records (66,000 WebDAV entries). */
  'small-files': { records: 100_000, files: 33_000, fileBytes: 0 },
  /** Few records, large files (about 1 GB). */
  'large-files': { records: 14_000, files: 250, fileBytes: 4 * 2 ** 20 },
} as const satisfies Record<string, CellShape>;

/** The shape of an `mb`-megabyte cell as the older benchmarks made it: 2% records, 4 MiB files. */
export function shapeOfMb(mb: number): CellShape {
  const total = mb * 2 ** 20;
  const records = Math.max(16, Math.floor((total * 0.02) / 300));
  return { records, files: Math.max(1, Math.floor((total * 0.98) / (4 * 2 ** 20))), fileBytes: 4 * 2 ** 20 };
}

const CHUNK = 64 * 2 ** 10;
const FILES_PER_FOLDER = 1000;

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

async function writeChunks(path: string, size: number, chunk: () => Buffer): Promise<void> {
  const out = createWriteStream(path);
  for (let written = 0; written < size; ) {
    const piece = chunk().subarray(0, Math.min(CHUNK, size - written));
    written += piece.length;
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const meta = (t: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ i: 'I'.repeat(22), t, a: {}, d: {}, p: 1, u: 1, v: 1, ...extra });

async function writeRecords(dir: string, id: string, records: number): Promise<void> {
  const perType = Math.ceil(records / ODATA_FILES.length);
  let written = 0;
  for (const file of ODATA_FILES) {
    const out = createWriteStream(join(dir, file.path.slice('10_odata/'.length)));
    for (let i = 0; i < perType && written < records; i += 1, written += 1) {
      const line = JSON.stringify({
        _index: `u0_bench.${file.type.toLowerCase()}`,
        _type: file.type,
        _source: { s: { Name: `${file.type}-${i}`, Note: 'x'.repeat(120), Text: 'é€😀\\/"' }, c: id, b: null, p: i, u: i, type: file.type },
        _id: `${file.type.slice(0, 4)}${i}`.padEnd(22, 'A'),
      });
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
}

/** Writes one WebDAV file resource (its folder, `.pmeta` and `content`). */
async function writeFileResource(folder: string, f: number, fileBytes: number, next: () => number, text: Buffer): Promise<void> {
  const random = f % 2 === 1 && fileBytes > 0;
  const resource = join(folder, `file-${f}.${random ? 'bin' : 'txt'}`);
  await mkdir(resource);
  let size = fileBytes;
  if (fileBytes === 0) {
    const line = `file ${f}\n`;
    size = line.length;
    await writeFile(join(resource, 'content'), line);
  } else {
    await writeChunks(join(resource, 'content'), fileBytes, () => {
      if (!random) return text;
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let i = 0; i < CHUNK; i += 4) buf.writeUInt32LE(next(), i);
      return buf;
    });
  }
  await writeFile(join(resource, '.pmeta'), meta('dav.file', { ct: random ? 'application/octet-stream' : 'text/plain', cl: size, et: 'NONE' }));
}

/**
 * Writes cell `name` of the given shape (or of about `mb` megabytes) under `root`; resolves to its
 * record and file counts.
 */
export async function makeCell(root: string, name: string, shape: CellShape | number): Promise<{ records: number; files: number }> {
  const { records, files, fileBytes } = typeof shape === 'number' ? shapeOfMb(shape) : shape;
  const dir = join(root, name);
  const id = `bench${name}`.replace(/[^A-Za-z0-9]/g, '').padEnd(32, '0').slice(0, 32);
  await mkdir(join(dir, 'dav', '__'), { recursive: true });
  await writeFile(
    join(dir, 'cell.json'),
    JSON.stringify({ _index: 'u0_ad.cell', _type: 'Cell', _source: { s: { Name: name }, h: {}, p: 1, u: 1, type: 'Cell' }, _id: id }),
  );
  await writeRecords(dir, id, records);
  await writeFile(join(dir, 'dav', '.pmeta'), meta('Cell'));
  await writeFile(join(dir, 'dav', '__', '.pmeta'), meta('col.box'));
  const next = rng(42);
  const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(CHUNK / 45))).subarray(0, CHUNK);
  const inFlight = fileBytes === 0 ? 64 : 1;
  for (let start = 0; start < files; start += FILES_PER_FOLDER) {
    const folder = join(dir, 'dav', '__', `folder-${start / FILES_PER_FOLDER}`);
    await mkdir(folder);
    await writeFile(join(folder, '.pmeta'), meta('col.webdav'));
    const end = Math.min(files, start + FILES_PER_FOLDER);
    for (let f = start; f < end; f += inFlight) {
      const batch: Promise<void>[] = [];
      for (let g = f; g < Math.min(end, f + inFlight); g += 1) batch.push(writeFileResource(folder, g, fileBytes, next, text));
      await Promise.all(batch);
    }
  }
  return { records, files };
}
