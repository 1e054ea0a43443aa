/** `{CellURL}__export`: POST starts an export, GET reports it, DELETE cancels it (`docs/protocol.md`, Export). */
import type { MethodTable } from '../http/pipeline.js';
import { authorised } from '../http/state.js';
import { answerEmpty, answerStatus } from './answers.js';
import type { RouteDeps } from './deps.js';
import { startJob } from './job-start.js';

/** The export resource's handlers. */
export function exportRoutes(deps: RouteDeps): MethodTable {
  const { runner } = deps;
  return {
    async GET(ctx) {
      const { cell } = authorised(ctx);
      const { running } = await runner.status(cell.id);
      if (running?.kind !== 'export') {
        // An export whose `{Name}.error` could not be written (a full disk) still shows its failure.
        const failure = runner.unrecordedFailure(cell.id, 'export');
        answerStatus(
          ctx,
          failure === undefined
            ? { status: 'ready' }
            : {
                status: 'export failed',
                started_at: failure.startedAt,
                progress: `${failure.progress}%`,
                exportation_name: failure.name,
                message: failure.error,
              },
        );
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

    POST: startJob(deps, deps.jobKinds.export),

    async DELETE(ctx) {
      const { cell } = authorised(ctx);
      await runner.cancel(cell.id, 'export');
      answerEmpty(ctx, 202);
    },
  };
}
