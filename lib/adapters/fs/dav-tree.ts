/**
 * Walking a cell's `dav/` tree: depth-first, the root first, parents before their children, siblings
 * in code-unit order, holding only the sorted child-name listings of the folders on the current
 * branch (one listing per level), never the whole tree. Symbolic links are never followed: a link is
 * neither a child resource nor content.
 *
 * The walk runs on a worker thread ({@link davWalkerThread}, kept in a pool of two between walks): a cell of many small
 * resources costs several file system calls per resource (`readdir`, `lstat`, and `open`, `read`,
 * `close` of its `.pmeta` and small content), which made up most of the export of such a cell. On the
 * worker they are synchronous calls (each call through libuv's thread pool costs many times the call
 * itself) and they run beside the export's own work instead of taking the event loop's time. The
 * worker sends resources in batches, at most {@link BATCHES_AHEAD} ahead of the reader, so memory
 * stays bounded: each batch holds at most {@link BATCH_RESOURCES} resources and about
 * {@link BATCH_BYTES} of small content. The `.pmeta` text is parsed on the main thread.
 *
 * @module
 */
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { CONTENT_NAME, PMETA_NAME } from '../../snapshot/format.js';
import type { DavMeta } from '../../types.js';
import { BACKGROUND_NICE_STEP, startInlineWorker } from '../../util/inline-worker.js';
import { isJsonObject } from '../../util/json.js';
import { DAV_DIR, PRIVATE_ROOT_DIRS, pathKind } from './cell-layout.js';

/** Resources per batch sent by the walker. */
export const BATCH_RESOURCES = 512;
/** Bytes of small content per batch (a batch closes once it holds this much). */
export const BATCH_BYTES = 1024 * 1024;
/**
 * Batches the walker may send before the reader has taken them: enough for the walk to get well
 * ahead while the export writes the records (at most about 16 MiB of small content and 8,192
 * resources' metadata held).
 */
export const BATCHES_AHEAD = 16;

/** One resource folder found by the walk. */
export interface DavResource {
  /** The resource's path below the WebDAV root (`''` for the root). */
  readonly path: string;
  /** Its folder on disk. */
  readonly dir: string;
  /** The size of its `content` file, when it is a file resource. */
  readonly contentSize?: number;
  /** Its metadata, parsed. */
  readonly meta: DavMeta;
  /** Its whole content, when it is small (1 byte to `smallBytes`). */
  readonly small?: Buffer;
}

/** What the walker reads besides the tree. */
export interface WalkOptions {
  /** Read each resource's `.pmeta`, refusing one larger than this many bytes. */
  readonly maxMetaBytes: number;
  /** Read each content of 1 to this many bytes whole. */
  readonly smallBytes: number;
}

/** One walk, as the walker thread is sent it. */
interface WalkerData {
  readonly rootDir: string;
  readonly privateRootDirs: readonly string[];
  readonly pmetaName: string;
  readonly contentName: string;
  /** Absent: only count. */
  readonly read?: WalkOptions;
  readonly batchResources: number;
  readonly batchBytes: number;
  readonly batchesAhead: number;
}

/** One resource as the worker sends it. */
interface WalkedResource {
  readonly path: string;
  readonly dir: string;
  readonly contentSize?: number | undefined;
  /** The `.pmeta` text, or `missing` / `large` for a `.pmeta` that cannot be read. */
  readonly meta?: string | { readonly problem: 'missing' | 'large' } | undefined;
  /** Offset and length of the small content in the batch's bytes. */
  readonly small?: readonly [number, number] | undefined;
}

/** A message of the worker. */
type WalkerMessage =
  | { readonly batch: readonly WalkedResource[]; readonly bytes: Uint8Array }
  | { readonly done: { readonly davNodes: number; readonly bytes: number } }
  | { readonly error: { readonly message: string; readonly code?: string } };

/**
 * The walker thread: for each walk it is sent (`{ walk }`), walks the tree and sends batches of
 * resources, then its counts; `'more'` lets it send one more batch. Self-contained (see
 * `util/inline-worker.ts`). A thread serves one walk at a time and is pooled between walks.
 */
