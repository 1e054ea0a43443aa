/**
 * The work of an import: the snapshot's records and WebDAV tree streamed into the cell data source's
 * import transaction, committed only after every entry was read, verified and written; rolled back on
 * any failure or cancel, so the cell is exactly as before.
 */
import { ODATA_FILES, type ODataLevel } from '../snapshot/format.js';
import type { SnapshotReader } from '../snapshot/reader.js';
import type { CellDataSource, CellInfo, ImportTransaction } from '../types.js';
import { retargetCellRecord, retargetRecords } from './identity.js';
import { Progress } from './progress.js';
import type { JobHandle, JobWork } from './runner.js';

/** What an import needs. */
export interface ImportJobOptions {
  readonly cells: CellDataSource;
  readonly cell: CellInfo;
  /** The opened, vetted snapshot; the job closes it. */
  readonly reader: SnapshotReader;
  /** Receives the job once it runs: lets the reader's byte count and abort reach it. */
  readonly attach: (job: JobHandle, onBytes: (n: number) => void) => void;
  readonly onError: (error: unknown) => void;
}

async function putLevel(tx: ImportTransaction, reader: SnapshotReader, cellId: string, level: ODataLevel): Promise<void> {
  for (const file of ODATA_FILES) {
    if (file.level === level) await tx.putRecords(file.type, retargetRecords(reader.records(file.type), cellId));
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

/** The import's work function for the runner: {@link importSnapshot} with progress and the lease. */
export function importWork({ cells, cell, reader, attach, onError }: ImportJobOptions): JobWork {
  return async (job) => {
    const { totals } = reader;
    const progress = new Progress({ records: 0, davNodes: totals.davNodes, bytes: totals.recordBytes + totals.contentBytes });
    const done = { records: 0, davNodes: 0, bytes: 0 };
    attach(job, (n) => {
      done.bytes += n;
      job.setProgress(progress.update(done));
    });
    await importSnapshot({
      cells,
      cell,
      reader,
      signal: job.signal,
      onDavNode: () => {
        done.davNodes += 1;
      },
      beforeCommit: () => job.confirmLease(),
      onError,
    });
  };
}
