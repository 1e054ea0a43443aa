/** Runs the koa-cell-snapshot command as a user of a clone does (the bin, which runs the sources). */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The bin. */
export const BIN = fileURLToPath(new URL('../../bin/koa-cell-snapshot.js', import.meta.url));

/** What a finished command left. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a run: this process's, less any credentials, plus `env`. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: '1' };
  for (const name of ['TOKEN', 'P_COOKIE', 'P_COOKIE_PEER']) delete base[name];
  return { ...base, ...env };
}

/** Runs the command to its end; never rejects for a non-zero exit. Its stdout and stderr are pipes (not a TTY). */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: environment(env), maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

/** Starts the command with piped output, for tests that signal it. */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
}
