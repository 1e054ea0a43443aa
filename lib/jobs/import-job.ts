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

/** The import's work function for the runner. */
export function importWork({ cells, cell, reader, attach, onError }: ImportJobOptions): JobWork {
  return async (job) => {
    const { totals } = reader;
    const progress = new Progress({ records: 0, davNodes: totals.davNodes, bytes: totals.recordBytes + totals.contentBytes });
    const done = { records: 0, davNodes: 0, bytes: 0 };
    attach(job, (n) => {
      done.bytes += n;
      job.setProgress(progress.update(done));
    });
    try {
      const tx = await cells.beginImport(cell, job.signal);
      try {
        await tx.putCellRecord(retargetCellRecord(await reader.cellRecord(), cell));
        await putLevel(tx, reader, cell.id, 'cell');
        for await (const node of reader.dav()) {
          job.signal.throwIfAborted();
          await tx.putDav(node);
          done.davNodes += 1;
        }
        await putLevel(tx, reader, cell.id, 'box');
        await job.confirmLease();
        await tx.commit();
      } catch (error) {
        await tx.rollback().catch(onError);
        throw error;
      }
    } finally {
      await reader.close().catch(onError);
    }
  };
}
