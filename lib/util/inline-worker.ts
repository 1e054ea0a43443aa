/**
 * Starting a worker thread whose code is one self-contained function of this package, passed as
 * source text (`eval: true`), rather than a worker file.
 *
 * Why not a file: the package runs from its compiled `dist/` (ESM, and from CommonJS hosts through
 * `require`), and from its TypeScript sources under a loader (tests, benchmarks). A worker file's
 * URL would have to name `.js` in one case and `.ts` in the other, and loaders do not reliably reach
 * worker threads. A function's source text is plain JavaScript in every case: the compiled function.
 *
 * The worker gets no `execArgv` of the process (no loader, no module-type flag).
 *
 * Rules for such a function: it uses nothing from its module (no imports, no outer variables, no
 * other function of the package): everything comes from `require` inside it (the worker is
 * CommonJS) and from its one argument, the worker data, which must be structured-cloneable.
 * Transpilers that keep function names (esbuild, which runs the sources in tests) call a `__name`
 * helper, which the preamble defines.
 *
 * Priority: every such thread does a job's background work, so it may run at a lowered priority
 * ({@link InlineWorkerOptions.niceStep}): ten nice values down, it weighs about a tenth of the host's
 * threads when they compete for a core (on a busy machine even the lowest priority still delays them
 * somewhat: a core running anything is handed back late). On Linux the nice value is per thread, so
 * the thread lowers only its own and leaves every other thread of the process as it was (the event
 * loop, V8's garbage-collection helpers, libuv's pool). On macOS and Windows a thread cannot lower
 * only its own priority (`os.setPriority(0, …)` would lower the whole process), so there it runs at
 * the process's priority.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';

/** Defines esbuild's `__name` helper, harmless for compiled code that never calls it. */
const PREAMBLE = `var __name = (target, value) => Object.defineProperty(target, 'name', { value, configurable: true });\n`;

/** How much a background thread raises its nice value above the process's (see the module). */
export const BACKGROUND_NICE_STEP = 10;

/** How a thread of {@link startInlineWorker} runs. */
export interface InlineWorkerOptions {
  /**
   * Nice values the thread adds to its own as it starts, capped at 19 (the lowest priority), on
   * Linux only; 0 keeps the process's priority. Default 0.
   */
  readonly niceStep?: number;
}

/** Source that lowers the calling thread's priority by `step`; should that fail, it keeps its own. */
function lowerPriority(step: number): string {
  if (!Number.isSafeInteger(step) || step <= 0) return '';
  return `if (process.platform === 'linux') { try { const os = require('node:os'); os.setPriority(Math.min(19, os.getPriority() + ${step})); } catch {} }\n`;
}

/**
 * Starts a worker thread running `main(workerData)`. `main` must be self-contained (see the module
 * documentation). The worker's standard output and error are the process's.
 */
export function startInlineWorker<T>(main: (data: T) => void | Promise<void>, workerData: T, options: InlineWorkerOptions = {}): Worker {
  const source = `${PREAMBLE}${lowerPriority(options.niceStep ?? 0)}(${main.toString()})(require('node:worker_threads').workerData);`;
  // No inherited execArgv: the function is plain JavaScript, so a loader (`--import`) would only slow
  // the start, and `--input-type=module` or a default module type would make the eval'd source a
  // module, without `require`.
  return new Worker(source, { eval: true, workerData, execArgv: [] });
}
