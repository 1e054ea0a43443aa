/**
 * The command line: `koa-cell-snapshot serve` runs a standalone host on the embedded defaults;
 * `koa-cell-snapshot verify <file.zip>` checks a snapshot file.
 */
import { parseArgs } from 'node:util';
import { serve } from './cli/serve.js';
import { verify } from './cli/verify.js';

const USAGE = `Usage:
  koa-cell-snapshot serve [--port 8080] [--host 127.0.0.1] [--data ./data] [--token T] [--mode path|host] [--unit-host localhost] [--prefix /api]
  koa-cell-snapshot verify <file.zip>

Environment: PORT, HOST, DATA_DIR, TOKEN, MODE, UNIT_HOST, PREFIX (flags win).`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'verify') {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
    if (positionals.length !== 1 || positionals[0] === undefined) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    return verify(positionals[0]);
  }
  if (command === 'serve') {
    const { values } = parseArgs({
      args: rest,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        data: { type: 'string' },
        token: { type: 'string' },
        mode: { type: 'string' },
        'unit-host': { type: 'string' },
        prefix: { type: 'string' },
      },
    });
    const env = process.env;
    const mode = values.mode ?? env['MODE'] ?? 'path';
    if (mode !== 'path' && mode !== 'host') {
      process.stderr.write(`--mode must be path or host\n${USAGE}\n`);
      return 2;
    }
    await serve({
      port: Number(values.port ?? env['PORT'] ?? 8080),
      host: values.host ?? env['HOST'] ?? '127.0.0.1',
      dataDir: values.data ?? env['DATA_DIR'] ?? 'data',
      token: values.token ?? env['TOKEN'],
      mode,
      unitHost: values['unit-host'] ?? env['UNIT_HOST'] ?? 'localhost',
      prefix: values.prefix ?? env['PREFIX'] ?? '',
    });
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`koa-cell-snapshot: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
