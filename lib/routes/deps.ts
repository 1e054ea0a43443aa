/** What the route handlers share. */
import type { Context } from 'koa';
import type { JobKindModule } from '../jobs/job-kind.js';
import type { JobRunner } from '../jobs/runner.js';
import type { ResolvedOptions } from '../options.js';

/** The dependencies of every route module. */
export interface RouteDeps {
  /** The resolved options. */
  readonly options: ResolvedOptions;
  /** The job runner. */
  readonly runner: JobRunner;
  /** The job kinds, by the resource that starts them. */
  readonly jobKinds: { readonly export: JobKindModule; readonly import: JobKindModule };
  /** Reads a JSON object body (`undefined` when empty). */
  readonly readJsonBody: (ctx: Context) => Promise<Record<string, unknown> | undefined>;
}
