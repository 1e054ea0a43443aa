/** Cell comparisons for import tests, and reading a cell's identity from the fixture data dir. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import type { CellInfo, ODataType } from '../../lib/types.js';
import { type CellDigest, digestCell } from '../../lib/contract/cell-data-source.js';

/** The digest of a cell of a test data dir, read through a fresh FsCellDataSource. */
export function digestOf(dataDir: string, cell: string): Promise<CellDigest> {
  return digestCell(new FsCellDataSource({ root: join(dataDir, 'cells') }), cell);
}

/** The identity of a cell of a test data dir. */
export async function cellInfo(dataDir: string, cell: string): Promise<CellInfo> {
  const info = await new FsCellDataSource({ root: join(dataDir, 'cells') }).getCell(cell);
  if (info === undefined) throw new Error(`cell ${cell} missing`);
  return info;
}

/** The id of a fixture cell, from its cell record. */
export async function cellIdOf(dataDir: string, cell: string): Promise<string> {
  return (JSON.parse(await readFile(join(dataDir, 'cells', cell, 'cell.json'), 'utf8')) as { _id: string })._id;
}

/** What a cell's digest must be after importing `from` into `target`: `from`'s content, `target`'s identity. */
export function expectedAfterImport(from: CellDigest, target: CellInfo): CellDigest {
  const records = {} as Record<ODataType, CellDigest['records'][ODataType]>;
  for (const [type, list] of Object.entries(from.records) as [ODataType, CellDigest['records'][ODataType]][]) {
    records[type] = list.map((r) => ({ ...r, _source: { ...r._source, c: target.id } }));
  }
  const s = { ...(from.cellRecord._source['s'] as Record<string, unknown>), Name: target.name };
  const h = { ...((from.cellRecord._source['h'] as Record<string, unknown> | undefined) ?? {}) };
  if (target.owner === undefined) delete h['Owner'];
  else h['Owner'] = target.owner;
  return { ...from, records, cellRecord: { ...from.cellRecord, _id: target.id, _source: { ...from.cellRecord._source, s, h } } };
}

/** Names in the cells root that are not cells (staging or swap leftovers). */
export async function leftovers(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'cells'))).filter((name) => name.startsWith('.'));
}
