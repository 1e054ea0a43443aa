/**
 * What one run of the command line reads and writes besides its arguments: its output streams and
 * its environment. The bin passes the process's own ({@link processIo}); tests pass their own to run
 * a command in-process.
 */

/** The streams and environment of one run of the command line. */
export interface CliIo {
  /** Results: help, reports, the verdict of `verify`. */
  readonly stdout: NodeJS.WriteStream;
  /** Progress (live bars when it is a terminal, plain lines otherwise) and errors. */
  readonly stderr: NodeJS.WriteStream;
  /** The environment variables the commands read (credentials, `serve`'s settings). */
  readonly env: NodeJS.ProcessEnv;
}

/** The process's own stdout, stderr and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
