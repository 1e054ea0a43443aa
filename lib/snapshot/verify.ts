/**
 * Whole-archive verification: reads every entry of a snapshot through the reader, as an import
 * would, checks every byte, and reports what it found instead of throwing.
 */
import { errorBody, type ErrorBody } from '../errors.js';
import { ODATA_TYPES, type Manifest } from './format.js';
import { openSnapshot, type OpenSnapshotOptions, type SnapshotReader } from './reader.js';
import type { RandomAccessSource } from './source.js';

/** The outcome of {@link verifySnapshot}. */
export interface VerifyReport {
  /** Whether every check passed. */
  ok: boolean;
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /**
   * Records read per type (the 16 `ODataType`s, each present, 0 when empty), up to a failure (the
   * records of the chunk read with a bad line are not counted).
   */
  counts: Record<string, number>;
  /** WebDAV resources read, up to a failure. */
  davNodes: number;
  /** Bytes of WebDAV content read and checked, up to a failure. */
  contentBytes: number;
  /** `sha256` when the archive has `99_integrity.json`, `crc32-only` otherwise (or when unknown). */
  integrity: 'sha256' | 'crc32-only';
  /** Why the archive was refused (`PR500-SV-0000` for a failure that is not the archive's fault). */
  error?: ErrorBody;
}

/**
 * Reads and verifies every entry of the archive (the cell record, every record of the 16 types,
 * every `.pmeta` and `content`, the integrity list and any ignored entry), holding nothing whole in
 * memory. Never rejects for a bad archive or a failing source: the error goes into the report. An
 * abort through `options.signal` does reject, with the signal's reason.
 */
export async function verifySnapshot(source: RandomAccessSource, options: OpenSnapshotOptions = {}): Promise<VerifyReport> {
  const counts: Record<string, number> = {};
  for (const type of ODATA_TYPES) counts[type] = 0;
  const report: VerifyReport = { ok: false, counts, davNodes: 0, contentBytes: 0, integrity: 'crc32-only' };
  let reader: SnapshotReader | undefined;
  try {
    reader = await openSnapshot(source, options);
    report.manifest = reader.manifest;
    report.integrity = reader.hasIntegrity ? 'sha256' : 'crc32-only';
    await reader.cellRecord();
    for (const type of ODATA_TYPES) {
      for await (const chunk of reader.recordChunks(type)) counts[type] = (counts[type] ?? 0) + chunk.length;
    }
    for await (const node of reader.dav()) {
      if (node.content !== undefined) {
        for await (const chunk of node.content as AsyncIterable<Buffer>) report.contentBytes += chunk.length;
      }
      report.davNodes += 1;
    }
    await reader.checkUnused();
    report.ok = true;
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    report.error = errorBody(error);
  } finally {
    await reader?.close();
  }
  return report;
}
