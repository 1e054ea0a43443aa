/** The target cell keeps its identity on import: its id, name and owner replace the snapshot's. */
import type { CellInfo, ODataRecord } from '../types.js';
import { isJsonObject } from '../util/json.js';

/** A copy of a JSON object, or a new empty one for anything else. */
function object(value: unknown): Record<string, unknown> {
  return isJsonObject(value) ? { ...value } : {};
}

/** The snapshot's cell record with the target's `_id`, `s.Name` and `h.Owner` (removed when the target has none). */
export function retargetCellRecord(record: ODataRecord, cell: CellInfo): ODataRecord {
  const source = object(record._source);
  const statics = object(source['s']);
  statics['Name'] = cell.name;
  const hidden = object(source['h']);
  if (cell.owner === undefined) delete hidden['Owner'];
  else hidden['Owner'] = cell.owner;
  return { ...record, _id: cell.id, _source: { ...source, s: statics, h: hidden } };
}

/** Gives a record of the snapshot the target cell's id as its `_source.c`, in place. */
export function retargetRecord(record: ODataRecord, cellId: string): void {
  record._source['c'] = cellId;
}

/**
 * The records with `_source.c` set to the target cell's id. The records are changed in place: they
 * are the reader's, parsed for this import and seen by nothing else.
 */
export async function* retargetRecords(records: AsyncIterable<ODataRecord>, cellId: string): AsyncIterable<ODataRecord> {
  for await (const record of records) {
    retargetRecord(record, cellId);
    yield record;
  }
}
