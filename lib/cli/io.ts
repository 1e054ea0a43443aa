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

/** The streams whose closed reader is already handled. */
const tolerant = new WeakSet<NodeJS.WriteStream>();

/**
 * Makes a stream tolerate a reader that went away (`koa-cell-snapshot verify x.zip | head -1`): the
 * output it no longer wants is dropped and the command carries on to its own exit status, instead of
 * dying with an unhandled `EPIPE`. Any other error of the stream stays fatal.
 */
function tolerateClosedReader(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (!tolerant.has(stream)) {
    tolerant.add(stream);
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
  return stream;
}

/** The process's own stdout, stderr and environment; output to a reader that went away is dropped. */
export function processIo(): CliIo {
  return { stdout: tolerateClosedReader(process.stdout), stderr: tolerateClosedReader(process.stderr), env: process.env };
}
