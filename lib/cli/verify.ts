/**
 * `koa-cell-snapshot verify <file.zip>`: the verdict first (`OK` or `FAILED` with the code an import
 * would answer), then what was found: the manifest, the records per type, the WebDAV resources.
 */
import { fileSource } from '../snapshot/source.js';
import { verifySnapshot } from '../snapshot/verify.js';

/** Verifies one file and prints a report on `out`; resolves to the exit code (0 valid, 1 not or unreadable). */
export async function verify(file: string, out: NodeJS.WritableStream): Promise<number> {
  let source;
  try {
    source = await fileSource(file);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(`cannot read ${file}: ${missing ? 'no such file' : error instanceof Error ? error.message : String(error)}`);
  }
  const report = await verifySnapshot(source);
  const { ok, error } = report;
  out.write(ok ? `OK: ${file} is a valid snapshot\n` : `FAILED ${error?.code ?? ''}: ${error?.message.value ?? ''}\n`);
  if (report.manifest === undefined) return ok ? 0 : 1;
  const { export_version: version, unit_url: unit, create_date: created } = report.manifest;
  out.write(`manifest: export_version ${version}, unit_url ${unit}, create_date ${new Date(created).toISOString()}\n`);
  const counts = Object.entries(report.counts);
  if (counts.length > 0) {
    out.write('records:\n');
    for (const [type, count] of counts) out.write(`  ${type.padEnd(20)} ${count}\n`);
  }
  out.write(`webdav: ${report.davNodes} resources, ${report.contentBytes} content bytes\n`);
  out.write(`integrity: ${report.integrity === 'sha256' ? 'SHA-256 (99_integrity.json)' : 'CRC-32 only (no 99_integrity.json)'}\n`);
  return ok ? 0 : 1;
}
