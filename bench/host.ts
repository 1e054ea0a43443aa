/**
 * The benchmark host (`server.ts`) seen from a benchmark: starting it as its own process, and the
 * requests the benchmarks send it (the cell is `source`, the token the host's static one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

/** The host's bearer token, as request headers. */
export const AUTH = { authorization: 'Bearer bench-token' };

/** Starts `server.ts` with `env` added to this process's environment; resolves once it listens. */
export async function startHost(env: Record<string, string>): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import=tsx', SERVER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, base: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
}

/** A request's JSON answer. */
export async function json(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  return (await (await fetch(url, init)).json()) as Record<string, unknown>;
}

/** Whether the host's export of `source` is running. */
export async function exportRunning(base: string): Promise<boolean> {
  return (await json(`${base}/source/__export`, { headers: AUTH }))['status'] === 'exportation in progress';
}

/** Starts an export of `source` named `name`. */
export async function startExport(base: string, name: string): Promise<void> {
  const post = await fetch(`${base}/source/__export`, { method: 'POST', headers: AUTH, body: JSON.stringify({ Name: name }) });
  if (post.status !== 202) throw new Error(`export: ${post.status}`);
}

/** Cancels the export of `source` and waits until it no longer runs. */
export async function cancelExport(base: string): Promise<void> {
  await fetch(`${base}/source/__export`, { method: 'DELETE', headers: AUTH });
  while (await exportRunning(base)) await new Promise((resolve) => setTimeout(resolve, 100));
}
