/**
 * The rule every `SnapshotUpload.commit` starts with: the upload stream must have ended well. Shared
 * by the snapshot stores so that they refuse the same streams the same way.
 */
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/**
 * Waits for an ended upload stream to finish writing. Rejects after `discard` when the stream errored
 * (with its error, e.g. 413) or was destroyed before it finished; rejects without discarding (the
 * upload stays usable) when it was not ended yet.
 */
export async function awaitUploadEnd(stream: Writable, discard: () => Promise<void>): Promise<void> {
  if (stream.errored !== null) {
    await discard();
    throw stream.errored;
  }
  if (stream.writableFinished) return;
  if (stream.destroyed) {
    await discard();
    throw new Error('The upload stream was destroyed before it finished');
  }
  if (!stream.writableEnded) throw new Error('End the upload stream before committing the upload');
  try {
    await finished(stream);
  } catch (error) {
    await discard();
    throw error;
  }
}
