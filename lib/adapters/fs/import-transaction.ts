/**
 * The {@link ImportTransaction} of {@link FsCellDataSource}: writes a complete staging copy of the
 * cell, `root/.staging-<cell>-<id>/`, in the cell directory shape, and swaps it in on commit
 * (see `swap.ts`). Nothing is visible in the live cell before the commit point.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PersoniumError } from '../../errors.js';
import { CONTENT_NAME, PMETA_NAME, davFolder, recordJson } from '../../snapshot/format.js';
import type { CellInfo, DavImportNode, ImportTransaction, ODataRecord, ODataType } from '../../types.js';
import {
  CELL_FILE,
  DAV_DIR,
  PRIVATE_ROOT_DIRS,
  checkDavPath,
  davDir,
  pathKind,
  pjsonName,
  stagingName,
} from './cell-layout.js';
import { isJsonObject } from '../../util/json.js';
import { timeSlicer } from '../../util/yield.js';
import { recordBatches, recordProblem } from '../../snapshot/lines.js';
import { writeNewFile } from './new-file.js';
import { claimPath, commitSwap, newSwapId, releasePath, withCellLock } from './swap.js';

/** The import transaction of `FsCellDataSource`. */
export interface FsImportTransaction extends ImportTransaction {
  /** {@inheritDoc ImportTransaction.putRecordLines} */
  putRecordLines(type: ODataType, lines: AsyncIterable<Buffer>): Promise<void>;
  /**
   * Waits until every staged resource is on disk. Every resource is written before its `putDav`
   * resolves, so this resolves at once; kept for callers that flush before committing.
   */
  flush(): Promise<void>;
}

/** Options of {@link beginFsImport}. */
export interface FsImportOptions {
  /** The data source's root. */
  readonly root: string;
  /** The target cell. */
  readonly cell: CellInfo;
  /** Aborts the import. */
  readonly signal: AbortSignal;
  /**
   * Checks, under the cell's lock and just before the swap, that the live cell is still the target
   * (same id); rejects otherwise.
   */
  readonly checkTarget: () => Promise<void>;
}

/** Content up to this many bytes is read whole and written in the background. */
const SMALL_CONTENT_BYTES = 64 * 1024;

/** Whether an error is "already exists". */
function isExists(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'EEXIST';
}

