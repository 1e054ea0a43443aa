/** The `{Name}.error` file of a failed or cancelled export. */
import type { ErrorBody } from '../errors.js';
import type { SnapshotStore } from '../types.js';

/** The error file of the export named `name`. */
function errorFileName(name: string): string {
  return `${name}.error`;
}

/** Writes `{name}.error` with the error body, replacing any older one. */
export async function writeErrorFile(snapshots: SnapshotStore, cellId: string, name: string, body: ErrorBody): Promise<void> {
  const upload = await snapshots.write(cellId, errorFileName(name), { contentType: 'application/json' });
  try {
    await new Promise<void>((resolve, reject) => {
      upload.stream.once('error', reject);
      upload.stream.end(JSON.stringify(body), () => resolve());
    });
    await upload.commit();
  } catch (error) {
    await upload.abort();
    throw error;
  }
}

/**
 * Removes the `{name}.error` an earlier export of that name left, once this one's zip is committed.
 * A failure to remove it is reported to `onError` and does not fail the export: its zip is in place.
 */
export async function dropEarlierErrorFile(snapshots: SnapshotStore, cellId: string, name: string, onError: (error: unknown) => void): Promise<void> {
  await snapshots.delete(cellId, errorFileName(name)).catch(onError);
}
