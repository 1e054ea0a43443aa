/** The work of an export: the cell's export view streamed into `{Name}.zip`, visible only when complete. */
import { writeSnapshot } from '../snapshot/writer.js';
import type { CellDataSource, CellInfo, SnapshotStore } from '../types.js';
import { Progress } from './progress.js';
import type { JobWork } from './runner.js';

/** What an export needs. */
export interface ExportJobOptions {
  readonly cells: CellDataSource;
  readonly snapshots: SnapshotStore;
  readonly cell: CellInfo;
  readonly name: string;
  readonly unitUrl: string;
  readonly onError: (error: unknown) => void;
}

/** The export's work function for the runner. */
export function exportWork({ cells, snapshots, cell, name, unitUrl, onError }: ExportJobOptions): JobWork {
  return async (job) => {
    const view = await cells.openExport(cell, job.signal);
    try {
      const progress = new Progress(view.totals);
      const upload = await snapshots.write(cell.id, `${name}.zip`, { contentType: 'application/zip' });
      try {
        await writeSnapshot(view, upload.stream, {
          unitUrl,
          signal: job.signal,
          onProgress: (done) => job.setProgress(progress.update(done)),
        });
        await job.confirmLease();
        await upload.commit({ ifNoneMatch: '*' });
      } catch (error) {
        await upload.abort();
        throw error;
      }
    } finally {
      await view.close().catch(onError);
    }
    await snapshots.delete(cell.id, `${name}.error`).catch(onError);
  };
}
