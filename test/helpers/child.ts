/** Starts `child-server.ts` in its own process, for tests that kill or restart a server. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import { type RequestOptions, type TestResponse, send } from './http.js';

/** A running child server. */
export interface ChildServer {
  readonly process: ChildProcess;
  readonly origin: string;
  /** Sends a request to `/{cell}/{rest}`. */
  request(method: string, cell: string, rest: string, options?: RequestOptions): Promise<TestResponse>;
  /** Kills it with SIGKILL and waits for it to be gone. */
  kill(): Promise<void>;
}

const SCRIPT = new URL('./child-server.ts', import.meta.url).pathname;

/** Spawns a server over `dataDir` with extra environment (DELAY_MS, LEASE_TTL_MS…). */
export async function startChild(t: ExecutionContext, dataDir: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import=tsx', SCRIPT], {
    env: { ...process.env, ...env, DATA_DIR: dataDir, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(kill);
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), exited.then(() => { throw new Error('child server exited'); })])) as [string];
  const { port } = JSON.parse(line) as { port: number };
  const origin = `http://127.0.0.1:${port}`;
  return {
    process: child,
    origin,
    request: (method, cell, rest, options) => send(`${origin}/${cell}/${rest}`, method, options),
    kill,
  };
}
