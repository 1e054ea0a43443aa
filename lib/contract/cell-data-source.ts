/**
 * The contract every {@link CellDataSource} must pass (see `lib/types.ts`). An implementation's test
 * file calls {@link cellDataSourceContract} with ava's `test` and a factory that builds a fresh source
 * holding the sample cells of `fixtures/cells/` (`alice`, larger, and `bob`, small).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ExecutionContext, TestFn } from 'ava';
import { PersoniumError } from '../errors.js';
import { ODATA_TYPES, recordJson } from '../snapshot/format.js';
import { recordBatches } from '../snapshot/lines.js';
import type { CellDataSource, CellInfo, DavMeta, ExportTotals, ExportView, ImportTransaction, ODataRecord, ODataType } from '../types.js';

/** Builds a fresh source holding the fixture cells; cleans up in `t.teardown`. */
export type MakeCellDataSource = (t: ExecutionContext) => Promise<CellDataSource>;

/** One WebDAV resource as a comparison sees it: content reduced to its size and SHA-256. */
export interface DavDigest {
  /** The resource path. */
  readonly path: string;
  /** Its metadata. */
  readonly meta: DavMeta;
  /** Its content's size and SHA-256, for a file. */
  readonly content?: { readonly size: number; readonly sha256: string };
}

/** Everything an export view holds, in a comparable form. */
export interface CellDigest {
  /** The totals the view announced. */
  readonly totals: ExportTotals;
  /** The cell record. */
  readonly cellRecord: ODataRecord;
  /** The records of every type, in the order yielded. */
  readonly records: Record<ODataType, ODataRecord[]>;
  /** The WebDAV resources, in the order yielded. */
  readonly dav: DavDigest[];
}

