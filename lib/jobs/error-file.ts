/** The `{Name}.error` file of a failed or cancelled export. */
import type { ErrorBody } from '../errors.js';
import type { SnapshotStore } from '../types.js';

/** Writes `{name}.error` with the error body, replacing any older one. */
export async function writeErrorFile(snapshots: SnapshotStore, cellId: string, name: string, body: ErrorBody): Promise<void> {
  const upload = await snapshots.write(cellId, `${name}.error`, { contentType: 'application/json' });
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
