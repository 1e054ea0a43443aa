/**
 * `koa-cell-snapshot backup <cellUrl>`: POST `__export`, follow its status, download `{Name}.zip`
 * (resuming a dropped connection), verify it locally and report its path, size and SHA-256.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialsOf } from './credentials.js';
import { checkFile, verdict } from './check.js';
import { download } from './download.js';
import { parseListing } from './listing.js';
import { INTERRUPTED_EXIT, trapInterrupt } from './interrupt.js';
import type { CliIo } from './io.js';
import { checkName, defaultExportName } from './names.js';
import { pollJob } from './poll.js';
import { formatBytes, formatSeconds, startProgress } from './progress.js';
import { CellClient, cellNameOf, cellUrlOf } from './remote.js';
import { UsageError, parse } from './usage.js';

const NAME = 'koa-cell-snapshot';

/** The help of `backup`. */
export const BACKUP_HELP = `Usage: ${NAME} backup <cellUrl> [options]

Backs up a cell of any Personium-compatible server: starts an export (POST {cellUrl}__export),
follows its progress, downloads {Name}.zip from the cell's snapshot area (a dropped connection is
resumed with Range and If-Range), verifies the file as 'verify' does, and prints its path, size and
SHA-256. The snapshot also stays in the cell's snapshot area. The cell URL is http://host/{cell}/
(path mode) or http://{cell}.host/ (host mode).

Progress goes to stderr: live bars on a terminal, a line at every tenth otherwise. Ctrl-C stops
and says what it left; a second Ctrl-C exits at once.

Exit codes: 0 done; 1 the export failed, the server refused, or the file is not valid;
2 a usage error; 130 interrupted.

Options (a flag wins over the environment variable in brackets):
  -o, --output FILE   where to write the snapshot (default ./{Name}.zip); must not exist
  --name N            the snapshot's name, 1-192 of A-Z a-z 0-9 - _ (default {cell}_yyyyMMdd_HHmmss)
${CREDENTIAL_HELP}
  --cancel-on-interrupt  on Ctrl-C, also cancel the export on the server (default: let it finish)
  -h, --help          this help
`;

/** Runs `backup` with its arguments, writing to and reading the environment of `io`; resolves to the exit code. */
export async function runBackup(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
      ...CREDENTIAL_OPTIONS,
      'cancel-on-interrupt': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    io.stdout.write(BACKUP_HELP);
    return 0;
  }
  const [cellUrl, ...extra] = positionals;
  if (cellUrl === undefined || extra.length > 0) throw new UsageError('backup takes exactly one cell URL');
  const url = cellUrlOf(cellUrl);
  const client = new CellClient(url, credentialsOf(values, io.env));
  const name = values.name === undefined ? defaultExportName(cellNameOf(url)) : checkName(values.name);
  const output = resolve(values.output ?? `${name}.zip`);
  if (existsSync(output)) throw new UsageError(`${output} already exists: pick another --output or remove it`);
  if (!existsSync(dirname(output))) throw new UsageError(`the folder of ${output} does not exist`);
  return backup(io, client, name, output, values['cancel-on-interrupt'] === true);
}

type Phase = 'starting' | 'exporting' | 'downloading' | 'verifying';

