/** `koa-cell-snapshot verify <file.zip>`: the manifest, record counts per type and the verification result. */
import { fileSource } from '../snapshot/source.js';
import { verifySnapshot } from '../snapshot/verify.js';

/** Verifies one file and prints a report; resolves to the exit code (0 valid, 1 not). */
export async function verify(file: string): Promise<number> {
  const report = await verifySnapshot(await fileSource(file));
  const out = process.stdout;
  out.write(`file: ${file}\n`);
  if (report.manifest !== undefined) {
    const { export_version: version, unit_url: unit, create_date: created } = report.manifest;
    out.write(`manifest: export_version ${version}, unit_url ${unit}, create_date ${new Date(created).toISOString()}\n`);
  }
  const counts = Object.entries(report.counts);
  if (counts.length > 0) {
    out.write('records:\n');
    for (const [type, count] of counts) out.write(`  ${type.padEnd(20)} ${count}\n`);
  }
  out.write(`webdav: ${report.davNodes} resources, ${report.contentBytes} content bytes\n`);
  out.write(`integrity: ${report.integrity === 'sha256' ? 'CRC-32 and SHA-256' : 'CRC-32 only (no 99_integrity.json)'}\n`);
  if (report.ok) {
    out.write('result: OK\n');
    return 0;
  }
  out.write(`result: FAILED ${report.error?.code ?? ''} ${report.error?.message.value ?? ''}\n`);
  return 1;
}