function davWalkerThread(): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  if (parentPort === null) return;
  const port = parentPort;
  const fs = require('node:fs') as typeof import('node:fs');
  const { join: joinPath } = require('node:path') as typeof import('node:path');
  /** A reused buffer for `.pmeta` files: most fit it, and are read with no `fstat`. */
  const scratch = Buffer.allocUnsafe(16 * 1024);
  let credits = 0;
  let wake: (() => void) | undefined;
  port.on('message', (message: 'more' | { readonly walk: WalkerData }) => {
    if (message === 'more') {
      credits += 1;
      wake?.();
      wake = undefined;
    } else {
      credits = message.walk.batchesAhead;
      void walk(message.walk);
    }
  });

  async function walk(data: WalkerData): Promise<void> {
    const { read } = data;
    let slab = Buffer.allocUnsafe(data.batchBytes);
    let used = 0;
    let batch: WalkedResource[] = [];
    let davNodes = 0;
    let bytes = 0;

    const send = async (): Promise<void> => {
      if (batch.length === 0) return;
      while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
      credits -= 1;
      const message: WalkerMessage = { batch, bytes: new Uint8Array(slab.buffer, slab.byteOffset, used) };
      port.postMessage(message, [slab.buffer]);
      slab = Buffer.allocUnsafe(data.batchBytes);
      used = 0;
      batch = [];
    };

    /** Reads a folder: its files and its sorted child folders (links are neither). */
    const readFolder = (dir: string, isRoot: boolean): { isResource: boolean; hasContent: boolean; children: string[] } => {
      let isResource = false;
      let hasContent = false;
      const children: string[] = [];
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) {
          if (!(isRoot && data.privateRootDirs.includes(entry.name))) children.push(entry.name);
        } else if (entry.isFile()) {
          if (entry.name === data.pmetaName) isResource = true;
          else if (entry.name === data.contentName) hasContent = true;
        }
      }
      return { isResource, hasContent, children: children.sort() };
    };

    const openNoFollow = (dir: string, name: string): number =>
      fs.openSync(`${dir}/${name}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);

    /** Fills `buffer` from `at` to `end` from an open file's start; returns the bytes read. */
    const readInto = (fd: number, buffer: Buffer, at: number, end: number): number => {
      let filled = 0;
      while (at + filled < end) {
        const n = fs.readSync(fd, buffer, at + filled, end - at - filled, filled);
        if (n === 0) break;
        filled += n;
      }
      return filled;
    };

    const readMetaText = (dir: string, maxBytes: number): WalkedResource['meta'] => {
      let fd: number;
      try {
        fd = openNoFollow(dir, data.pmetaName);
      } catch {
        return { problem: 'missing' };
      }
      try {
        let filled: number;
        try {
          filled = readInto(fd, scratch, 0, scratch.length);
        } catch {
          return { problem: 'missing' }; // not a regular file (a folder named .pmeta)
        }
        if (filled < scratch.length) return filled > maxBytes ? { problem: 'large' } : scratch.toString('utf8', 0, filled);
        const { size } = fs.fstatSync(fd);
        if (size > maxBytes) return { problem: 'large' };
        const whole = Buffer.allocUnsafe(size);
        return whole.toString('utf8', 0, readInto(fd, whole, 0, size));
      } finally {
        fs.closeSync(fd);
      }
    };

    /**
     * Reads a content of up to `smallBytes` whole into the batch's bytes, with no `stat`: one read of
     * `smallBytes + 1` tells a small file (read whole) from a larger one (then sized by `fstat`).
     */
    const readContent = async (dir: string, smallBytes: number): Promise<{ size: number; small?: [number, number] }> => {
      if (used + smallBytes + 1 > slab.length) await send();
      const fd = openNoFollow(dir, data.contentName);
      try {
        const n = readInto(fd, slab, used, used + smallBytes + 1);
        if (n > smallBytes) return { size: fs.fstatSync(fd).size };
        if (n === 0) return { size: 0 };
        const small: [number, number] = [used, n];
        used += n;
        return { size: n, small };
      } finally {
        fs.closeSync(fd);
      }
    };

    const visit = async (path: string, dir: string, folder: { hasContent: boolean }): Promise<void> => {
      davNodes += 1;
      if (read === undefined) {
        if (folder.hasContent) bytes += fs.lstatSync(joinPath(dir, data.contentName)).size;
        return;
      }
      const meta = readMetaText(dir, read.maxMetaBytes);
      const content = folder.hasContent ? await readContent(dir, read.smallBytes) : undefined;
      batch.push({ path, dir, contentSize: content?.size, meta, small: content?.small });
      if (batch.length >= data.batchResources || used >= data.batchBytes) await send();
    };

    try {
      const rootFolder = readFolder(data.rootDir, true);
      if (rootFolder.isResource) await visit('', data.rootDir, rootFolder);
      const stack: { path: string; dir: string; names: string[]; next: number }[] = [
        { path: '', dir: data.rootDir, names: rootFolder.children, next: 0 },
      ];
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) break;
        const name = top.names[top.next++];
        if (name === undefined) {
          stack.pop();
          continue;
        }
        const path = top.path === '' ? name : `${top.path}/${name}`;
        const dir = `${top.dir}/${name}`; // names from readdir: no separators, never . or ..
        const folder = readFolder(dir, false);
        if (folder.isResource) await visit(path, dir, folder);
        stack.push({ path, dir, names: folder.children, next: 0 });
      }
      await send();
      port.postMessage({ done: { davNodes, bytes } } satisfies WalkerMessage);
    } catch (error) {
      const { message, code } = error as NodeJS.ErrnoException;
      port.postMessage({ error: code === undefined ? { message } : { message, code } } satisfies WalkerMessage);
    }
  }
}

/** Parses a `.pmeta` text as the walker read it. `path` names the resource in errors. */
function parseMeta(text: WalkedResource['meta'], path: string, maxBytes: number): DavMeta {
  if (typeof text !== 'string') {
    if (text?.problem === 'large') throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is larger than ${maxBytes} bytes`);
    throw new Error(`WebDAV resource [${path}] has no ${PMETA_NAME}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not valid JSON`);
  }
  if (!isJsonObject(value)) throw new Error(`${PMETA_NAME} of WebDAV resource [${path}] is not a JSON object`);
  return value;
}