async function backup(io: CliIo, client: CellClient, name: string, output: string, cancelOnInterrupt: boolean): Promise<number> {
  const err = io.stderr;
  const trap = trapInterrupt();
  const { signal } = trap;
  let phase: Phase = 'starting';
  try {
    const { body: accepted } = await client.json<{ status?: string }>('POST', '__export', [202], {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Name: name }),
      signal,
    });
    phase = 'exporting';
    err.write(`export ${name} started on ${client.url.href}\n`);
    const started = Date.now();
    const bar = startProgress({ label: `export ${name}`, total: 100, unit: 'percent', stream: err });
    try {
      await pollJob(client, 'export', {
        started: accepted.status?.endsWith(' in progress') === true,
        onProgress: (percent) => bar.update(percent),
        ended: () => exportEnded(client, name, signal),
        onRetry: (message) => err.write(`${message}\n`),
        signal,
      });
      bar.update(100);
    } finally {
      bar.stop();
    }
    err.write(`export ${name} ended after ${formatSeconds((Date.now() - started) / 1000)}\n`);

    phase = 'downloading';
    let downloadBar: ReturnType<typeof startProgress> | undefined;
    const got = await download(client, `__snapshot/${name}.zip`, output, {
      onStart: (total) => {
        downloadBar?.stop();
        downloadBar = startProgress({ label: `download ${name}.zip`, total, unit: 'bytes', stream: err });
      },
      onBytes: (received) => downloadBar?.update(received),
      onRetry: (message) => err.write(`\n${message}\n`),
      signal,
    }).finally(() => downloadBar?.stop());
    if (got === undefined) return reportFailedExport(err, client, name, signal);

    phase = 'verifying';
    const report = await checkFile(output, signal, err);
    const out = io.stdout;
    out.write(`backup: ${output}\n`);
    out.write(`size: ${got.size} bytes (${formatBytes(got.size)})\n`);
    out.write(`sha256: ${got.sha256}\n`);
    out.write(`verify: ${verdict(report)}\n`);
    if (got.resumes > 0) out.write(`resumed: ${got.resumes} time${got.resumes === 1 ? '' : 's'} after a dropped connection\n`);
    out.write(`on the server: ${client.resource(`__snapshot/${name}.zip`)}\n`);
    return report.ok ? 0 : 1;
  } catch (error) {
    if (!signal.aborted) throw error;
    err.write(`\ninterrupted: ${await leftState(client, name, output, phase, cancelOnInterrupt)}\n`);
    return INTERRUPTED_EXIT;
  } finally {
    trap.dispose();
  }
}

/** Whether the snapshot area holds `{Name}.zip` or `{Name}.error` (PROPFIND Depth 1, as Personium lists it). */
async function exportEnded(client: CellClient, name: string, signal: AbortSignal): Promise<boolean> {
  const response = await client.request('PROPFIND', '__snapshot', { headers: { depth: '1' }, signal });
  if (response.status !== 207) throw await client.failure(response, `PROPFIND ${client.resource('__snapshot')}`);
  const names = new Set(parseListing(await response.text()).map((entry) => entry.name));
  return names.has(`${name}.zip`) || names.has(`${name}.error`);
}

/** Prints the code and message of `{Name}.error`, or says that the export left nothing; exit code 1. */
async function reportFailedExport(err: NodeJS.WriteStream, client: CellClient, name: string, signal: AbortSignal): Promise<number> {
  const response = await client.request('GET', `__snapshot/${name}.error`, { signal });
  if (response.status === 404) {
    await response.body?.cancel();
    throw new Error(`export ${name} ended without ${name}.zip or ${name}.error in the snapshot area: see '${NAME} status ${client.url.href}'`);
  }
  if (response.status !== 200) throw await client.failure(response, `GET ${client.resource(`__snapshot/${name}.error`)}`);
  let code = 'unknown';
  let message = '';
  try {
    const body = JSON.parse(await response.text()) as { code?: string; message?: { value?: string } };
    code = body.code ?? code;
    message = body.message?.value ?? '';
  } catch {
    // an unreadable .error still means the export failed
  }
  err.write(`export ${name} failed: ${code} ${message}\n`.replace(' \n', '\n'));
  err.write(`  the server left ${client.resource(`__snapshot/${name}.error`)}; no backup was written\n`);
  return 1;
}

/** What an interrupted backup left, cancelling the server's export when asked to. */
async function leftState(client: CellClient, name: string, output: string, phase: Phase, cancel: boolean): Promise<string> {
  if (phase === 'starting') return `stopped before the export was accepted; if it was, it goes on (see '${NAME} status ${client.url.href}')`;
  if (phase === 'downloading') {
    return `the download was stopped and its partial file removed; ${name}.zip is complete in the cell's snapshot area (${client.resource(`__snapshot/${name}.zip`)})`;
  }
  if (phase === 'verifying') return `${output} was downloaded but not verified: run '${NAME} verify ${output}'`;
  if (!cancel) {
    return `the export ${name} goes on on the server and will leave ${name}.zip in the cell's snapshot area (see '${NAME} status ${client.url.href}'); pass --cancel-on-interrupt to cancel it instead`;
  }
  try {
    const response = await client.request('DELETE', '__export');
    await response.body?.cancel();
    if (response.status === 202) return `the export ${name} was cancelled on the server; no ${name}.zip is left, ${name}.error records the cancel`;
    if (response.status === 409) return `the export ${name} had already ended on the server: see '${NAME} status ${client.url.href}'`;
    return `cancelling the export answered ${response.status}: see '${NAME} status ${client.url.href}'`;
  } catch (error) {
    return `the export could not be cancelled (${error instanceof Error ? error.message : String(error)}): see '${NAME} status ${client.url.href}'`;
  }
}
