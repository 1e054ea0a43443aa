/**
 * `FsCellDataSource`: the embedded default {@link CellDataSource}, one directory per cell in
 * Personium's own on-disk shape (see `cell-layout.ts` for the layout).
 *
 * @module
 */
import type { Stats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PersoniumError } from '../../errors.js';
import { DEFAULT_LIMITS } from '../../limits.js';
import type { CellDataSource, CellInfo, ExportView, ODataRecord } from '../../types.js';
import { CELL_FILE, isValidCellName } from './cell-layout.js';
import { openFsExportView } from './export-view.js';
import { type FsImportTransaction, beginFsImport } from './import-transaction.js';
import { isJsonObject } from '../../util/json.js';
import { parseRecord } from './lines.js';
import { recoverRoot, whenUnlocked } from './swap.js';
import { withFsFaults } from './fs-faults.js';

/** Options of {@link FsCellDataSource}. */
export interface FsCellDataSourceOptions {
  /** The directory holding one directory per cell. It need not exist yet. */
  readonly root: string;
  /**
   * Longest `.pjson` line, and largest `cell.json` or `.pmeta`, the source reads, in bytes.
   * Default 16 MiB.
   */
  readonly maxLineBytes?: number;
}

/** The default of {@link FsCellDataSourceOptions.maxLineBytes}: the router's `limits.maxLineBytes`. */
export const DEFAULT_MAX_LINE_BYTES = DEFAULT_LIMITS.maxLineBytes;

/**
 * A {@link CellDataSource} over a directory of cells:
 *
 * ```
 * <root>/<cell name>/cell.json            the cell record (`_type` "Cell")
 * <root>/<cell name>/10_box.pjson …       one per OData type, one record per line (missing = none)
 * <root>/<cell name>/dav/…                the WebDAV tree: folders with `.pmeta` and, for files, `content`
 * ```
 *
 * - {@link getCell} resolves only names that are one safe path segment (`[A-Za-z0-9_-]{1,128}`) and
 *   whose `cell.json` names the same cell; the cell's id is the record's `_id`, its owner `h.Owner`.
 * - {@link openExport} streams the live directory; a commit that replaces it during the export makes
 *   the export fail instead of mixing contents (see `export-view.ts`). A `dav/` folder is a resource
 *   when it holds `.pmeta`; a folder without one is an intermediate folder, walked but not yielded.
 *   `dav/.pkeys` and `dav/.pauthhistory` are never exported.
 * - {@link beginImport} writes a staging copy and swaps it in with renames under a journal; the cell's
 *   key pair and authentication history (`dav/.pkeys`, `dav/.pauthhistory`) are kept. `putDav`
 *   creates missing parent folders; it rejects an unsafe path or a resource staged twice with
 *   `PR400-SN-0002`, and a cell record that is not the target's (`_id`, `s.Name`).
 * - Before its first operation, and before every import, the source recovers its root ({@link recover}):
 *   swaps interrupted by a crash are rolled back and abandoned staging directories deleted, leaving
 *   alone those of live transactions in this process and of other live processes on this machine.
 *
 * `getCell` answers an identity it looked up less than 250 ms ago from memory (status polling resolves
 * the cell on every request); cell records are re-read only when `cell.json` or its directory changed.
 *
 * Symbolic links are never followed. Several sources, in one process or in several processes of one
 * machine, may share a root; processes on different machines must not. Writes are not fsync'ed (Personium's default): a commit survives a process crash, not
 * necessarily a power loss.
 */
export class FsCellDataSource implements CellDataSource {
  /** The absolute root directory. */
  readonly root: string;
  /** The line and metadata size limit in force. */
  readonly maxLineBytes: number;
  #recovery: Promise<void> | undefined;
  readonly #records = new Map<string, { readonly key: string; readonly record: ODataRecord | undefined }>();
  readonly #identities = new Map<string, { readonly info: CellInfo | undefined; readonly at: number }>();

