/**
 * The import job: `Name` required and valid, `{Name}.zip` present and vetted (its central directory
 * and manifest) before the 202; then the snapshot's records and WebDAV tree streamed into the cell
 * data source's import transaction, committed only after every entry was read, verified and written;
 * rolled back on any failure or cancel, so the cell is exactly as before. A failure (not a cancel)
 * is kept by the job store as the cell's `import failed`.
 */
import { PersoniumError } from '../errors.js';
import type { ResolvedLimits } from '../limits.js';
import { ODATA_FILES, type ODataLevel } from '../snapshot/format.js';
import { snapshotName, zipName } from '../snapshot/names.js';
import { openSnapshot, type SnapshotReader } from '../snapshot/reader.js';
import { storeSource } from '../snapshot/source.js';
import type { CellDataSource, CellInfo, ImportTransaction, SnapshotStore } from '../types.js';
import { retargetCellRecord, retargetRecords } from './identity.js';
import { stagedLines } from './record-lines.js';
import { type JobHandle, type JobKindModule, type PreparedJob, ignoredKeys } from './job-kind.js';
import { Progress } from './progress.js';

/** What the import job needs. */
export interface ImportJobDeps {
  /** Where the cell is written. */
  readonly cells: CellDataSource;
  /** Where the snapshot is read from. */
  readonly snapshots: SnapshotStore;
  /** The reader's limits. */
  readonly limits: Pick<ResolvedLimits, 'maxEntries' | 'maxUncompressedBytes' | 'maxCompressionRatio' | 'maxLineBytes'>;
  /** Receives failures of the rollback and of closing the reader. */
  readonly onError: (error: unknown) => void;
}

async function putLevel(tx: ImportTransaction, reader: SnapshotReader, cellId: string, level: ODataLevel): Promise<void> {
  for (const file of ODATA_FILES) {
    if (file.level !== level) continue;
    if (tx.putRecordLines !== undefined) await tx.putRecordLines(file.type, stagedLines(reader.recordLines(file.type), cellId));
    else await tx.putRecords(file.type, retargetRecords(reader.records(file.type), cellId));
  }
}

/** What {@link importSnapshot} needs. */
export interface ImportSnapshotOptions {
  readonly cells: CellDataSource;
  readonly cell: CellInfo;
  /** The opened, vetted snapshot; closed when the import ends. */
  readonly reader: SnapshotReader;
  /** Aborts the import (it rolls back). */
  readonly signal: AbortSignal;
  /** Called after each WebDAV resource was staged. */
  readonly onDavNode?: () => void;
  /** Called once everything is staged, just before the commit; a rejection rolls back. */
  readonly beforeCommit?: () => Promise<void>;
  /** Receives failures of the rollback and of closing the reader. */
  readonly onError: (error: unknown) => void;
}

/**
 * Streams an opened snapshot into the cell's import transaction, with the target's identity, and
 * commits only after every entry was read, verified and staged; rolls back on any failure.
 */
export async function importSnapshot({ cells, cell, reader, signal, onDavNode, beforeCommit, onError }: ImportSnapshotOptions): Promise<void> {
  try {
    const tx = await cells.beginImport(cell, signal);
    try {
      await tx.putCellRecord(retargetCellRecord(await reader.cellRecord(), cell));
      await putLevel(tx, reader, cell.id, 'cell');
      for await (const node of reader.dav()) {
        signal.throwIfAborted();
        await tx.putDav(node);
        onDavNode?.();
      }
      await putLevel(tx, reader, cell.id, 'box');
      await beforeCommit?.();
      await tx.commit();
    } catch (error) {
      await tx.rollback().catch(onError);
      throw error;
    }
  } finally {
    await reader.close().catch(onError);
  }
}

/**
 * Opens and vets `{name}.zip` of the cell (404 when absent, the reader's 400s when unsafe), wired so
 * that the job, once it runs, hears the bytes read and can abort the reader.
 */
async function openImport(deps: ImportJobDeps, cell: CellInfo, name: string): Promise<PreparedImport> {
  const source = await storeSource(deps.snapshots, cell.id, zipName(name));
  if (source === undefined) throw new PersoniumError('PR404-DV-0001', [zipName(name)]);
  const abort = new AbortController();
  const done = { records: 0, davNodes: 0, bytes: 0 };
  let progress: Progress | undefined;
  let running: JobHandle | undefined;
  const onBytes = (n: number): void => {
    if (running === undefined || progress === undefined) return; // the vetting before the job runs
    done.bytes += n;
    running.setProgress(progress.update(done));
  };
  const { maxEntries, maxUncompressedBytes, maxCompressionRatio, maxLineBytes } = deps.limits;
  const limits = { maxEntries, maxUncompressedBytes, maxCompressionRatio, maxLineBytes };
  const reader = await openSnapshot(source, { limits, signal: abort.signal, onBytes });
  const { totals } = reader;
  progress = new Progress({ records: 0, davNodes: totals.davNodes, bytes: totals.recordBytes + totals.contentBytes });
  return {
    reader,
    start(job) {
      running = job;
      job.signal.addEventListener('abort', () => abort.abort(job.signal.reason), { once: true });
    },
    countDavNode() {
      done.davNodes += 1;
    },
  };
}

/** An opened snapshot and how a running job hooks into it. */
interface PreparedImport {
  readonly reader: SnapshotReader;
  /** Lets the job hear the reader's progress and abort it. */
  start(job: JobHandle): void;
  /** Counts one WebDAV resource staged. */
  countDavNode(): void;
}

/** The import job kind. */
export function importJob(deps: ImportJobDeps): JobKindModule {
  return {
    kind: 'import',
    async prepare({ cell, requestKey, subject, body, precheck }): Promise<PreparedJob> {
      const given = body?.['Name'];
      if (given === undefined || given === null) throw new PersoniumError('PR400-CM-0001', ['Name']);
      const name = snapshotName(given);
      await precheck();
      const opened = await openImport(deps, cell, name);
      return {
        request: { cellId: cell.id, kind: 'import', name, requestKey, subject },
        async run(job) {
          opened.start(job);
          await importSnapshot({
            cells: deps.cells,
            cell,
            reader: opened.reader,
            signal: job.signal,
            onDavNode: () => opened.countDavNode(),
            beforeCommit: () => job.confirmLease(),
            onError: deps.onError,
          });
        },
        discard: () => opened.reader.close(),
        ignoredKeys: ignoredKeys(body),
      };
    },
    // A cancelled import is no failure: the cell is as before and nothing is reported.
    storedFailure: (failure) => (failure.code === 'PR409-SN-0002' ? undefined : failure),
    leaveFailure: async () => undefined,
  };
}
