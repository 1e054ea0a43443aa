/**
 * Export views for tests, built from plain data: a legitimate {@link ExportView} implementation
 * (not a mock), so the snapshot writer can be exercised without a cell data source.
 */
import { Readable } from 'node:stream';
import type { DavContent, DavMeta, DavNode, ExportView, ODataRecord, ODataType } from '../../lib/types.js';
import { ODATA_TYPES } from '../../lib/snapshot/format.js';

/** One WebDAV resource given as plain data. */
export interface DavData {
  /** As `DavNode.path`. */
  readonly path: string;
  /** As `DavNode.meta`. */
  readonly meta: DavMeta;
  /** The content of a file: bytes, a string (UTF-8), or a generated content. */
  readonly content?: Buffer | string | DavContent;
}

/** The data of a view. */
export interface ViewData {
  /** The cell record; a default one when absent. */
  readonly cell?: ODataRecord;
  /** The records per type; absent types are empty. */
  readonly records?: Partial<Record<ODataType, readonly ODataRecord[]>>;
  /** The WebDAV resources, in any order (the view sorts them parents first, siblings by name). */
  readonly dav?: readonly DavData[];
}

/** A view plus what the test may want to observe of it. */
export interface TestView extends ExportView {
  /** How many times `close` was called. */
  readonly closeCount: number;
  /** How many content streams were opened. */
  readonly opened: number;
}

/** Orders paths depth-first, siblings in code-unit order. */
export function davOrder(a: string, b: string): number {
  const x = a === '' ? [] : a.split('/');
  const y = b === '' ? [] : b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p !== q) return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

/** A record in Personium's wrapper. */
export function record(type: string, id: string, source: Record<string, unknown> = {}): ODataRecord {
  return { _index: `u0_ad.${type.toLowerCase()}`, _type: type, _source: { c: 'cell0', type, ...source }, _id: id };
}

/** Content given as bytes. */
export function bufferContent(bytes: Buffer | string): DavContent & { readonly bytes: Buffer } {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return {
    bytes: buffer,
    size: buffer.length,
    open: () => Promise.resolve(Readable.from([buffer], { objectMode: false })),
  };
}

/**
 * Generated content of `size` bytes, made on the fly in 64 KiB chunks, never held whole: `text`
 * (compressible lines), `random` (pseudo-random, incompressible, deterministic per seed) or `zero`.
 */
export function generatedContent(size: number, kind: 'text' | 'random' | 'zero', seed = 1): DavContent {
  return {
    size,
    open: () => Promise.resolve(generatedStream(size, kind, seed)),
  };
}

const BLOCK = 1024 * 1024;
const blocks = new Map<string, Buffer>();

/** A deterministic 1 MiB block per kind: xorshift32 bytes, numbered text lines, or zeros. */
function blockOf(kind: 'text' | 'random' | 'zero'): Buffer {
  const key = kind;
  const seed = 1;
  let block = blocks.get(key);
  if (block === undefined) {
    if (kind === 'zero') block = Buffer.alloc(BLOCK);
    else if (kind === 'random') {
      block = Buffer.allocUnsafe(BLOCK);
      let x = (seed * 2654435761) >>> 0 || 1;
      for (let i = 0; i < BLOCK; i += 4) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        block.writeUInt32LE(x, i);
      }
    } else {
      const lines: string[] = [];
      let length = 0;
      for (let i = 0; length < BLOCK; i += 1) {
        const line = `line ${i} of seed ${seed}: the quick brown fox jumps over the lazy dog\n`;
        lines.push(line);
        length += line.length;
      }
      block = Buffer.from(lines.join('')).subarray(0, BLOCK);
    }
    blocks.set(key, block);
  }
  return block;
}

/**
 * The stream of {@link generatedContent}: slices of a 1 MiB block, in 64 KiB chunks, from an offset
 * that depends on the seed. `random` stays incompressible (the block is far longer than deflate's
 * 32 KiB window).
 */
export function generatedStream(size: number, kind: 'text' | 'random' | 'zero', seed = 1): Readable {
  const block = blockOf(kind);
  const start = (seed * 104_729) % BLOCK;
  let offset = 0;
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(64 * 1024, size - offset);
      const at = (start + offset) % BLOCK;
      const chunk = at + n <= BLOCK ? block.subarray(at, at + n) : Buffer.concat([block.subarray(at), block.subarray(0, at + n - BLOCK)]);
      offset += n;
      this.push(chunk);
    },
  });
}

/** The default cell record. */
export function cellRecord(): ODataRecord {
  return {
    _index: 'u0_ad.cell',
    _type: 'Cell',
    _source: { s: { Name: 'testcell' }, h: { Owner: null }, p: 1669806000000, u: 1669806000000, type: 'Cell' },
    _id: 'c0000000000000000000000000000000',
  };
}

