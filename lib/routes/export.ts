/** `{CellURL}__export`: POST starts an export, GET reports it, DELETE cancels it (SPEC section 5). */
import type { Context } from 'koa';
import { PersoniumError } from '../errors.js';
import { snapshotName } from '../snapshot/names.js';
import type { MethodTable } from '../http/pipeline.js';
import { authorised, getState } from '../http/state.js';
import { exportWork } from '../jobs/export-job.js';
import { answerAccepted, answerEmpty, answerStatus } from './answers.js';
import type { RouteDeps } from './deps.js';

/** The export resource's handlers. */
export function exportRoutes({ options, runner, readJsonBody }: RouteDeps): MethodTable {
  return {
    async GET(ctx) {
      const { cell } = authorised(ctx);
      const { running } = await runner.state(cell.id);
      if (running?.kind !== 'export') {
        answerStatus(ctx, { status: 'ready' });
        return;
      }
      answerStatus(
        ctx,
        {
          status: 'exportation in progress',
          started_at: running.startedAt,
          progress: `${running.progress}%`,
          exportation_name: running.name,
        },
        running,
      );
    },

    async POST(ctx) {
      const { cell, principal, requestKey } = authorised(ctx);
      const body = await readJsonBody(ctx);
      const given = body?.['Name'];
      const name = given === undefined || given === null ? `${cell.name}_${timestampSuffix()}` : snapshotName(given);
      await runner.precheck(cell.id);
      if ((await options.snapshots.stat(cell.id, `${name}.zip`)) !== undefined) {
        throw new PersoniumError('PR409-DV-0002', [`${name}.zip`]);
      }
      const unitUrl = options.unitUrl ?? requestUnitUrl(ctx, options.cellUrl === 'path');
      await runner.start(
        { cellId: cell.id, kind: 'export', name, requestKey, subject: principal.subject },
        exportWork({ cells: options.cells, snapshots: options.snapshots, cell, name, unitUrl, onError: options.onError }),
      );
      answerAccepted(ctx, '__export');
    },

    async DELETE(ctx) {
      const { cell } = authorised(ctx);
      await runner.cancel(cell.id, 'export');
      answerEmpty(ctx, 202);
    },
  };
}

/** `yyyyMMdd_HHmmss` in UTC. */
function timestampSuffix(date = new Date()): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** The unit URL of the request, for manifests: the cell URL without the cell part. */
function requestUnitUrl(ctx: Context, pathMode: boolean): string {
  const { cellUrl, cellName } = getState(ctx);
  if (pathMode) return cellUrl.slice(0, cellUrl.length - encodeURIComponent(cellName).length - 1);
  return cellUrl.replace(`://${cellName}.`, '://');
}
