/** `{CellURL}__import`: POST starts an import, GET reports it, DELETE cancels it (`docs/protocol.md`, Import). */
import type { MethodTable } from '../http/pipeline.js';
import { authorised } from '../http/state.js';
import { answerEmpty, answerStatus } from './answers.js';
import type { RouteDeps } from './deps.js';
import { startJob } from './job-start.js';

/** The import resource's handlers. */
export function importRoutes(deps: RouteDeps): MethodTable {
  const { runner } = deps;
  return {
    async GET(ctx) {
      const { cell } = authorised(ctx);
      const { running, importFailure } = await runner.status(cell.id);
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

    POST: startJob(deps, deps.jobKinds.import),

    async DELETE(ctx) {
      const { cell } = authorised(ctx);
      await runner.cancel(cell.id, 'import');
      answerEmpty(ctx, 202);
    },
  };
}
