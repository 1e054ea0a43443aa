/**
 * The command line: `koa-cell-snapshot serve` runs a standalone host on the embedded defaults;
 * `koa-cell-snapshot verify <file.zip>` checks a snapshot file; `backup`, `restore` and `status`
 * are clients of any Personium-compatible server. Every command has `--help`; errors are printed
 * once, on stderr, with the command to run for help.
 *
 * Exit codes: 0 success; 1 the snapshot is not valid or cannot be read, the server failed or
 * refused, or a job failed; 2 a usage error; 130 interrupted (Ctrl-C).
 *
 * Importing this module runs nothing: the bin calls {@link main} with the process's arguments.
 */
import { BACKUP_HELP, runBackup } from './cli/backup.js';
import { type CliIo, processIo } from './cli/io.js';
import { RESTORE_HELP, runRestore } from './cli/restore.js';
import { STATUS_HELP, runStatus } from './cli/status.js';
import { UsageError, parse } from './cli/usage.js';
import { verify } from './cli/verify.js';

const NAME = 'koa-cell-snapshot';

const HELP = `${NAME}: Personium-compatible cell export, import and snapshot area for Koa.

Usage:
  ${NAME} serve [options]       run the standalone server on the embedded defaults
  ${NAME} verify <file.zip>     check a snapshot file: manifest, entries, every CRC-32 and SHA-256
  ${NAME} backup <cellUrl>      export a cell of any Personium-compatible server and download it
  ${NAME} restore <file.zip> <cellUrl>
                                upload a snapshot file into a cell and import it
  ${NAME} status <cellUrl>      a cell's export and import status and its snapshot area
  ${NAME} help [command]        this help, or a command's

Run '${NAME} <command> --help' for a command's options.

Exit codes: 0 success; 1 the snapshot is not valid or cannot be read, the server failed or
refused, or a job failed; 2 a usage error; 130 interrupted (Ctrl-C).
`;

const SERVE_HELP = `Usage: ${NAME} serve [options]

Runs a standalone host with the file-system adapters (snapshots in a directory, or in an S3
bucket with --snapshots s3://bucket/prefix). On first start the sample cells (alice, bob)
are copied into the data directory. It prints its URL, the token and curl commands to try.
SIGINT or SIGTERM stops it cleanly: running jobs stop and are recorded as interrupted.

Options (each also read from the environment variable in brackets; a flag wins):
  --port N            port to listen on, 0 for any free one [PORT] (default 8080)
  --host ADDR         address to listen on [HOST] (default 127.0.0.1)
  --data DIR          data directory, holding cells/, snapshots/ and jobs/ [DATA_DIR] (default ./data)
  --token T           bearer token that grants root, at least 8 characters [TOKEN]
                      (default: a random one, printed at start)
  --mode path|host    cell URLs http://{host}/{cell}/ or http://{cell}.{unit-host}/ [MODE] (default path)
  --unit-host NAME    the unit host of host mode [UNIT_HOST] (default localhost)
  --prefix PATH       a path prefix for the routes, e.g. /api [PREFIX] (default none)
  --snapshots WHERE   the snapshot areas: a directory, or s3://bucket/prefix [SNAPSHOTS]
                      (default DIR/snapshots). For S3 the AWS SDK's standard environment gives the
                      credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), the
                      region (AWS_REGION) and, for MinIO, R2 or another server, the endpoint
                      (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; then path-style addressing unless
                      S3_FORCE_PATH_STYLE=false). Needs npm install @aws-sdk/client-s3.
  -h, --help          this help
`;

const VERIFY_HELP = `Usage: ${NAME} verify <file.zip>

Checks a snapshot file as an import would, without importing it: the central directory (nothing
unsafe, within the limits), the manifest (export_version 2), the required entries, and every entry's
size and CRC-32, and SHA-256 when the file has 99_integrity.json. Prints the verdict first, then the
manifest, the records per type and the WebDAV resources.

Exit codes: 0 valid; 1 not valid, or the file cannot be read; 2 a usage error.

Options:
  -h, --help          this help
`;

