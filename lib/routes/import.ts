/** `{CellURL}__import`: POST starts an import, GET reports it, DELETE cancels it (SPEC section 6). */
import { PersoniumError } from '../errors.js';
import { snapshotName } from '../snapshot/names.js';
import type { MethodTable } from '../http/pipeline.js';
import { authorised } from '../http/state.js';
import { importWork } from '../jobs/import-job.js';
import { openSnapshot } from '../snapshot/reader.js';
import { storeSource } from '../snapshot/source.js';
import type { RouteDeps } from './deps.js';
import { answerAccepted, answerEmpty, answerStatus } from './answers.js';

/** The import resource's handlers. */
export function importRoutes({ options, runner, readJsonBody }: RouteDeps): MethodTable {
  const { maxEntries, maxUncompressedBytes, maxCompressionRatio, maxLineBytes } = options.limits;
  const limits = { maxEntries, maxUncompressedBytes, maxCompressionRatio, maxLineBytes };

  return {
    async GET(ctx) {
      const { cell } = authorised(ctx);
      const { running, importFailure } = await runner.state(cell.id);
      if (running?.kind === 'import') {
        answerStatus(
          ctx,
          {
            status: 'importation in progress',
            started_at: running.startedAt,
            progress: `${running.progress}%`,
            importation_name: running.name,
          },
          running,
        );
      } else if (importFailure !== undefined) {
        answerStatus(ctx, {
          status: 'import failed',
          started_at: importFailure.startedAt,
          progress: `${importFailure.progress}%`,
          importation_name: importFailure.name,
          message: importFailure.error,
        });
      } else {
        answerStatus(ctx, { status: 'ready' });
      }
    },

    async POST(ctx) {
      const { cell, principal, requestKey } = authorised(ctx);
      const body = await readJsonBody(ctx);
      const given = body?.['Name'];
      if (given === undefined || given === null) throw new PersoniumError('PR400-CM-0001', ['Name']);
      const name = snapshotName(given);
      await runner.precheck(cell.id);
      const source = await storeSource(options.snapshots, cell.id, `${name}.zip`);
      if (source === undefined) throw new PersoniumError('PR404-DV-0001', [`${name}.zip`]);
      const abort = new AbortController();
      let onBytes: (n: number) => void = () => {};
      const reader = await openSnapshot(source, { limits, signal: abort.signal, onBytes: (n) => onBytes(n) });
      try {
        await runner.start(
          { cellId: cell.id, kind: 'import', name, requestKey, subject: principal.subject },
          importWork({
            cells: options.cells,
            cell,
            reader,
            onError: options.onError,
            attach(job, count) {
              onBytes = count;
              job.signal.addEventListener('abort', () => abort.abort(job.signal.reason), { once: true });
            },
          }),
        );
      } catch (error) {
        await reader.close();
        throw error;
      }
      answerAccepted(ctx, '__import');
    },

    async DELETE(ctx) {
      const { cell } = authorised(ctx);
      await runner.cancel(cell.id, 'import');
      answerEmpty(ctx, 202);
    },
  };
}
