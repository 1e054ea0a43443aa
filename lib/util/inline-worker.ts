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
 * @module
 */
import { Worker } from 'node:worker_threads';

/** Defines esbuild's `__name` helper, harmless for compiled code that never calls it. */
const PREAMBLE = `var __name = (target, value) => Object.defineProperty(target, 'name', { value, configurable: true });\n`;

/**
 * Starts a worker thread running `main(workerData)`. `main` must be self-contained (see the module
 * documentation). The worker's standard output and error are the process's.
 */
export function startInlineWorker<T>(main: (data: T) => void | Promise<void>, workerData: T): Worker {
  const source = `${PREAMBLE}(${main.toString()})(require('node:worker_threads').workerData);`;
  // No inherited execArgv: the function is plain JavaScript, so a loader (`--import`) would only slow
  // the start, and `--input-type=module` or a default module type would make the eval'd source a
  // module, without `require`.
  return new Worker(source, { eval: true, workerData, execArgv: [] });
}