/** The text after `koa-cell-snapshot:` for any error, without the prefix twice. */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(`${NAME}: `) ? message.slice(NAME.length + 2) : message;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${value}`);
  return n;
}

/** Checks `--snapshots`: a directory, or a well-formed `s3://bucket/prefix`. */
function snapshotsOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === '') throw new UsageError('--snapshots must not be empty');
  if (value.startsWith('s3://') && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(value)) {
    throw new UsageError(`--snapshots must be a directory or s3://bucket/prefix with a valid bucket name, got ${value}`);
  }
  return value;
}

async function runServe(args: string[], io: CliIo): Promise<number> {
  const { values } = parse({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      token: { type: 'string' },
      mode: { type: 'string' },
      'unit-host': { type: 'string' },
      prefix: { type: 'string' },
      snapshots: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    io.stdout.write(SERVE_HELP);
    return 0;
  }
  const env = io.env;
  const mode = values.mode ?? env['MODE'] ?? 'path';
  if (mode !== 'path' && mode !== 'host') throw new UsageError(`--mode must be path or host, got ${mode}`);
  const token = values.token ?? env['TOKEN'];
  if (token !== undefined && token.length < 8) throw new UsageError('--token (or TOKEN) must be at least 8 characters');
  // Loaded only here: the client commands need none of the server's modules.
  const { serve } = await import('./cli/serve.js');
  await serve({
    port: port(values.port ?? env['PORT'] ?? '8080'),
    host: values.host ?? env['HOST'] ?? '127.0.0.1',
    dataDir: values.data ?? env['DATA_DIR'] ?? 'data',
    token,
    mode,
    unitHost: values['unit-host'] ?? env['UNIT_HOST'] ?? 'localhost',
    prefix: values.prefix ?? env['PREFIX'] ?? '',
    snapshots: snapshotsOption(values.snapshots ?? env['SNAPSHOTS']),
  });
  return 0;
}

async function runVerify(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help === true) {
    io.stdout.write(VERIFY_HELP);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('verify takes exactly one file');
  return verify(file, io.stdout);
}

const COMMANDS: Readonly<Record<string, { run: (args: string[], io: CliIo) => Promise<number>; help: string }>> = {
  serve: { run: runServe, help: SERVE_HELP },
  verify: { run: runVerify, help: VERIFY_HELP },
  backup: { run: runBackup, help: BACKUP_HELP },
  restore: { run: runRestore, help: RESTORE_HELP },
  status: { run: runStatus, help: STATUS_HELP },
};

/** Runs the command of `argv`; an error is thrown as is, a usage error with the command's help hint. */
async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    if (command === 'help' && rest[0] !== undefined && topic === undefined) throw new UsageError(`unknown command ${rest[0]}`);
    if (command === undefined) {
      io.stderr.write(HELP);
      return 2;
    }
    io.stdout.write(topic?.help ?? HELP);
    return 0;
  }
  const found = COMMANDS[command];
  if (found === undefined) throw new UsageError(`unknown command ${command}`);
  try {
    return await found.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${error.message}\nRun '${NAME} ${command} --help' for usage.`);
    throw error;
  }
}

/**
 * Runs the command line with `argv` (the arguments after the program name) and resolves to its exit
 * code; an error is printed once on `io.stderr` (exit code 1, or 2 for a usage error). The bin calls
 * it with the process's arguments and streams; `serve` runs until SIGINT or SIGTERM.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    const usage = error instanceof UsageError;
    const hint = usage && !error.message.includes('--help') ? `\nRun '${NAME} --help' for usage.` : '';
    io.stderr.write(`${NAME}: ${messageOf(error)}${hint}\n`);
    return usage ? 2 : 1;
  }
}
