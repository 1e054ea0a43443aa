/**
 * `koa-cell-snapshot restore <file.zip> <cellUrl>`: verify the file locally, upload it into the
 * cell's snapshot area, POST `__import`, follow its status and report success or the failure.
 */
import { basename } from 'node:path';
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialsOf } from './credentials.js';
import { checkFile, verdict } from './check.js';
import { INTERRUPTED_EXIT, trapInterrupt } from './interrupt.js';
import type { CliIo } from './io.js';
import { SNAPSHOT_NAME, checkName } from './names.js';
import { pollJob } from './poll.js';
import { formatSeconds, startProgress } from './progress.js';
import { CellClient, cellUrlOf } from './remote.js';
import { upload } from './upload.js';
import { UsageError, parse } from './usage.js';

const NAME = 'koa-cell-snapshot';

/** The help of `restore`. */
export const RESTORE_HELP = `Usage: ${NAME} restore <file.zip> <cellUrl> [options]

Restores a snapshot file into a cell of any Personium-compatible server: verifies the file as
'verify' does, uploads it to the cell's snapshot area as {Name}.zip (PUT, refused if that name
exists unless --replace), starts the import (POST {cellUrl}__import), follows its progress and
reports success, or the code and message of the failed import. The import replaces the cell's
content; the cell keeps its name, id and owner.

Progress goes to stderr: live bars on a terminal, a line at every tenth otherwise. Ctrl-C stops
and says what it left; a second Ctrl-C exits at once.

Exit codes: 0 restored; 1 the file is not valid, the import failed or the server refused;
2 a usage error; 130 interrupted.

Options (a flag wins over the environment variable in brackets):
  --name N            the name in the snapshot area (default: the file's name without .zip)
  --replace           overwrite {Name}.zip if the snapshot area has one (default: refuse)
${CREDENTIAL_HELP}
  --cancel-on-interrupt  on Ctrl-C during the import, also cancel it on the server (it rolls
                      back; default: let it finish)
  -h, --help          this help
`;

/** Runs `restore` with its arguments, writing to and reading the environment of `io`; resolves to the exit code. */
export async function runRestore(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      replace: { type: 'boolean' },
      ...CREDENTIAL_OPTIONS,
      'cancel-on-interrupt': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    io.stdout.write(RESTORE_HELP);
    return 0;
  }
  const [file, cellUrl, ...extra] = positionals;
  if (file === undefined || cellUrl === undefined || extra.length > 0) throw new UsageError('restore takes a file and a cell URL');
  const url = cellUrlOf(cellUrl);
  const client = new CellClient(url, credentialsOf(values, io.env));
  const fromFile = basename(file).replace(/\.zip$/i, '');
  if (values.name === undefined && !SNAPSHOT_NAME.test(fromFile)) {
    throw new UsageError(`the file name ${basename(file)} is not a snapshot name (A-Z a-z 0-9 - _): pass --name`);
  }
  const name = values.name === undefined ? fromFile : checkName(values.name);
  return restore(io, client, file, name, values.replace === true, values['cancel-on-interrupt'] === true);
}

type Phase = 'verifying' | 'uploading' | 'starting' | 'importing';

async function restore(io: CliIo, client: CellClient, file: string, name: string, replace: boolean, cancelOnInterrupt: boolean): Promise<number> {
  const err = io.stderr;
  const trap = trapInterrupt();
  const { signal } = trap;
  let phase: Phase = 'verifying';
  try {
    const report = await checkFile(file, signal, err);
    err.write(`verify ${file}: ${verdict(report)}\n`);
    if (!report.ok) {
      err.write('  nothing was uploaded\n');
      return 1;
    }

    phase = 'uploading';
    let bar: ReturnType<typeof startProgress> | undefined;
    const how = await upload(client, file, `__snapshot/${name}.zip`, {
      replace,
      onStart: (total) => {
        bar = startProgress({ label: `upload ${name}.zip`, total, unit: 'bytes', stream: err });
      },
      onBytes: (sent) => bar?.update(sent),
      signal,
    }).finally(() => bar?.stop());
    err.write(`upload: ${how} ${client.resource(`__snapshot/${name}.zip`)}\n`);

    phase = 'starting';
    const { body: accepted } = await client.json<{ status?: string }>('POST', '__import', [202], {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Name: name }),
      signal,
    });
    phase = 'importing';
    const started = Date.now();
    const importBar = startProgress({ label: `import ${name}`, total: 100, unit: 'percent', stream: err });
    let final;
    try {
      final = await pollJob(client, 'import', {
        started: accepted.status?.endsWith(' in progress') === true,
        onProgress: (percent) => importBar.update(percent),
        onRetry: (message) => err.write(`${message}\n`),
        signal,
      });
      if (final.status === 'ready') importBar.update(100);
    } finally {
      importBar.stop();
    }
    const took = formatSeconds((Date.now() - started) / 1000);
    if (final.status === 'import failed') {
      const code = final.message?.code ?? 'unknown';
      err.write(`import ${name} failed after ${took}: ${code} ${final.message?.message?.value ?? ''}`.trimEnd() + '\n');
      err.write(`  the cell is as it was before the import, if the server rolls back failed imports (this one does; Personium does not)\n`);
      return 1;
    }
    if (final.status !== 'ready') throw new Error(`the import ended with an unknown status: ${final.status}`);
    io.stdout.write(`restored: ${file} into ${client.url.href} (import ${name}, ${took})\n`);
    return 0;
  } catch (error) {
    if (!signal.aborted) throw error;
    err.write(`\ninterrupted: ${await leftState(client, name, phase, cancelOnInterrupt)}\n`);
    return INTERRUPTED_EXIT;
  } finally {
    trap.dispose();
  }
}

/** What an interrupted restore left, cancelling the server's import when asked to. */
async function leftState(client: CellClient, name: string, phase: Phase, cancel: boolean): Promise<string> {
  if (phase === 'verifying') return 'stopped while verifying the file: nothing was sent to the server';
  if (phase === 'uploading') return `the upload was stopped: the server keeps nothing of an incomplete upload, and the cell is unchanged`;
  if (phase === 'starting') return `stopped while starting the import; if it was accepted it goes on (see '${NAME} status ${client.url.href}')`;
  if (!cancel) {
    return `the import ${name} goes on on the server (see '${NAME} status ${client.url.href}'); pass --cancel-on-interrupt to cancel it instead`;
  }
  try {
    const response = await client.request('DELETE', '__import');
    await response.body?.cancel();
    if (response.status === 202) return `the import ${name} was cancelled on the server and rolled back; the cell is as it was`;
    if (response.status === 409) return `the import ${name} had already ended on the server: see '${NAME} status ${client.url.href}'`;
    return `cancelling the import answered ${response.status}: see '${NAME} status ${client.url.href}'`;
  } catch (error) {
    return `the import could not be cancelled (${error instanceof Error ? error.message : String(error)}): see '${NAME} status ${client.url.href}'`;
  }
}
