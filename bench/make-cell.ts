/**
 * Generates a benchmark cell of about `mb` megabytes in FsCellDataSource's layout: records in every
 * type (about 2% of the size) and a WebDAV tree of files, half compressible text, half random bytes.
 * Deterministic; streams everything, so it can make cells far larger than memory.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { ODATA_FILES } from '../lib/snapshot/format.js';

const FILE_BYTES = 4 * 2 ** 20;
const CHUNK = 64 * 2 ** 10;

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

async function writeChunks(path: string, size: number, chunk: (i: number) => Buffer): Promise<void> {
  const out = createWriteStream(path);
  for (let written = 0, i = 0; written < size; i += 1) {
    const piece = chunk(i).subarray(0, Math.min(CHUNK, size - written));
    written += piece.length;
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Writes cell `name` of about `mb` MB under `root`; resolves to its record and file counts. */
export async function makeCell(root: string, name: string, mb: number): Promise<{ records: number; files: number }> {
  const dir = join(root, name);
  const id = `bench${name}`.padEnd(32, '0').slice(0, 32);
  await mkdir(join(dir, 'dav', '__'), { recursive: true });
  await writeFile(
    join(dir, 'cell.json'),
    JSON.stringify({ _index: 'u0_ad.cell', _type: 'Cell', _source: { s: { Name: name }, h: {}, p: 1, u: 1, type: 'Cell' }, _id: id }),
  );
  const total = mb * 2 ** 20;
  const recordBytes = Math.floor(total * 0.02);
  const perType = Math.max(1, Math.floor(recordBytes / 300 / ODATA_FILES.length));
  let records = 0;
  for (const file of ODATA_FILES) {
    const out = createWriteStream(join(dir, file.path.slice('10_odata/'.length)));
    for (let i = 0; i < perType; i += 1) {
      const line = JSON.stringify({
        _index: `u0_bench.${file.type.toLowerCase()}`,
        _type: file.type,
        _source: { s: { Name: `${file.type}-${i}`, Note: 'x'.repeat(120) }, c: id, b: null, p: i, u: i, type: file.type },
        _id: `${file.type.slice(0, 4)}${i}`.padEnd(22, 'A'),
      });
      if (!out.write(`${line}\n`)) await once(out, 'drain');
      records += 1;
    }
    out.end();
    await once(out, 'finish');
  }
  const meta = (t: string, extra: Record<string, unknown> = {}) => JSON.stringify({ i: 'I'.repeat(22), t, a: {}, d: {}, p: 1, u: 1, v: 1, ...extra });
  await writeFile(join(dir, 'dav', '.pmeta'), meta('Cell'));
  await writeFile(join(dir, 'dav', '__', '.pmeta'), meta('col.box'));
  const files = Math.max(1, Math.floor((total - recordBytes) / FILE_BYTES));
  const next = rng(42);
  const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(CHUNK / 45))).subarray(0, CHUNK);
  for (let f = 0; f < files; f += 1) {
    const folder = join(dir, 'dav', '__', `folder-${Math.floor(f / 50)}`);
    if (f % 50 === 0) await mkdir(folder, { recursive: true }).then(() => writeFile(join(folder, '.pmeta'), meta('col.webdav')));
    const fileDir = join(folder, `file-${f}.bin`);
    await mkdir(fileDir);
    const random = f % 2 === 1;
    await writeChunks(join(fileDir, 'content'), FILE_BYTES, () => {
      if (!random) return text;
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let i = 0; i < CHUNK; i += 4) buf.writeUInt32LE(next(), i);
      return buf;
    });
    await writeFile(join(fileDir, '.pmeta'), meta('dav.file', { ct: random ? 'application/octet-stream' : 'text/plain', cl: FILE_BYTES, et: 'NONE' }));
  }
  return { records, files };
}
