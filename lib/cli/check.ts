/**
 * The local check of a snapshot file that `backup` runs after its download and `restore` before its
 * upload: the same verification as `verify`, with a progress display over the file's bytes.
 */
import { Transform } from 'node:stream';
import { fileSource, type RandomAccessSource } from '../snapshot/source.js';
import { type VerifyReport, verifySnapshot } from '../snapshot/verify.js';
import { startProgress } from './progress.js';

/** A source that reports every byte read from it. */
function counting(source: RandomAccessSource, onBytes: (n: number) => void): RandomAccessSource {
  return {
    size: source.size,
    async read(range) {
      const stream = await source.read(range);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          onBytes(chunk.length);
          callback(null, chunk);
        },
      });
      stream.on('error', (error) => counter.destroy(error));
      counter.on('close', () => stream.destroy());
      return stream.pipe(counter);
    },
  };
}

/** Verifies a local snapshot file with a progress display on `progressStream`; the report says whether it is valid. */
export async function checkFile(file: string, signal: AbortSignal, progressStream: NodeJS.WriteStream): Promise<VerifyReport> {
  let source: RandomAccessSource;
  try {
    source = await fileSource(file);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(`cannot read ${file}: ${missing ? 'no such file' : error instanceof Error ? error.message : String(error)}`);
  }
  const progress = startProgress({ label: 'verify', total: source.size, unit: 'bytes', stream: progressStream });
  let read = 0;
  try {
    const report = await verifySnapshot(
      counting(source, (n) => {
        read = Math.min(source.size, read + n);
        progress.update(read);
      }),
      { signal },
    );
    if (report.ok) progress.update(source.size);
    return report;
  } finally {
    progress.stop();
  }
}

/** The one-line verdict of a report: `OK (…)` or `FAILED {code}: {message}`. */
export function verdict(report: VerifyReport): string {
  if (!report.ok) return `FAILED ${report.error?.code ?? ''}: ${report.error?.message.value ?? ''}`;
  const records = Object.values(report.counts).reduce((a, b) => a + b, 0);
  const integrity = report.integrity === 'sha256' ? 'SHA-256' : 'CRC-32 only';
  return `OK (${records} records, ${report.davNodes} WebDAV resources, ${integrity} checked)`;
}