/** Begins an import: creates and claims the staging directory. */
export async function beginFsImport(options: FsImportOptions): Promise<FsImportTransaction> {
  const { root, cell, signal, checkTarget } = options;
  signal.throwIfAborted();
  const id = newSwapId();
  const staging = join(root, stagingName(cell.name, id));
  claimPath(staging);
  try {
    await mkdir(staging);
  } catch (error) {
    releasePath(staging);
    throw error;
  }

  let state: 'open' | 'committing' | 'failed' | 'done' = 'open';
  let cellRecordStaged = false;
  const typesStaged = new Set<ODataType>();

  const checkOpen = (): void => {
    if (state !== 'open') throw new Error(`The import transaction is ${state === 'done' ? 'finished' : state}`);
    signal.throwIfAborted();
  };

  const putCellRecord = async (record: ODataRecord): Promise<void> => {
    checkOpen();
    const problem = recordProblem(record);
    if (problem !== undefined) throw new TypeError(`Invalid cell record: ${problem}`);
    const s = record._source['s'];
    const name = isJsonObject(s) ? s['Name'] : undefined;
    if (record._type !== 'Cell' || record._id !== cell.id || name !== cell.name) {
      throw new Error(`The cell record is not the target cell's (_type Cell, _id ${cell.id}, Name ${cell.name})`);
    }
    await writeFile(join(staging, CELL_FILE), recordJson(record), { signal });
    cellRecordStaged = true;
  };

  /** Writes one type's `.pjson` file. */
  const stage = async (type: ODataType, lines: AsyncIterable<Buffer>): Promise<void> => {
    checkOpen();
    const name = pjsonName(type);
    if (typesStaged.has(type)) throw new Error(`Records of type ${type} were already staged`);
    typesStaged.add(type);
    await writeNewFile(join(staging, name), lines, signal);
  };
  const putRecords = (type: ODataType, records: AsyncIterable<ODataRecord>): Promise<void> =>
    stage(
      type,
      recordBatches(records, (record, number) => {
        const problem = recordProblem(record);
        if (problem !== undefined) throw new TypeError(`Invalid ${type} record #${number}: ${problem}`);
      }),
    );
  // The lines are the module's own, already checked: written as they come.
  const putRecordLines = (type: ODataType, lines: AsyncIterable<Buffer>): Promise<void> => stage(type, lines);

  // Small resources (metadata, and content up to SMALL_CONTENT_BYTES) are written with synchronous
  // calls, in slices of at most a few milliseconds between which the event loop runs: their bytes
  // are already read and verified, and a cell of many small files would otherwise pay a thread-pool
  // round trip for each of its several file-system calls per resource (as in the export view).
  /** Resources staged so far (a resource staged twice is refused at once). */
  const stagedPaths = new Set<string>();
  /** The staged resources that are files (nothing may be staged inside them). */
  const filePaths = new Set<string>();
  const slice = timeSlicer();
  const flush = async (): Promise<void> => {
    // Every resource is on disk once its putDav resolved.
  };
  const writeMeta = (dir: string, node: DavImportNode): void => {
    try {
      writeFileSync(join(dir, PMETA_NAME), JSON.stringify(node.meta), { flag: 'wx' });
    } catch (error) {
      if (isExists(error)) throw new PersoniumError('PR400-SN-0002', [davFolder(node.path) + PMETA_NAME], { cause: error });
      throw error;
    }
  };

  const putDav = async (node: DavImportNode): Promise<void> => {
    try {
      checkOpen();
      const pause = slice();
      if (pause !== undefined) await pause;
      checkDavPath(node.path);
      if (!isJsonObject(node.meta)) throw new TypeError(`Metadata of WebDAV resource [${node.path}] is not an object`);
      if (stagedPaths.has(node.path)) throw new PersoniumError('PR400-SN-0002', [davFolder(node.path) + PMETA_NAME]);
      const parent = node.path.slice(0, Math.max(0, node.path.lastIndexOf('/')));
      if (node.path !== '' && filePaths.has(parent)) {
        throw new PersoniumError('PR400-SN-0002', [`${davFolder(node.path)} is inside the file ${davFolder(parent)}`]);
      }
      stagedPaths.add(node.path);
      if (node.content !== undefined) filePaths.add(node.path);
      const dir = davDir(staging, node.path);
      mkdirSync(dir, { recursive: true });
      const content = node.content;
      if (content === undefined) {
        writeMeta(dir, node);
        return;
      }
      const iterator = content[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const head: Buffer[] = [];
      let headBytes = 0;
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) {
          writeMeta(dir, node);
          writeFileSync(join(dir, CONTENT_NAME), Buffer.concat(head, headBytes), { flag: 'wx' });
          return;
        }
        head.push(next.value);
        headBytes += next.value.length;
        if (headBytes > SMALL_CONTENT_BYTES) break;
      }
      await writeMeta(dir, node);
      async function* rest(): AsyncGenerator<Buffer> {
        yield* head;
        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
      }
      await writeNewFile(join(dir, CONTENT_NAME), rest(), signal);
    } catch (error) {
      if (node.content !== undefined && !node.content.destroyed) node.content.destroy();
      throw error;
    }
  };

  /** Copies the live cell's private root folders (key pair, auth history) into the staging copy. */
  const keepPrivateDirs = async (): Promise<void> => {
    for (const name of PRIVATE_ROOT_DIRS) {
      const from = join(root, cell.name, DAV_DIR, name);
      if ((await pathKind(from)) !== 'directory') continue;
      const to = join(staging, DAV_DIR, name);
      await mkdir(join(staging, DAV_DIR), { recursive: true });
      await cp(from, to, { recursive: true, errorOnExist: true, force: false });
    }
  };

  const commit = async (): Promise<void> => {
    checkOpen();
    await flush();
    checkOpen();
    if (!cellRecordStaged) throw new Error('No cell record was staged');
    state = 'committing';
    try {
      await withCellLock(join(root, cell.name), async () => {
        await checkTarget();
        await keepPrivateDirs();
        await commitSwap(root, cell.name, id);
      });
      state = 'done';
      releasePath(staging);
    } catch (error) {
      state = 'failed';
      throw error;
    }
  };

  const rollback = async (): Promise<void> => {
    if (state === 'done') return;
    if (state === 'committing') throw new Error('The import transaction is committing');
    state = 'done';
    try {
      await rm(staging, { recursive: true, force: true });
    } finally {
      releasePath(staging);
    }
  };

  return { putCellRecord, putRecords, putRecordLines, putDav, flush, commit, rollback };
}