/** An error of the walker, as the main thread throws it (with its errno code, if any). */
function walkerError(error: { readonly message: string; readonly code?: string }): Error {
  return Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
}

/** Walker threads kept between walks: an export runs two walks at once (its count and its read). */
const POOL_SIZE = 2;
/** A pooled thread ends after this long unused (starting one costs tens of milliseconds). */
export const THREAD_IDLE_MS = 30_000;
const pool: { readonly worker: Worker; readonly timer: NodeJS.Timeout; readonly leave: () => void }[] = [];

/** A walker thread from the pool, or a new one. */
function acquireThread(): Worker {
  const pooled = pool.pop();
  if (pooled === undefined) return startInlineWorker(davWalkerThread, undefined, { niceStep: BACKGROUND_NICE_STEP });
  clearTimeout(pooled.timer);
  pooled.worker.off('exit', pooled.leave).off('error', pooled.leave);
  pooled.worker.ref();
  return pooled.worker;
}

/**
 * Returns a thread whose walk ended to the pool (it then holds no reference on the event loop). The
 * walk's own listeners are already removed.
 */
function releaseThread(worker: Worker): void {
  if (pool.length >= POOL_SIZE) {
    void worker.terminate();
    return;
  }
  const leave = (): void => {
    const at = pool.findIndex((entry) => entry.worker === worker);
    if (at >= 0) pool.splice(at, 1);
  };
  const timer = setTimeout(() => {
    leave();
    void worker.terminate();
  }, THREAD_IDLE_MS);
  timer.unref();
  // An idle thread that fails or ends leaves the pool (and its error is no uncaught exception).
  worker.once('exit', leave).on('error', leave);
  worker.unref();
  pool.push({ worker, timer, leave });
}

