/** Starts the real standalone server (`koa-cell-snapshot serve`, through the bin) as its own process for end-to-end tests. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import { BIN } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/** A running standalone server. */
export interface CliServer {
  /** The data directory. */
  readonly dataDir: string;
  /** The port it listens on. */
  readonly port: number;
  /** Everything it printed before it was ready. */
  readonly banner: string;
  /** The token it accepts. */
  readonly token: string;
}

/** Spawns `serve` with extra flags on a free port over a fresh data dir; killed with the test. */
export async function startCliServer(t: ExecutionContext, flags: string[] = []): Promise<CliServer> {
  const dataDir = await tempDir(t);
  const token = 'e2e-token-0123456789';
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', dataDir, '--token', token, ...flags], {
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const lines = createInterface({ input: child.stdout! });
  const banner: string[] = [];
  let port = 0;
  for await (const line of lines) {
    banner.push(line);
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
    if (match?.[1] !== undefined) port = Number(match[1]);
    if (line.startsWith('  curl -s -H') && banner.some((l) => l.startsWith('Try it'))) break;
  }
  if (port === 0) throw new Error(`server did not start:\n${banner.join('\n')}`);
  lines.on('line', () => {});
  return { dataDir, port, banner: banner.join('\n'), token };
}