/** A view over plain data. */
export function memoryView(data: ViewData): TestView {
  const nodes = [...(data.dav ?? [])].sort((a, b) => davOrder(a.path, b.path));
  let recordCount = 0;
  for (const type of ODATA_TYPES) recordCount += data.records?.[type]?.length ?? 0;
  let bytes = 0;
  let opened = 0;
  let closeCount = 0;
  const toNode = (node: DavData): DavNode => {
    if (node.content === undefined) return { path: node.path, meta: node.meta };
    const given = node.content;
    const inline = Buffer.isBuffer(given) || typeof given === 'string';
    const content: DavContent = inline ? bufferContent(given) : given;
    return {
      path: node.path,
      meta: node.meta,
      content: {
        size: content.size,
        // Bytes and strings are opened as streams; a DavContent given with bytes is passed on whole.
        bytes: inline ? undefined : content.bytes,
        open: () => {
          opened += 1;
          return content.open();
        },
      },
    };
  };
  const dav = nodes.map(toNode);
  for (const node of dav) bytes += node.content?.size ?? 0;
  return {
    totals: { records: recordCount, davNodes: dav.length, bytes },
    get closeCount() {
      return closeCount;
    },
    get opened() {
      return opened;
    },
    cellRecord: () => Promise.resolve(data.cell ?? cellRecord()),
    async *records(type: ODataType) {
      for (const r of data.records?.[type] ?? []) yield r;
    },
    async *dav() {
      for (const node of dav) yield node;
    },
    close: () => {
      closeCount += 1;
      return Promise.resolve();
    },
  };
}

/** A small but complete cell: records of several types, collections, files of several kinds. */
export function sampleData(): ViewData {
  const box = record('Box', 'Bx1aaaaaaaaaaaaaaaaaaa', { s: { Name: 'box1', Schema: 'https://app.example/' } });
  return {
    records: {
      Box: [box],
      Account: [
        record('Account', 'Ac1aaaaaaaaaaaaaaaaaaa', { s: { Name: 'me' }, h: { HashedCredential: 'x/y+z==' } }),
        record('Account', 'Ac2aaaaaaaaaaaaaaaaaaa', { s: { Name: 'ユーザー' }, d: { note: 'line\nbreak "quoted" \\ slash /' } }),
      ],
      Role: [record('Role', 'Ro1aaaaaaaaaaaaaaaaaaa', { s: { Name: 'admin' } })],
      UserData: Array.from({ length: 50 }, (_, i) =>
        record('UserData', `Ud${String(i).padStart(20, '0')}`, { s: { n: i, text: 'x'.repeat(i) }, ll: [] }),
      ),
      link: [record('link', 'Lk1aaaaaaaaaaaaaaaaaaa', { k1: 'Ac1aaaaaaaaaaaaaaaaaaa', k2: 'Ro1aaaaaaaaaaaaaaaaaaa', t1: 'Account', t2: 'Role' })],
    },
    dav: [
      { path: '', meta: { t: 'Cell', cs: 'normal', a: {}, d: {}, p: 1, u: 1, v: 1, i: 'c0' } },
      { path: '__', meta: { t: 'col.box', a: {}, d: {}, p: 1, u: 1, v: 1, i: 'mainbox' } },
      { path: '__/docs', meta: { t: 'col.webdav', a: {}, d: {}, p: 1, u: 1, v: 1, i: 'docs' } },
      {
        path: '__/docs/readme.txt',
        meta: { t: 'dav.file', ct: 'text/plain', cl: 0, et: 'NONE', a: {}, d: {}, p: 1, u: 1, v: 1, i: 'readme' },
        content: 'hello world\n'.repeat(2000),
      },
      {
        path: '__/docs/empty.bin',
        meta: { t: 'dav.file', ct: 'application/octet-stream', et: 'NONE', i: 'empty' },
        content: Buffer.alloc(0),
      },
      {
        path: '__/docs/photo.jpg',
        meta: { t: 'dav.file', ct: 'image/jpeg', et: 'NONE', i: 'photo' },
        content: generatedContent(100_000, 'text', 7),
      },
      {
        path: '__/docs/noise.bin',
        meta: { t: 'dav.file', ct: 'application/octet-stream', et: 'NONE', i: 'noise' },
        content: generatedContent(200_000, 'random', 3),
      },
      { path: '__/docs/sub dir', meta: { t: 'col.webdav', i: 'sub' } },
      { path: '__/docs/sub dir/日本語.txt', meta: { t: 'dav.file', ct: 'text/plain; charset=utf-8', i: 'jp' }, content: 'こんにちは\n' },
      { path: 'Bx1aaaaaaaaaaaaaaaaaaa', meta: { t: 'col.box', i: 'box1' } },
      { path: 'Bx1aaaaaaaaaaaaaaaaaaa/odata', meta: { t: 'col.odata', i: 'node1' } },
    ],
  };
}
