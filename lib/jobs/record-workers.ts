/**
 * Worker threads that rewrite `.pjson` lines for an import ({@link retargetLines}), so that parsing
 * and serialising a large snapshot's records runs beside the main thread, which reads, checks and
 * writes. Workers stay off the adapters: they get bytes and give bytes back.
 *
 * The main thread takes its share: a piece goes to an idle worker, or else is rewritten on the main
 * thread (which otherwise mostly waits for it). So one worker beside the main thread keeps two cores
 * busy, and while no worker is ready yet (they take some milliseconds to start) the main thread does
 * everything, as without workers.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type RetargetResult, retargetLines } from './record-lines.js';
import type { RecordJob, RecordWorkerMessage } from './record-worker.js';

/** The most workers an import starts. */
const MAX_WORKERS = 3;

/** Starts one worker on `record-worker`: its compiled JavaScript, or its TypeScript source through tsx. */
function startWorker(): Worker {
  const typescript = import.meta.url.endsWith('.ts');
  const url = new URL(typescript ? './record-worker.ts' : './record-worker.js', import.meta.url);
  if (!typescript) return new Worker(url);
  // Running from the sources (tests, benchmarks): the worker loads them through tsx, as this thread did.
  const load = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(load, { eval: true });
}

interface Job {
  resolve(result: RetargetResult): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  dead: boolean;
  readonly pending: Map<number, Job>;
}

/** A result as it arrives: a Buffer sent by a worker comes as a plain Uint8Array. */
function fromWire(result: RetargetResult): RetargetResult {
  if ('badLine' in result) return result;
  const bytes: Uint8Array = result.lines;
  return { lines: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Record workers for one import; {@link RecordWorkers.close} them when it ends. */
export class RecordWorkers {
  readonly #slots: Slot[] = [];
  #nextId = 0;
  readonly #counts = { workers: 0, main: 0 };

  /** @param count - how many workers to start (by default one per core but the main thread's, 1 to 3). */
  constructor(count = Math.max(1, Math.min(MAX_WORKERS, availableParallelism() - 1))) {
    for (let i = 0; i < count; i += 1) this.#slots.push(this.#start());
  }

  /** How many workers are ready and running. */
  get ready(): number {
    return this.#slots.filter((slot) => slot.ready && !slot.dead).length;
  }

  /** How many pieces were given to a worker, and how many rewritten on the main thread. */
  get counts(): { readonly workers: number; readonly main: number } {
    return { ...this.#counts };
  }

  /** How many pieces may usefully be in flight: one per worker, and the main thread's. */
  get inFlight(): number {
    return this.#slots.length + 1;
  }

  #start(): Slot {
    const worker = startWorker();
    worker.unref();
    const slot: Slot = { worker, ready: false, dead: false, pending: new Map() };
    worker.on('message', (message: RecordWorkerMessage) => {
      if ('ready' in message) {
        slot.ready = true;
        return;
      }
      const job = slot.pending.get(message.id);
      if (job === undefined) return;
      slot.pending.delete(message.id);
      if ('error' in message) job.reject(new Error(message.error));
      else job.resolve(fromWire(message.result));
    });
    const fail = (error: Error): void => {
      slot.dead = true;
      for (const job of slot.pending.values()) job.reject(error);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a record worker stopped (exit code ${code})`)));
    return slot;
  }

  /**
   * Rewrites a piece of whole lines ({@link retargetLines}) in an idle ready worker, or else on this
   * thread. Rejects when the worker fails.
   */
  retarget(piece: Buffer, cellId: string): Promise<RetargetResult> {
    const slot = this.#slots.find((s) => s.ready && !s.dead && s.pending.size === 0);
    if (slot === undefined) {
      this.#counts.main += 1;
      return Promise.resolve().then(() => retargetLines(piece, cellId));
    }
    this.#counts.workers += 1;
    const id = this.#nextId++;
    // A copy of its own, moved to the worker: a view is cloned with the whole buffer under it.
    const own = new Uint8Array(piece.length);
    own.set(piece);
    return new Promise<RetargetResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, piece: own, cellId } satisfies RecordJob, [own.buffer]);
    });
  }

  /** Stops every worker; a piece still in flight rejects. */
  async close(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }
}
