/**
 * A worker started from a function's source text runs it with its worker data, whatever the
 * transpiler did to the function (the tests run the TypeScript sources through esbuild, which wraps
 * named functions and classes in a `__name` helper), and at a lowered priority when asked.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { getPriority } from 'node:os';
import { promisify } from 'node:util';
import test from 'ava';
import { startInlineWorker } from '../../lib/util/inline-worker.js';

const execFileAsync = promisify(execFile);

function doubler(data: { n: number }): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  function twice(x: number): number {
    return x * 2;
  }
  const plusOne = (y: number): number => twice(y) + 1;
  class Counter {
    count = 1;
  }
  parentPort?.postMessage({ result: plusOne(data.n), count: new Counter().count, name: twice.name });
}

test('runs a self-contained function with its worker data, inner functions and classes included', async (t) => {
  const worker = startInlineWorker(doubler, { n: 20 });
  try {
    const [message] = (await once(worker, 'message')) as [unknown];
    t.deepEqual(message, { result: 41, count: 1, name: 'twice' });
  } finally {
    await worker.terminate();
  }
});

function thrower(): void {
  throw new Error('from the worker');
}

test('an error thrown by the function reaches the worker error event', async (t) => {
  const worker = startInlineWorker(thrower, undefined);
  const [error] = (await once(worker, 'error').catch((e: unknown) => [e])) as [Error];
  t.is(error.message, 'from the worker');
});

test('a host started with --input-type=module still gets a CommonJS worker, without its loader', async (t) => {
  const module = new URL('../../lib/util/inline-worker.ts', import.meta.url).href;
  const script = [
    `import { startInlineWorker } from ${JSON.stringify(module)};`,
    "const worker = startInlineWorker(() => { const { parentPort } = require('node:worker_threads'); parentPort.postMessage(process.execArgv); }, undefined);",
    "worker.on('message', (argv) => { console.log(JSON.stringify(argv)); void worker.terminate(); });",
  ].join('\n');
  const { stdout } = await execFileAsync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script]);
  t.deepEqual(JSON.parse(stdout.trim()), []);
});

function reportPriority(): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  parentPort?.postMessage((require('node:os') as typeof import('node:os')).getPriority());
}

async function workerPriority(niceStep?: number): Promise<number> {
  const worker = startInlineWorker(reportPriority, undefined, niceStep === undefined ? {} : { niceStep });
  try {
    const [priority] = (await once(worker, 'message')) as [number];
    return priority;
  } finally {
    await worker.terminate();
  }
}

test("niceStep lowers the thread's own priority on Linux (capped at 19), never the process's; none keeps it", async (t) => {
  const base = getPriority();
  const lowered = await workerPriority(5);
  const capped = await workerPriority(40);
  const kept = await workerPriority();
  t.is(getPriority(), base);
  t.is(kept, base);
  t.is(lowered, process.platform === 'linux' ? Math.min(19, base + 5) : base);
  t.is(capped, process.platform === 'linux' ? 19 : base);
});