/** Reads a stream to its end, returning its length and SHA-256. */
async function digestStream(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    hash.update(buf);
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Reads a whole export view, checking on the way that each content stream has its announced size
 * and that the bytes a content holds in memory, if any, are the bytes its stream yields.
 */
export async function digestView(view: ExportView): Promise<CellDigest> {
  const records = {} as Record<ODataType, ODataRecord[]>;
  for (const type of ODATA_TYPES) {
    const list: ODataRecord[] = [];
    for await (const record of view.records(type)) list.push(record);
    records[type] = list;
  }
  const dav: DavDigest[] = [];
  for await (const node of view.dav()) {
    if (node.content === undefined) {
      dav.push({ path: node.path, meta: node.meta });
    } else {
      const content = await digestStream(await node.content.open());
      if (content.size !== node.content.size) {
        throw new Error(`content of [${node.path}] is ${content.size} bytes, announced ${node.content.size}`);
      }
      const { bytes } = node.content;
      if (bytes !== undefined && createHash('sha256').update(bytes).digest('hex') !== content.sha256) {
        throw new Error(`the bytes held for [${node.path}] are not the bytes its stream yields`);
      }
      dav.push({ path: node.path, meta: node.meta, content });
    }
  }
  return { totals: await view.totals, cellRecord: await view.cellRecord(), records, dav };
}

/** Resolves a cell that must exist. */
async function mustGetCell(source: CellDataSource, name: string): Promise<CellInfo> {
  const cell = await source.getCell(name);
  if (cell === undefined) throw new Error(`fixture cell ${name} is missing`);
  return cell;
}

/** Opens, digests and closes an export of a cell. */
export async function digestCell(source: CellDataSource, name: string): Promise<CellDigest> {
  const cell = await mustGetCell(source, name);
  const view = await source.openExport(cell, new AbortController().signal);
  try {
    return await digestView(view);
  } finally {
    await view.close();
  }
}

/** The cell record of `from`, carrying the identity of `target` (as the module hands it to an import). */
export function retarget(record: ODataRecord, target: CellInfo): ODataRecord {
  const source = structuredClone(record._source);
  const s = typeof source['s'] === 'object' && source['s'] !== null ? (source['s'] as Record<string, unknown>) : {};
  source['s'] = { ...s, Name: target.name };
  const h = typeof source['h'] === 'object' && source['h'] !== null ? { ...(source['h'] as Record<string, unknown>) } : {};
  if (target.owner === undefined) delete h['Owner'];
  else h['Owner'] = target.owner;
  source['h'] = h;
  return { _index: record._index, _type: record._type, _source: source, _id: target.id };
}

/** How {@link stageView} hands over the records. */
export interface StageOptions {
  /** As `.pjson` lines through `putRecordLines` (which the transaction must have), not `putRecords`. */
  readonly asLines?: boolean;
}

/** Opens an import into `target` and stages the whole of `from` into it (without committing). */
export async function stageCell<T extends ImportTransaction>(
  source: Pick<CellDataSource, 'openExport'> & { beginImport(cell: CellInfo, signal: AbortSignal): Promise<T> },
  from: CellInfo,
  target: CellInfo,
  options: StageOptions = {},
): Promise<T> {
  const view = await source.openExport(from, new AbortController().signal);
  const tx = await source.beginImport(target, new AbortController().signal);
  try {
    await stageView(view, tx, target, options);
  } finally {
    await view.close();
  }
  return tx;
}

/** Stages a whole export view into a transaction, as an import does (without committing). */
export async function stageView(view: ExportView, tx: ImportTransaction, target: CellInfo, options: StageOptions = {}): Promise<void> {
  await tx.putCellRecord(retarget(await view.cellRecord(), target));
  for (const type of ODATA_TYPES) {
    if (options.asLines !== true) await tx.putRecords(type, view.records(type));
    else if (tx.putRecordLines === undefined) throw new Error('the transaction has no putRecordLines');
    else await tx.putRecordLines(type, recordBatches(view.records(type)));
  }
  for await (const node of view.dav()) {
    await tx.putDav(
      node.content === undefined
        ? { path: node.path, meta: node.meta }
        : { path: node.path, meta: node.meta, content: await node.content.open() },
    );
  }
}

/** The digest of a cell minus its identity, to compare the content of two cells. */
function content(digest: CellDigest): Omit<CellDigest, 'cellRecord'> & { cellSource: Record<string, unknown> } {
  const cellSource = structuredClone(digest.cellRecord._source);
  delete cellSource['s'];
  delete cellSource['h'];
  return { totals: digest.totals, records: digest.records, dav: digest.dav, cellSource };
}

/** Whether `a` sorts before `b` by UTF-16 code unit. */
function codeUnitLess(a: string, b: string): boolean {
  return a < b;
}

/** The parent path of a WebDAV path. */
function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/**
 * Registers the contract tests of a {@link CellDataSource}.
 *
 * @param test - ava's `test`.
 * @param makeSource - builds a fresh source holding the fixture cells `alice` and `bob`.
 * @param label - prefixes the test titles (to run several implementations in one process).
 */
export function cellDataSourceContract(test: TestFn, makeSource: MakeCellDataSource, label = 'CellDataSource'): void {
  const title = (what: string): string => `${label} contract: ${what}`;

  test(title('getCell resolves the fixture cells with their identity'), async (t) => {
    const source = await makeSource(t);
    const alice = await mustGetCell(source, 'alice');
    const bob = await mustGetCell(source, 'bob');
    t.is(alice.name, 'alice');
    t.is(bob.name, 'bob');
    t.regex(alice.id, /^.+$/);
    t.not(alice.id, bob.id);
    t.deepEqual(await source.getCell('alice'), alice, 'getCell is stable');
    const view = await source.openExport(alice, new AbortController().signal);
    try {
      const record = await view.cellRecord();
      t.is(record._type, 'Cell');
      t.is(record._id, alice.id);
      t.is((record._source['s'] as Record<string, unknown>)['Name'], 'alice');
    } finally {
      await view.close();
    }
  });

  test(title('getCell resolves undefined for unknown and unsafe names'), async (t) => {
    const source = await makeSource(t);
    const names = [
      'nobody',
      '',
      '.',
      '..',
      '../alice',
      'alice/',
      './alice',
      'alice/dav',
      '/alice',
      'al\\ice',
      '..\\alice',
      'alice\0',
      '%2e%2e',
      'alice/../bob',
      'a'.repeat(10_000),
    ];
    for (const name of names) t.is(await source.getCell(name), undefined, JSON.stringify(name.slice(0, 40)));
  });

  test(title("an export view's totals match what it yields, and contents match their sizes"), async (t) => {
    const source = await makeSource(t);
    for (const name of ['alice', 'bob']) {
      const digest = await digestCell(source, name);
      const records = Object.values(digest.records).reduce((n, list) => n + list.length, 0);
      const bytes = digest.dav.reduce((n, node) => n + (node.content?.size ?? 0), 0);
      t.deepEqual(digest.totals, { records, davNodes: digest.dav.length, bytes }, name);
      t.true(records > 0, `${name} has records`);
      t.true(digest.dav.length > 0, `${name} has WebDAV resources`);
    }
    const alice = await digestCell(source, 'alice');
    t.true(alice.dav.some((n) => n.content?.size === 0), 'alice has an empty file');
    t.true(alice.totals.bytes > 1_000_000, 'alice has megabytes of content');
  });

  test(title('records(type) yields well-formed records in a stable order'), async (t) => {
    const source = await makeSource(t);
    const first = await digestCell(source, 'alice');
    const second = await digestCell(source, 'alice');
    t.deepEqual(second.records, first.records);
    for (const type of ODATA_TYPES) {
      for (const record of first.records[type]) {
        t.is(typeof record._index, 'string');
        t.is(typeof record._type, 'string');
        t.is(typeof record._id, 'string');
        t.is(typeof record._source, 'object');
      }
    }
  });

  test(title("recordLines(type), when the view has it, is records(type) written as recordJson lines"), async (t) => {
    const source = await makeSource(t);
    for (const name of ['alice', 'bob']) {
      const view = await source.openExport(await mustGetCell(source, name), new AbortController().signal);
      try {
        if (view.recordLines === undefined) {
          t.log('the export view has no recordLines (optional)');
          t.pass();
          return;
        }
        for (const type of ODATA_TYPES) {
          const expected: string[] = [];
          for await (const record of view.records(type)) expected.push(`${recordJson(record)}\n`);
          const pieces: Buffer[] = [];
          for await (const piece of view.recordLines(type)) pieces.push(piece);
          t.true(
            pieces.every((piece) => piece.length > 0 && piece.at(-1) === 0x0a),
            `${name} ${type}: every piece is whole lines`,
          );
          t.is(Buffer.concat(pieces).toString('utf8'), expected.join(''), `${name} ${type}`);
        }
      } finally {
        await view.close();
      }
    }
  });

  test(title('dav() yields the root first, parents before children, siblings in code-unit order'), async (t) => {
    const source = await makeSource(t);
    for (const name of ['alice', 'bob']) {
      const { dav } = await digestCell(source, name);
      t.is(dav[0]?.path, '', `${name}: the root comes first`);
      const index = new Map(dav.map((node, i) => [node.path, i]));
      t.is(index.size, dav.length, `${name}: every path is yielded once`);
      const lastChild = new Map<string, string>();
      for (const [i, node] of dav.entries()) {
        if (node.path === '') continue;
        t.false(node.path.startsWith('/') || node.path.endsWith('/'), node.path);
        t.false(node.path.split('/').some((s) => s === '' || s === '.' || s === '..'), node.path);
        const parent = parentOf(node.path);
        // The fixture cells have no intermediate folders: every parent is a resource.
        t.true((index.get(parent) ?? Infinity) < i, `${name}: the parent of ${node.path} comes before it`);
        const child = node.path.slice(parent === '' ? 0 : parent.length + 1);
        const previous = lastChild.get(parent);
        if (previous !== undefined) t.true(codeUnitLess(previous, child), `${name}: ${previous} < ${child}`);
        lastChild.set(parent, child);
      }
    }
  });

  test(title('an import replaces the content on commit and keeps the target identity'), async (t) => {
    const source = await makeSource(t);
    const aliceBefore = await digestCell(source, 'alice');
    const bob = await mustGetCell(source, 'bob');
    const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
    await tx.commit();
    t.deepEqual(await source.getCell('bob'), bob, "bob keeps bob's identity");
    const bobAfter = await digestCell(source, 'bob');
    t.deepEqual(content(bobAfter), content(aliceBefore), "bob now holds alice's content");
    t.deepEqual(bobAfter.cellRecord, retarget(aliceBefore.cellRecord, bob));
    t.deepEqual(await digestCell(source, 'alice'), aliceBefore, 'alice is unchanged');
  });

  test(title('putRecordLines, when the transaction has it, stages the same records as putRecords'), async (t) => {
    const source = await makeSource(t);
    const alice = await mustGetCell(source, 'alice');
    const bob = await mustGetCell(source, 'bob');
    const probe = await source.beginImport(bob, new AbortController().signal);
    const hasLines = probe.putRecordLines !== undefined;
    await probe.rollback();
    if (!hasLines) {
      t.log('the transaction has no putRecordLines (optional)');
      t.pass();
      return;
    }
    const aliceBefore = await digestCell(source, 'alice');
    await (await stageCell(source, alice, bob, { asLines: true })).commit();
    t.deepEqual(content(await digestCell(source, 'bob')), content(aliceBefore));
  });

  test(title("importing a cell's own export leaves it as it was"), async (t) => {
    const source = await makeSource(t);
    const alice = await mustGetCell(source, 'alice');
    const before = await digestCell(source, 'alice');
    const tx = await stageCell(source, alice, alice);
    await tx.commit();
    t.deepEqual(await digestCell(source, 'alice'), before);
  });

  test(title('nothing staged is visible before commit'), async (t) => {
    const source = await makeSource(t);
    const bob = await mustGetCell(source, 'bob');
    const bobBefore = await digestCell(source, 'bob');
    const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
    t.deepEqual(await digestCell(source, 'bob'), bobBefore);
    await tx.commit();
    t.notDeepEqual(await digestCell(source, 'bob'), bobBefore);
  });

  test(title('rollback leaves the cell unchanged'), async (t) => {
    const source = await makeSource(t);
    const bob = await mustGetCell(source, 'bob');
    const bobBefore = await digestCell(source, 'bob');
    const tx = await stageCell(source, await mustGetCell(source, 'alice'), bob);
    await tx.rollback();
    t.deepEqual(await digestCell(source, 'bob'), bobBefore);
    t.deepEqual(await source.getCell('bob'), bob);
    await t.notThrowsAsync(tx.rollback(), 'a second rollback does not reject');
  });

  test(title('a failing content stream rejects putDav, and rollback leaves the cell unchanged'), async (t) => {
    const source = await makeSource(t);
    const bob = await mustGetCell(source, 'bob');
    const bobBefore = await digestCell(source, 'bob');
    const tx = await source.beginImport(bob, new AbortController().signal);
    await tx.putCellRecord(bobBefore.cellRecord);
    for (const type of ODATA_TYPES) await tx.putRecords(type, Readable.from(bobBefore.records[type]));
    const root = bobBefore.dav.find((n) => n.path === '');
    const box = bobBefore.dav.find((n) => n.path === '__');
    if (root === undefined || box === undefined) throw new Error('bob has no root or main box');
    await tx.putDav({ path: '', meta: root.meta });
    await tx.putDav({ path: '__', meta: box.meta });
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent < 3) {
          sent++;
          this.push(Buffer.alloc(32 * 1024, sent));
        } else {
          this.destroy(new PersoniumError('PR400-SN-0003', ['20_webdav/__/broken.bin/content']));
        }
      },
    });
    await t.throwsAsync(
      tx.putDav({ path: '__/broken.bin', meta: { t: 'dav.file', ct: 'application/octet-stream', cl: 1 << 20 }, content: failing }),
    );
    await tx.rollback();
    t.deepEqual(await digestCell(source, 'bob'), bobBefore);
  });

  test(title('putDav rejects unsafe paths'), async (t) => {
    const source = await makeSource(t);
    const bob = await mustGetCell(source, 'bob');
    const bobBefore = await digestCell(source, 'bob');
    const tx = await source.beginImport(bob, new AbortController().signal);
    await tx.putCellRecord(bobBefore.cellRecord);
    await tx.putDav({ path: '', meta: { t: 'Cell' } });
    await tx.putDav({ path: '__', meta: { t: 'col.box' } });
    for (const path of ['..', '.', '__/..', '__/../..', '__/./x', '__//x', '/__', '__/', '__\\x', '__/a\0b', '../__']) {
      await t.throwsAsync(tx.putDav({ path, meta: { t: 'col.webdav' } }), undefined, JSON.stringify(path));
    }
    await tx.rollback();
    t.deepEqual(await digestCell(source, 'bob'), bobBefore);
  });

  test(title('aborting the signal stops records() and dav() iteration'), async (t) => {
    const source = await makeSource(t);
    const alice = await mustGetCell(source, 'alice');
    const counts = await digestCell(source, 'alice');
    const type = ODATA_TYPES.reduce((best, ty) => (counts.records[ty].length > counts.records[best].length ? ty : best));
    t.true(counts.records[type].length >= 2, 'alice has a type with two records or more');
    t.true(counts.dav.length >= 2);

    const stopsAfterOne = async (iterable: AsyncIterable<unknown>, abort: () => void): Promise<number> => {
      const iterator = iterable[Symbol.asyncIterator]();
      let yielded = 0;
      const first = await iterator.next();
      if (first.done !== true) yielded++;
      abort();
      try {
        const next = await iterator.next();
        if (next.done !== true) yielded++;
      } catch {
        // stopping with an error is fine
      }
      await iterator.return?.();
      return yielded;
    };

    const recordsAbort = new AbortController();
    const view1 = await source.openExport(alice, recordsAbort.signal);
    try {
      t.is(await stopsAfterOne(view1.records(type), () => recordsAbort.abort()), 1);
    } finally {
      await view1.close();
    }
    const davAbort = new AbortController();
    const view2 = await source.openExport(alice, davAbort.signal);
    try {
      t.is(await stopsAfterOne(view2.dav(), () => davAbort.abort()), 1);
    } finally {
      await view2.close();
    }
  });
}
