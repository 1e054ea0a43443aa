/**
 * The entry of a record worker thread (see `record-workers.ts`): answers each {@link RecordJob} with
 * {@link retargetLines} of its piece, and says `ready` once loaded.
 *
 * @module
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { type RetargetResult, retargetLines } from './record-lines.js';

/** A piece of whole `.pjson` lines to rewrite for the target cell. */
export interface RecordJob {
  /** Names the job in its answer. */
  readonly id: number;
  /** The lines. */
  readonly piece: Uint8Array;
  /** The target cell's id. */
  readonly cellId: string;
}

/** A worker's message: `ready` once, then one answer per job. */
export type RecordWorkerMessage =
  | { readonly ready: true }
  | { readonly id: number; readonly result: RetargetResult }
  | { readonly id: number; readonly error: string };

const port = isMainThread ? null : parentPort;
if (port !== null) {
  port.on('message', (job: RecordJob) => {
    let answer: RecordWorkerMessage;
    const moved: ArrayBuffer[] = [];
    try {
      const result = retargetLines(job.piece, job.cellId);
      if ('lines' in result) {
        // Moved rather than cloned, in a buffer of its own (a small Buffer shares a pool).
        const own = new Uint8Array(result.lines.length);
        own.set(result.lines);
        moved.push(own.buffer);
        answer = { id: job.id, result: { lines: Buffer.from(own.buffer) } };
      } else {
        answer = { id: job.id, result };
      }
    } catch (error) {
      answer = { id: job.id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(answer, moved);
  });
  port.postMessage({ ready: true } satisfies RecordWorkerMessage);
}
