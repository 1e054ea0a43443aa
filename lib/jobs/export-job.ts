/**
 * The export job: `Name` (or a generated one) checked, no `{Name}.zip` yet (409), then the cell's
 * export view streamed into `{Name}.zip`, visible only when complete. A failure or cancel leaves
 * `{Name}.error`; a success removes an older one.
 */
import { PersoniumError } from '../errors.js';
import { snapshotName, zipName } from '../snapshot/names.js';
import { writeSnapshot } from '../snapshot/writer.js';
import type { CellDataSource, CellInfo, SnapshotStore } from '../types.js';
import { dropEarlierErrorFile, writeErrorFile } from './error-file.js';
import { type JobHandle, type JobKindModule, type PreparedJob, ignoredKeys } from './job-kind.js';
import { Progress } from './progress.js';

/** What the export job needs. */
export interface ExportJobDeps {
  /** Where cells are read from. */
  readonly cells: CellDataSource;
  /** Where the snapshot is written. */
  readonly snapshots: SnapshotStore;
  /** Receives failures of cleanup steps. */
  readonly onError: (error: unknown) => void;
}

/** `yyyyMMdd_HHmmss` in UTC. */
function timestampSuffix(date = new Date()): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** Streams the cell into `{name}.zip`, committed only if no file of that name appeared meanwhile. */
async function runExport(deps: ExportJobDeps, cell: CellInfo, name: string, unitUrl: string, job: JobHandle): Promise<void> {
  const { cells, snapshots, onError } = deps;
  const view = await cells.openExport(cell, job.signal);
  try {
    const progress = new Progress();
    // The totals may still be counted while the export reads (see ExportView.totals).
    const counted = Promise.resolve(view.totals).then((totals) => progress.setTotal(totals));
    counted.catch(() => undefined); // awaited below, once the write is done
    const upload = await snapshots.write(cell.id, zipName(name), { contentType: 'application/zip' });
    try {
      await writeSnapshot(view, upload.stream, {
        unitUrl,
        signal: job.signal,
        onProgress: (done) => job.setProgress(progress.update(done)),
      });
      await counted;
      await job.confirmLease();
      await upload.commit({ ifNoneMatch: '*' });
    } catch (error) {
      await upload.abort();
      throw error;
    }
  } finally {
    await view.close().catch(onError);
  }
  await dropEarlierErrorFile(snapshots, cell.id, name, onError);
}

/** The export job kind. */
export function exportJob(deps: ExportJobDeps): JobKindModule {
  return {
    kind: 'export',
    async prepare({ cell, requestKey, subject, body, unitUrl, precheck }): Promise<PreparedJob> {
      const given = body?.['Name'];
      const name = given === undefined || given === null ? `${cell.name}_${timestampSuffix()}` : snapshotName(given);
      await precheck();
      if ((await deps.snapshots.stat(cell.id, zipName(name))) !== undefined) {
        throw new PersoniumError('PR409-DV-0002', [zipName(name)]);
      }
      return {
        request: { cellId: cell.id, kind: 'export', name, requestKey, subject },
        run: (job) => runExport(deps, cell, name, unitUrl, job),
        discard: async () => undefined,
        ignoredKeys: ignoredKeys(body),
      };
    },
    // An export's failure is its `.error` file; the job store keeps nothing.
    storedFailure: () => undefined,
    leaveFailure: (record, failure) => writeErrorFile(deps.snapshots, record.cellId, record.name, failure),
    // The zip is the export's last step, and `prepare` refused a name whose zip existed: a zip of that
    // name now was committed while the job ran (by it, or by an upload of that name meanwhile, which
    // its own commit would then have refused), so the name holds a whole snapshot and no `.error` is
    // due. What the job does after its commit is left: drop an `.error` of an earlier export (done
    // by whichever instance looks, before the reap is won: removing a stale file twice is harmless).
    async completedBeforeStop(record) {
      if ((await deps.snapshots.stat(record.cellId, zipName(record.name))) === undefined) return false;
      await dropEarlierErrorFile(deps.snapshots, record.cellId, record.name, deps.onError);
      return true;
    },
  };
}
