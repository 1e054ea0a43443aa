/**
 * A resumable download of a snapshot file: a connection that drops midway is taken up again with
 * `Range: bytes={received}-` and `If-Range: {ETag}`, so the rest comes from the same version of the
 * file, or the whole new version if it was replaced meanwhile; retried with exponential backoff. The
 * bytes go to `{file}.part`, hashed as they arrive, and are renamed to `{file}` only when complete.
 */
import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CellClient } from './remote.js';

/** What was downloaded. */
export interface Downloaded {
  /** Its size in bytes. */
  readonly size: number;
  /** The SHA-256 of its bytes, hex. */
  readonly sha256: string;
  /** How many times a dropped connection was resumed. */
  readonly resumes: number;
}

/** Options of {@link download}. */
export interface DownloadOptions {
  /** Called once the size is known (again if a new version restarts the download). */
  readonly onStart: (total: number) => void;
  /** Called with the bytes received so far. */
  readonly onBytes: (received: number) => void;
  /** Called before each retry, with why and when. */
  readonly onRetry: (message: string) => void;
  /** Stops the download (rejects with its reason); the partial file is removed. */
  readonly signal: AbortSignal;
  /** Retries in a row without a byte of progress before giving up. Default 5. */
  readonly maxRetries?: number;
  /** The first backoff, in ms, doubled at each retry without progress (at most 8 s). Default 500. */
  readonly backoffMs?: number;
}

/** `bytes 100-199/1000` → its start and the size. */
function contentRange(value: string | null): { start: number; size: number } | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+)$/.exec(value ?? '');
  return match?.[1] === undefined || match[2] === undefined ? undefined : { start: Number(match[1]), size: Number(match[2]) };
}

/**
 * Downloads `{cell}{path}` to `file`. Resolves to `undefined`, leaving nothing behind, when the file
 * is not there (404 on the first request); any other refusal rejects with the client's error.
 */
export async function download(client: CellClient, path: string, file: string, options: DownloadOptions): Promise<Downloaded | undefined> {
  const part = `${file}.part`;
  const maxRetries = options.maxRetries ?? 5;
  const handle: FileHandle = await open(part, 'w');
  let isOpen = true;
  let hash: Hash = createHash('sha256');
  let received = 0;
  let total: number | undefined;
  let etag: string | undefined;
  let failures = 0;
  let resumes = 0;
  try {
    for (;;) {
      const resuming = received > 0 && etag !== undefined;
      const headers: Record<string, string> = resuming ? { range: `bytes=${received}-`, 'if-range': etag ?? '' } : {};
      const before = received;
      try {
        const response = await client.request('GET', path, { headers, signal: options.signal });
        if (response.status === 404 && received === 0 && total === undefined) {
          await response.body?.cancel();
          isOpen = false;
          await handle.close();
          await rm(part, { force: true });
          return undefined;
        }
        const range = response.status === 206 ? contentRange(response.headers.get('content-range')) : undefined;
        if (response.status === 206 && range?.start === received && resuming) {
          resumes += 1;
        } else if (response.status === 200) {
          // the whole file: the first request, a server that ignores Range, or a new version
          if (received > 0) await handle.truncate(0);
          received = 0;
          hash = createHash('sha256');
          const length = response.headers.get('content-length');
          total = length === null ? undefined : Number(length);
          etag = response.headers.get('etag') ?? undefined;
          if (etag?.startsWith('W/') === true) etag = undefined; // a weak tag cannot resume
          options.onStart(total ?? 0);
        } else {
          throw await client.failure(response, `GET ${client.resource(path)}`);
        }
        try {
          for await (const chunk of response.body ?? []) {
            await handle.write(chunk, 0, chunk.length, received);
            hash.update(chunk);
            received += chunk.length;
            options.onBytes(received);
          }
        } catch (error) {
          if (options.signal.aborted) throw options.signal.reason;
          throw Object.assign(new Error(`the connection dropped after ${received} bytes`, { cause: error }), { retryable: true });
        }
        if (total === undefined || received === total) break;
        throw Object.assign(new Error(`the connection ended after ${received} of ${total} bytes`), { retryable: true });
      } catch (error) {
        if (options.signal.aborted) throw options.signal.reason;
        if ((error as { retryable?: boolean }).retryable !== true) throw error;
        failures = received > before ? 1 : failures + 1;
        if (failures > maxRetries) throw new Error(`download of ${client.resource(path)} failed ${failures} times in a row: ${describe(error)}`);
        const wait = Math.min(8000, (options.backoffMs ?? 500) * 2 ** (failures - 1));
        options.onRetry(`download interrupted at ${received} bytes (${describe(error)}); resuming in ${(wait / 1000).toFixed(1)}s`);
        await sleep(wait, undefined, { signal: options.signal });
      }
    }
    isOpen = false;
    await handle.close();
    await rename(part, file);
    return { size: received, sha256: hash.digest('hex'), resumes };
  } finally {
    if (isOpen) {
      await handle.close();
      await rm(part, { force: true });
    }
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
