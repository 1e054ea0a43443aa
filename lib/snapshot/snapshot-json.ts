/**
 * The JSON of a snapshot, each document refused with its own code: records (`.pjson` lines and
 * `00_cell.json`) and `.pmeta` objects (`PR400-CM-0004` quoting the text), the manifest
 * (`PR400-MC-0003` for another `export_version`), and the integrity list (`PR400-SN-0003`).
 */
import { PersoniumError } from '../errors.js';
import type { ODataRecord } from '../types.js';
import { isJsonObject } from '../util/json.js';
import { EXPORT_VERSION, INTEGRITY_PATH, type Manifest } from './format.js';
import { recordProblem, toRecord } from './lines.js';
import { clip } from './reader-shared.js';

/** Parses JSON text; `PR400-CM-0004` quoting the text when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PersoniumError('PR400-CM-0004', [clip(text)], { cause: error });
  }
}

/** Parses a JSON object; `PR400-CM-0004` quoting the text when it is not JSON or not an object. */
export function parseJsonObject(text: string): Record<string, unknown> {
  const value = parseJson(text);
  if (!isJsonObject(value)) throw new PersoniumError('PR400-CM-0004', [clip(text)]);
  return value;
}

/** Parses one record (a `.pjson` line or `00_cell.json`); `PR400-CM-0004` with the text otherwise. */
export function parseRecord(text: string): ODataRecord {
  const value = parseJson(text);
  if (recordProblem(value) !== undefined) throw new PersoniumError('PR400-CM-0004', [clip(text)]);
  return toRecord(value);
}

/** Parses and checks the manifest's bytes. */
export function parseManifest(bytes: Buffer): Manifest {
  const value = parseJsonObject(bytes.toString('utf8'));
  const version = value['export_version'];
  if (version !== EXPORT_VERSION) {
    throw new PersoniumError('PR400-MC-0003', [version === undefined ? 'null' : clip(JSON.stringify(version))]);
  }
  const unitUrl = value['unit_url'];
  const createDate = value['create_date'];
  return Object.freeze({
    export_version: EXPORT_VERSION,
    unit_url: typeof unitUrl === 'string' ? unitUrl : '',
    create_date: typeof createDate === 'number' && Number.isFinite(createDate) ? createDate : 0,
  });
}

/** What `99_integrity.json` promises for one entry. */
export interface IntegrityPromise {
  /** The entry's path. */
  readonly path: string;
  /** Its uncompressed size. */
  readonly size: number;
  /** The SHA-256 of its content, lower-case hex. */
  readonly sha256: string;
}

/**
 * Parses `99_integrity.json`: `{"algorithm":"sha256","entries":[{path,size,sha256}…]}`, every path
 * once and never the list itself; `PR400-SN-0003` naming the list otherwise.
 */
export function parseIntegrityList(text: string): IntegrityPromise[] {
  const fail = (): PersoniumError => new PersoniumError('PR400-SN-0003', [INTEGRITY_PATH]);
  const value = parseJson(text);
  if (!isJsonObject(value) || value['algorithm'] !== 'sha256' || !Array.isArray(value['entries'])) throw fail();
  const seen = new Set<string>();
  const promises: IntegrityPromise[] = [];
  for (const item of value['entries'] as unknown[]) {
    if (
      !isJsonObject(item) ||
      typeof item['path'] !== 'string' ||
      !Number.isSafeInteger(item['size']) ||
      (item['size'] as number) < 0 ||
      typeof item['sha256'] !== 'string' ||
      !/^[0-9a-f]{64}$/.test(item['sha256'])
    ) {
      throw fail();
    }
    const path = item['path'];
    if (seen.has(path) || path === INTEGRITY_PATH) throw fail();
    seen.add(path);
    promises.push({ path, size: item['size'] as number, sha256: item['sha256'] });
  }
  return promises;
}