/**
 * Runs a walk on a walker thread and yields what it sends: batches, then its counts last. The thread
 * returns to the pool when the walk ended (with its counts or its error); it is terminated when the
 * iteration ends otherwise (abandoned, aborted, or the thread failed). `signal` ends the walk with
 * its reason, at once, even while the iteration rests at a `yield`.
 */
async function* runWalker(data: WalkerData, signal: AbortSignal): AsyncGenerator<WalkerMessage> {
  signal.throwIfAborted();
  const worker = acquireThread();
  const queue: WalkerMessage[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const onAbort = (): void => {
    failure ??= signal.reason;
    void worker.terminate();
    notify();
  };
  const onMessage = (message: WalkerMessage): void => {
    if ('done' in message || 'error' in message) ended = true;
    queue.push(message);
    notify();
  };
  const onError = (error: Error): void => {
    failure ??= error;
    notify();
  };
  const onExit = (): void => {
    failure ??= new Error('the WebDAV walker stopped before it finished');
    notify();
  };
  worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  signal.addEventListener('abort', onAbort, { once: true });
  worker.postMessage({ walk: data });
  try {
    for (;;) {
      if (failure !== undefined) throw failure;
      const message = queue.shift();
      if (message === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if ('error' in message) throw walkerError(message.error);
      yield message;
      if ('done' in message) return;
      worker.postMessage('more');
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (ended && failure === undefined) {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      releaseThread(worker);
    } else {
      void worker.terminate();
    }
  }
}

function walkerData(cellDir: string, read: WalkOptions | undefined): WalkerData {
  return {
    rootDir: join(cellDir, DAV_DIR),
    privateRootDirs: PRIVATE_ROOT_DIRS,
    pmetaName: PMETA_NAME,
    contentName: CONTENT_NAME,
    ...(read === undefined ? {} : { read }),
    batchResources: BATCH_RESOURCES,
    batchBytes: BATCH_BYTES,
    batchesAhead: BATCHES_AHEAD,
  };
}

/**
 * Yields every resource folder of a cell directory's WebDAV tree, in batches, with its metadata
 * parsed and its small content read: the root first, then depth-first with siblings sorted. A folder
 * is a resource when it holds a `.pmeta` file; a folder without one is an intermediate folder: not
 * yielded, but walked (as the snapshot reader treats a folder of `20_webdav/` without `.pmeta`). A
 * cell without a `dav/` folder has no resources. A `.pmeta` that is missing (a link, a folder),
 * larger than `maxMetaBytes` or not a JSON object fails the walk when its resource is reached.
 */
export async function* walkDav(cellDir: string, options: WalkOptions, signal: AbortSignal): AsyncGenerator<DavResource[]> {
  signal.throwIfAborted();
  if ((await pathKind(join(cellDir, DAV_DIR))) !== 'directory') return;
  for await (const message of runWalker(walkerData(cellDir, options), signal)) {
    if (!('batch' in message)) continue;
    const bytes = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength);
    yield message.batch.map(({ path, dir, contentSize, meta, small }) => ({
      path,
      dir,
      ...(contentSize === undefined ? {} : { contentSize }),
      meta: parseMeta(meta, path, options.maxMetaBytes),
      ...(small === undefined ? {} : { small: bytes.subarray(small[0], small[0] + small[1]) }),
    }));
  }
}

/** Counts the resources of a cell directory's WebDAV tree and the bytes of their contents. */
export async function countDav(cellDir: string, signal: AbortSignal): Promise<{ davNodes: number; bytes: number }> {
  signal.throwIfAborted();
  if ((await pathKind(join(cellDir, DAV_DIR))) !== 'directory') return { davNodes: 0, bytes: 0 };
  for await (const message of runWalker(walkerData(cellDir, undefined), signal)) {
    if ('done' in message) return message.done;
  }
  throw new Error('the WebDAV walker ended without its counts');
}
