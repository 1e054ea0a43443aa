/**
 * `koa-cell-snapshot status <cellUrl>`: the export and import statuses and the snapshot area's
 * listing (PROPFIND Depth 1), for people or, with `--json`, for machines.
 */
import { CREDENTIAL_HELP, CREDENTIAL_OPTIONS, credentialsOf } from './credentials.js';
import { parseListing } from './listing.js';
import type { CliIo } from './io.js';
import type { JobStatus } from './poll.js';
import { formatBytes } from './progress.js';
import { CellClient, cellUrlOf } from './remote.js';
import { UsageError, parse } from './usage.js';

const NAME = 'koa-cell-snapshot';

/** The help of `status`. */
export const STATUS_HELP = `Usage: ${NAME} status <cellUrl> [options]

Shows a cell's export and import statuses (GET {cellUrl}__export and __import) and the files of its
snapshot area (PROPFIND {cellUrl}__snapshot), on any Personium-compatible server.

Exit codes: 0 shown; 1 the server refused or cannot be reached; 2 a usage error.

Options (a flag wins over the environment variable in brackets):
  --json              one JSON object: {"cell", "export", "import", "snapshots": [...]}
${CREDENTIAL_HELP}
  -h, --help          this help
`;

/** Runs `status` with its arguments, writing to and reading the environment of `io`; resolves to the exit code. */
export async function runStatus(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, ...CREDENTIAL_OPTIONS, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    io.stdout.write(STATUS_HELP);
    return 0;
  }
  const [cellUrl, ...extra] = positionals;
  if (cellUrl === undefined || extra.length > 0) throw new UsageError('status takes exactly one cell URL');
  const client = new CellClient(cellUrlOf(cellUrl), credentialsOf(values, io.env));
  const [exportStatus, importStatus, listing] = await Promise.all([
    client.json<JobStatus>('GET', '__export', [200]),
    client.json<JobStatus>('GET', '__import', [200]),
    client.request('PROPFIND', '__snapshot', { headers: { depth: '1' } }),
  ]);
  if (listing.status !== 207) throw await client.failure(listing, `PROPFIND ${client.resource('__snapshot')}`);
  const snapshots = parseListing(await listing.text());
  const out = io.stdout;
  if (values.json === true) {
    out.write(`${JSON.stringify({ cell: client.url.href, export: exportStatus.body, import: importStatus.body, snapshots })}\n`);
    return 0;
  }
  out.write(`cell: ${client.url.href}\n`);
  out.write(`export: ${describe(exportStatus.body, 'exportation_name')}\n`);
  out.write(`import: ${describe(importStatus.body, 'importation_name')}\n`);
  out.write(`snapshot area: ${snapshots.length} file${snapshots.length === 1 ? '' : 's'}\n`);
  const width = Math.max(0, ...snapshots.map((s) => s.name.length));
  for (const s of snapshots) {
    const size = s.size === undefined ? '' : formatBytes(s.size);
    out.write(`  ${s.name.padEnd(width)}  ${size.padStart(10)}  ${s.lastModified ?? ''}\n`);
  }
  return 0;
}

/** `importation in progress 42% (backup-1, started …)`, `import failed: CODE message (backup-1)`, `ready`. */
function describe(status: JobStatus, nameKey: 'exportation_name' | 'importation_name'): string {
  const name = status[nameKey];
  const details = [name, status.started_at === undefined ? undefined : `started ${status.started_at}`].filter((d) => d !== undefined);
  const suffix = details.length === 0 ? '' : ` (${details.join(', ')})`;
  if (status.status === 'import failed') {
    return `import failed: ${status.message?.code ?? ''} ${status.message?.message?.value ?? ''}`.trimEnd() + suffix;
  }
  if (status.status.endsWith(' in progress')) return `${status.status} ${status.progress ?? ''}`.trimEnd() + suffix;
  return status.status + suffix;
}
