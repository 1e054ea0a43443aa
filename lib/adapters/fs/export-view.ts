/**
 * The {@link ExportView} of {@link FsCellDataSource}: reads a live cell directory, streaming.
 *
 * Consistency: the view reads the live directory; it does not copy or freeze it. It pins the cell
 * directory's *generation* (device, inode and birth time of the directory): a commit replaces the whole
 * directory with renames, so when an import is committed while the view is open, the next iteration
 * (and the end of the running one) fails instead of mixing old and new content. Edits made inside the
 * live directory by something else than an import are not detected; the module blocks its own writes
 * to a cell while a job runs on it.
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CONTENT_NAME, ODATA_TYPES } from '../../snapshot/format.js';
import type { DavContent, DavNode, ExportTotals, ExportView, ODataRecord, ODataType } from '../../types.js';
import { pathKind, pjsonName } from './cell-layout.js';
import { type DavResource, countDav, walkDav } from './dav-tree.js';
import { READ_CHUNK_BYTES } from '../../util/io-sizes.js';
import { countLines, parseRecord, readLines, readRecordText } from './lines.js';

/** Options of {@link openFsExportView}. */
export interface FsExportViewOptions {
  /** The live cell directory. */
  readonly cellDir: string;
  /** Reads and checks the cell record; called once, after the directory's generation is pinned. */
  readonly readCellRecord: () => Promise<ODataRecord>;
  /** Aborts the export. */
  readonly signal: AbortSignal;
  /** Longest `.pjson` line and largest `.pmeta`, in bytes. */
  readonly maxLineBytes: number;
}

/** Content up to this size is read whole with the resource's metadata (one resource's at a time). */
const SMALL_CONTENT_BYTES = 64 * 1024;

/** An identity of a directory that changes when another directory is renamed onto its path. */
async function generationOf(dir: string): Promise<string> {
  const s = await stat(dir, { bigint: true });
  return `${s.dev}:${s.ino}:${s.birthtimeNs}`;
}

/**
 * Opens an export view on a cell directory. Its totals are a promise, counted by one streaming scan
 * (record lines, WebDAV folders and content sizes) while the export already reads.
 */
export async function openFsExportView(options: FsExportViewOptions): Promise<ExportView> {
  const { cellDir, readCellRecord, signal, maxLineBytes } = options;
  signal.throwIfAborted();
  const generation = await generationOf(cellDir);
  const cellRecord = await readCellRecord();
  const streams = new Set<Readable>();
  let closed = false;

  const track = <T extends Readable>(stream: T): T => {
    streams.add(stream);
    stream.once('close', () => streams.delete(stream));
    return stream;
  };
  const checkOpen = (): void => {
    if (closed) throw new Error('The export view is closed');
    signal.throwIfAborted();
  };
  const checkGeneration = async (): Promise<void> => {
    let now: string | undefined;
    try {
      now = await generationOf(cellDir);
    } catch {
      now = undefined;
    }
    if (now !== generation) throw new Error(`Cell directory ${cellDir} was replaced during the export`);
  };
  const openFile = (file: string, end?: number): Readable =>
    track(
      createReadStream(file, {
        signal,
        highWaterMark: READ_CHUNK_BYTES,
        ...(end === undefined ? {} : { start: 0, end }),
      }),
    );

  // The totals are counted, and the WebDAV tree is walked, while the export reads the records:
  // both walkers start now; closing the view stops them.
  const stopWalking = new AbortController();
  const walkSignal = AbortSignal.any([signal, stopWalking.signal]);
  const walkOptions = { maxMetaBytes: maxLineBytes, smallBytes: SMALL_CONTENT_BYTES };
  const totals = scanTotals(cellDir, walkSignal, openFile);
  totals.catch(() => undefined); // the export awaits it; a view closed early never does
  const early = walkDav(cellDir, walkOptions, walkSignal);
  let firstWalk: AsyncGenerator<DavResource[]> | undefined = started(early);

  /** Yields what `read` makes of a type's `.pjson` file; nothing when the type has none. */
  async function* fromTypeFile<T>(type: ODataType, read: (stream: Readable, name: string) => AsyncIterable<T>): AsyncGenerator<T> {
    checkOpen();
    await checkGeneration();
    const name = pjsonName(type);
    const file = join(cellDir, name);
    if ((await pathKind(file)) !== 'file') return;
    const stream = openFile(file);
    try {
      for await (const item of read(stream, name)) {
        checkOpen();
        yield item;
      }
    } finally {
      stream.destroy();
    }
    await checkGeneration();
  }

  async function* parsedLines(stream: Readable, name: string): AsyncGenerator<ODataRecord> {
    for await (const line of readLines(stream, maxLineBytes)) yield parseRecord(line.text, `${name}:${line.number}`);
  }

  async function* dav(): AsyncGenerator<DavNode> {
    checkOpen();
    await checkGeneration();
    const walk = firstWalk ?? walkDav(cellDir, walkOptions, walkSignal);
    firstWalk = undefined;
    for await (const batch of walk) {
      for (const { path, dir, meta, contentSize: size, small } of batch) {
        checkOpen();
        if (size === undefined) {
          yield { path, meta };
          continue;
        }
        const file = join(dir, CONTENT_NAME);
        const content: DavContent = {
          size,
          bytes: small,
          open: async () => {
            checkOpen();
            if (small !== undefined) return track(Readable.from([small]));
            return size === 0 ? track(Readable.from([])) : openFile(file, size - 1);
          },
        };
        yield { path, meta, content };
      }
    }
    await checkGeneration();
  }

  return {
    totals,
    cellRecord: async () => {
      checkOpen();
      return structuredClone(cellRecord);
    },
    records: (type) => fromTypeFile(type, parsedLines),
    recordLines: (type) => fromTypeFile(type, (stream, name) => readRecordText(stream, maxLineBytes, name)),
    dav,
    close: async () => {
      closed = true;
      stopWalking.abort(new Error('The export view is closed'));
      await early.return(undefined).catch(() => undefined);
      for (const stream of streams) stream.destroy();
      streams.clear();
    },
  };
}

/** Counts the records of the 16 types and the WebDAV folders and bytes, streaming. */
async function scanTotals(
  cellDir: string,
  signal: AbortSignal,
  openFile: (file: string) => Readable,
): Promise<ExportTotals> {
  let records = 0;
  for (const type of ODATA_TYPES) {
    const file = join(cellDir, pjsonName(type));
    if ((await pathKind(file)) !== 'file') continue;
    const stream = openFile(file);
    try {
      records += await countLines(stream);
    } finally {
      stream.destroy();
    }
  }
  return { records, ...(await countDav(cellDir, signal)) };
}

/**
 * Starts an async generator now (its first step runs at once) rather than when first iterated, and
 * returns an iterator over the same items. Its `return` ends the generator.
 */
function started<T>(generator: AsyncGenerator<T>): AsyncGenerator<T> {
  const first = generator.next();
  first.catch(() => undefined); // seen by the first iteration; a view closed before it never looks
  return (async function* () {
    try {
      for (let next = await first; next.done !== true; next = await generator.next()) yield next.value;
    } finally {
      await generator.return(undefined);
    }
  })();
}
