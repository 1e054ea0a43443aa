/**
 * Runs the koa-cell-snapshot command as a user of a clone does (the bin, which runs the sources), or
 * in this process through `main`, the function the bin calls, for tests where a process adds nothing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { Writable } from 'node:stream';
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

/** A stream that keeps what is written to it; not a terminal, as a pipe is not. */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

/**
 * Runs the command in this process: `main` with captured stdout and stderr (not terminals) and the
 * environment {@link runCli} gives. What only a process shows (the exit status, signals) needs {@link runCli}.
 */
export async function callCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  // Loaded on first use: the tests that only spawn the bin need none of the command's modules.
  const { main } = await import('../../lib/cli.js');
  const stdout = capture();
  const stderr = capture();
  const code = await main(args, { stdout: stdout.stream, stderr: stderr.stream, env: environment(env) });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
