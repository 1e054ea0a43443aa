/**
 * A real S3-protocol server for tests: `s3rver` (npm) in its own process on a free loopback port
 * (`s3rver-main.cjs`), over a temp directory, with one bucket; plus `S3Client`s pointed at it the way a host would
 * configure one for a non-AWS endpoint (`forcePathStyle`, static credentials).
 *
 * s3rver speaks the protocol the store uses for its data (PutObject, multipart upload, ranged GET,
 * HEAD, ListObjectsV2, DeleteObject) but ignores conditional-write headers, and answers
 * AbortMultipartUpload and ListMultipartUploads with an error: see test/adapters/s3/ for how those
 * are proven instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { ExecutionContext } from 'ava';

/** How long s3rver may take to start. */
const START_TIMEOUT_MS = 15_000;
/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

const S3RVER_MAIN = new URL('./s3rver-main.cjs', import.meta.url).pathname;

/** A running s3rver of a test. */
export interface S3Server {
  /** `http://127.0.0.1:{port}`. */
  readonly endpoint: string;
  /** The bucket it was started with. */
  readonly bucket: string;
  /** Its data directory. */
  readonly dir: string;
  /** Its process. */
  readonly process: ChildProcess;
  /** A new client for it, destroyed at the end of the test. */
  client(t: ExecutionContext, config?: S3ClientConfig): S3Client;
}

/** Every s3rver this test process started and has not stopped. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A client for `endpoint` as a host would make one for a non-AWS server. */
export function s3Client(endpoint: string, config: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    ...config,
  });
}

/** A started s3rver, stopped by `stop`. */
export interface StartedS3Server extends S3Server {
  /** Kills it and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver with `bucket` (default `snapshots`); the caller stops it (for a server shared by a
 * test file: `test.before` / `test.after.always`). See {@link s3Server} for one per test.
 */
export async function startS3Server(bucket = 'snapshots'): Promise<StartedS3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'kcs-s3rver-'));
  const child = spawn(process.execPath, [S3RVER_MAIN, dir, bucket], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  children.add(child);
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    children.delete(child);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  let port: number;
  // Cancelled once s3rver is up: a pending timer would keep the test process alive after its tests.
  const started = new AbortController();
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([
      once(lines, 'line'),
      exited.then(() => {
        throw new Error('s3rver exited');
      }),
      sleep(START_TIMEOUT_MS, undefined, { signal: started.signal }).then(() => {
        throw new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`);
      }),
    ])) as [string];
    ({ port } = JSON.parse(line) as { port: number });
  } catch (error) {
    await stop();
    throw error;
  } finally {
    started.abort();
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    dir,
    process: child,
    stop,
    client(test, config) {
      const client = s3Client(endpoint, config);
      test.teardown(() => client.destroy());
      return client;
    },
  };
}

/** Starts s3rver with `bucket` (default `snapshots`) for one test; stopped at its end. */
export async function s3Server(t: ExecutionContext, bucket = 'snapshots'): Promise<S3Server> {
  const server = await startS3Server(bucket);
  t.teardown(() => server.stop());
  return server;
}

/** One request a client sent, as its middleware saw it just before it went out. */
export interface SentRequest {
  /** The command's name, e.g. `CompleteMultipartUploadCommand`. */
  readonly command: string;
  /** The HTTP method. */
  readonly method: string;
  /** The key (path without the bucket), URL-decoded. */
  readonly path: string;
  /** The query parameters. */
  readonly query: Record<string, unknown>;
  /** The headers, lower-cased names. */
  readonly headers: Record<string, string>;
}

/**
 * Records every request `client` sends, from the SDK's own middleware stack (after serialisation,
 * so exactly the method, path, query and headers that go on the wire). `before`, when given, runs
 * before each request is sent and may hold it (to let something else happen first).
 */
export function recordRequests(
  client: S3Client,
  before?: (request: SentRequest) => Promise<void> | void,
): SentRequest[] {
  const sent: SentRequest[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { method?: string; path?: string; query?: Record<string, unknown>; headers?: Record<string, string> };
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
      const record: SentRequest = {
        command: context.commandName ?? '',
        method: request.method ?? '',
        path: decodeURIComponent(request.path ?? ''),
        query: { ...request.query },
        headers,
      };
      sent.push(record);
      await before?.(record);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'kcsRecordRequests' },
  );
  return sent;
}
