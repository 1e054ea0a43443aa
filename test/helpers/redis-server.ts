/**
 * A real `redis-server` on a free loopback port with a temp directory, for tests: started, waited
 * for until it answers `PING`, and stopped, paused or restarted on the same port (to test a Redis
 * going away and coming back). Plus node-redis clients set up the way the tests want them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { createClient } from 'redis';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

/** How long a server may take to answer `PING` after being started. */
const START_TIMEOUT_MS = 10_000;

/** Creates a node-redis client as the tests want it: quick reconnects, a short connect timeout. */
function createTestClient(url: string) {
  return createClient({
    url,
    socket: { reconnectStrategy: (retries: number) => Math.min(retries * 50, 500), connectTimeout: 1000 },
  });
}

/** A node-redis client as the tests create it. */
export type TestRedisClient = ReturnType<typeof createTestClient>;

/** A running (or stopped) `redis-server` of a test. */
export interface RedisServer {
  /** Its loopback port, the same across restarts. */
  readonly port: number;
  /** `redis://127.0.0.1:{port}`. */
  readonly url: string;
  /** Its working directory (where `SHUTDOWN SAVE` writes `dump.rdb`). */
  readonly dir: string;
  /** Whether the process runs. */
  readonly running: boolean;
  /**
   * Stops the server. With `save`, it first writes its data to `dump.rdb` (`SHUTDOWN SAVE`), so a
   * {@link start} brings it back with the same data, as a persistent Redis would after a restart.
   */
  stop(options?: { save?: boolean }): Promise<void>;
  /** Starts the server again on the same port and directory; resolves once it answers `PING`. */
  start(): Promise<void>;
  /** Freezes the process (`SIGSTOP`): connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws a paused process (`SIGCONT`). */
  resume(): void;
}

/** Every server process this test process started and has not stopped. */
const children = new Set<ChildProcess>();
// If the test process exits without tearing down (a timeout, a crash), its servers go with it.
process.once('exit', () => {
  for (const child of children) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
});

/** Whether `PING` on the port answers `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** Sends one command in the inline protocol and resolves when the connection closes. */
function sendAndWaitClose(port: number, command: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('connect', () => socket.write(`${command}\r\n`));
  });
}

class RedisServerProcess implements RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  constructor(port: number, dir: string) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.dir = dir;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error('redis-server already running');
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#output = '';
    const collect = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exited = false;
    let spawnError: Error | undefined;
    this.#exited = new Promise((resolve) => {
      child.on('error', (error) => {
        spawnError = error;
        exited = true;
        resolve();
      });
      child.on('exit', () => {
        exited = true;
        resolve();
      });
    });
    this.#child = child;
    children.add(child);
    void this.#exited.then(() => children.delete(child));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await ping(this.port))) {
      if (exited || Date.now() > deadline) {
        this.#child = undefined;
        child.kill('SIGKILL');
        const why = spawnError === undefined ? this.#output.trim() : `${spawnError.message} (is redis-server installed?)`;
        throw new Error(`redis-server on port ${this.port} did not start: ${why}`);
      }
      await sleep(20);
    }
  }

  async stop(options: { save?: boolean } = {}): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.resume();
    if (options.save === true) await sendAndWaitClose(this.port, 'SHUTDOWN SAVE');
    else child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(killer);
    this.#child = undefined;
  }

  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }
}

/**
 * Starts a server in `dir` on a free port (retrying with another port if one was taken meanwhile).
 * The caller stops it.
 */
export async function startRedisServer(dir: string): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const server = new RedisServerProcess(await freePort(), dir);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** A server for one test, stopped (and its directory removed) in the test's teardown. */
export async function redisServer(t: ExecutionContext): Promise<RedisServer> {
  const server = await startRedisServer(await tempDir(t, 'kcs-redis-'));
  t.teardown(() => server.stop());
  return server;
}

/** A server for a whole test file: call `close` in `test.after.always`. */
export async function fileRedisServer(): Promise<RedisServer & { close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kcs-redis-'));
  try {
    const server = await startRedisServer(dir);
    return Object.assign(server, {
      async close(): Promise<void> {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A connected client that reconnects quickly and collects its errors instead of crashing. */
export interface ConnectedClient {
  /** The client. */
  readonly client: TestRedisClient;
  /** The errors the client emitted (connection losses while the server is down). */
  readonly errors: Error[];
  /** Closes it (gracefully when connected, at once otherwise). */
  close(): Promise<void>;
}

/** Connects a client to `url` as the tests want it. The caller closes it. */
export async function connectClient(url: string): Promise<ConnectedClient> {
  const client = createTestClient(url);
  const errors: Error[] = [];
  client.on('error', (error: Error) => errors.push(error));
  await client.connect();
  return {
    client,
    errors,
    async close() {
      if (!client.isOpen) return;
      if (client.isReady) await client.close();
      else client.destroy();
    },
  };
}

/** A connected client closed in the test's teardown. */
export async function redisClient(t: ExecutionContext, url: string): Promise<TestRedisClient> {
  const connected = await connectClient(url);
  t.teardown(() => connected.close());
  return connected.client;
}