  /**
   * @param options - the root directory and limits.
   */
  constructor(options: FsCellDataSourceOptions) {
    if (typeof options?.root !== 'string' || options.root === '') {
      throw new TypeError('FsCellDataSource: `root` must be a non-empty string');
    }
    const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TypeError('FsCellDataSource: `maxLineBytes` must be a positive integer');
    }
    this.root = resolve(options.root);
    this.maxLineBytes = max;
  }

  /**
   * Recovers the root after a crash (rolls back interrupted swaps, deletes abandoned staging and old
   * directories). Runs once, lazily, before the first operation; later calls resolve with that run.
   * A failed run is retried by the next call.
   */
  recover(): Promise<void> {
    this.#recovery ??= recoverRoot(this.root).catch((error: unknown) => {
      this.#recovery = undefined;
      throw error;
    });
    return this.#recovery;
  }

  /** {@inheritDoc CellDataSource.getCell} */
  async getCell(name: string): Promise<CellInfo | undefined> {
    if (typeof name !== 'string' || !isValidCellName(name)) return undefined;
    // Every request resolves its cell; an identity looked up in the last moment is answered again
    // without touching the disk (a cell's identity never changes, only its existence).
    const now = Date.now();
    const seen = this.#identities.get(name);
    if (seen !== undefined && now - seen.at < IDENTITY_FRESH_MS) return seen.info;
    await this.recover();
    await whenUnlocked(join(this.root, name));
    const record = await this.#readCellRecord(name);
    const info = record === undefined ? undefined : cellInfo(record, name);
    if (this.#identities.size >= RECORD_CACHE_SIZE) this.#identities.delete(this.#identities.keys().next().value ?? '');
    this.#identities.set(name, { info, at: now });
    return info;
  }

  /** {@inheritDoc CellDataSource.openExport} */
  async openExport(cell: CellInfo, signal: AbortSignal): Promise<ExportView> {
    signal.throwIfAborted();
    await this.recover();
    await whenUnlocked(join(this.root, cell.name));
    await this.#targetRecord(cell);
    return openFsExportView({
      cellDir: join(this.root, cell.name),
      readCellRecord: () => this.#targetRecord(cell),
      signal,
      maxLineBytes: this.maxLineBytes,
    });
  }

  /** {@inheritDoc CellDataSource.beginImport} */
  async beginImport(cell: CellInfo, signal: AbortSignal): Promise<FsImportTransaction> {
    signal.throwIfAborted();
    const tx = await withFsFaults('cell data', this.root, async () => {
      await this.recover();
      // Leftovers of an import whose process died since (another instance on this root) go too.
      await recoverRoot(this.root);
      await this.#targetRecord(cell);
      return beginFsImport({
        root: this.root,
        cell,
        signal,
        checkTarget: async () => {
          await this.#targetRecord(cell);
        },
      });
    });
    return faultingTransaction(tx, this.root);
  }

  /** The live record of a cell the caller resolved, checking it is still that cell. */
  async #targetRecord(cell: CellInfo): Promise<ODataRecord> {
    const record = isValidCellName(cell.name) ? await this.#readCellRecord(cell.name) : undefined;
    if (record === undefined || record._id !== cell.id) throw new PersoniumError('PR404-DV-0003');
    return record;
  }

  /**
   * Reads `root/<name>/cell.json`. Resolves `undefined` when there is no such cell directory or file,
   * or when the record names another cell; rejects when the file is not a cell record.
   */
  async #readCellRecord(name: string): Promise<ODataRecord | undefined> {
    const dir = join(this.root, name);
    const file = join(dir, CELL_FILE);
    const [dirStat, fileStat] = await Promise.all([lstatOrUndefined(dir), lstatOrUndefined(file)]);
    if (dirStat?.isDirectory() !== true || fileStat?.isFile() !== true) return undefined;
    // Status polling resolves the cell on every request: a record is re-read only when its file (or
    // the directory holding it, which an import's commit replaces) changed.
    const key = `${dirStat.ino}:${fileStat.ino}:${fileStat.size}:${fileStat.mtimeMs}:${fileStat.ctimeMs}`;
    const cached = this.#records.get(name);
    if (cached?.key === key) return cached.record;
    if (fileStat.size > this.maxLineBytes) throw new Error(`${CELL_FILE} of cell [${name}] is larger than ${this.maxLineBytes} bytes`);
    const record = parseRecord(await readFile(file, 'utf8'), `${name}/${CELL_FILE}`);
    if (record._type !== 'Cell' || record._id === '') {
      throw new Error(`${name}/${CELL_FILE} is not a cell record`);
    }
    const s = record._source['s'];
    const result = isJsonObject(s) && s['Name'] === name ? record : undefined;
    if (this.#records.size >= RECORD_CACHE_SIZE) this.#records.delete(this.#records.keys().next().value ?? '');
    this.#records.set(name, { key, record: result });
    return result;
  }
}

/**
 * The transaction with every failure of the file system as its storage fault of the cell data (a full
 * disk `PR507-SN-0001`, read-only `PR503-SN-0001`, the root gone `PR503-SN-0002`), for the staging
 * and the swap alike.
 */
function faultingTransaction(tx: FsImportTransaction, root: string): FsImportTransaction {
  const guard = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A): Promise<void> =>
    withFsFaults('cell data', root, () => fn(...args));
  return {
    putCellRecord: guard(tx.putCellRecord),
    putRecords: guard(tx.putRecords),
    putRecordLines: guard(tx.putRecordLines),
    putDav: guard(tx.putDav),
    flush: guard(tx.flush),
    commit: guard(tx.commit),
    rollback: guard(tx.rollback),
  };
}

/** How many cell records (and identities) a source keeps parsed. */
const RECORD_CACHE_SIZE = 1024;
/** How long `getCell` answers from memory, in ms: a cell created or deleted shows after this at most. */
const IDENTITY_FRESH_MS = 250;

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** The identity of a cell record. */
function cellInfo(record: ODataRecord, name: string): CellInfo {
  const h = record._source['h'];
  const owner = isJsonObject(h) && typeof h['Owner'] === 'string' ? h['Owner'] : undefined;
  return owner === undefined ? { id: record._id, name } : { id: record._id, name, owner };
}
