/** Snapshot names as Personium accepts them in `__export` and `__import` bodies. */
import { UsageError } from './usage.js';

/** The pattern of a snapshot name: 1 to 192 of `A-Z a-z 0-9 - _`. */
export const SNAPSHOT_NAME = /^[a-zA-Z0-9_-]{1,192}$/;

/** Checks a `--name`: a usage error unless it matches {@link SNAPSHOT_NAME}. */
export function checkName(name: string): string {
  if (!SNAPSHOT_NAME.test(name)) throw new UsageError(`--name must be 1 to 192 of A-Z a-z 0-9 - _, got ${name}`);
  return name;
}

/** Personium's default export name, `{cell}_yyyyMMdd_HHmmss` (UTC), with any other character made `_`. */
export function defaultExportName(cell: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  return `${cell.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 176)}_${stamp}`;
}
