/** The POST of `__export` and `__import`: the job kind prepares the job, the runner starts it, 202. */
import type { Handler } from '../http/pipeline.js';
import { authorised } from '../http/state.js';
import type { JobKindModule } from '../jobs/job-kind.js';
import { answerAccepted } from './answers.js';
import type { RouteDeps } from './deps.js';

/** The POST handler that starts a job of `kind`. */
export function startJob({ options, runner, readJsonBody }: RouteDeps, kind: JobKindModule): Handler {
  return async (ctx) => {
    const { cell, principal, requestKey, unitUrl } = authorised(ctx);
    const body = await readJsonBody(ctx);
    const prepared = await kind.prepare({
      cell,
      requestKey,
      subject: principal.subject,
      body,
      unitUrl: options.unitUrl ?? unitUrl,
      precheck: () => runner.precheck(cell.id),
    });
    answerAccepted(ctx, await runner.start(prepared));
  };
}
