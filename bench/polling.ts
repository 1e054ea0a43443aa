/**
 * Status polling and the host's own route while an export runs, for each job store (memory, Fs,
 * Redis): `GET __export` under load during a running export, and the host's own route (a bare Koa
 * route of the same app answering the same JSON) under load during an export, each as a ratio to the
 * bare route under the same load with no job running, with p99 latency; and the status route with no
 * job running. Each store runs in rounds (four by default): the idle loads, the loads beside a
 * busy loop of the lowest priority (the floor: `besideBusyLoop`), the loads during one export, then
 * the idle loads again in the reverse order, back to back. The two loads during an export take turns
 * going first (the status route in odd rounds, the host's route in even ones): an export's first
 * seconds (its threads starting, the count of its tree, its records) cost the host more than the
 * seconds after, so the route measured first always fared worse. Each ratio is taken
 * within its round against the mean of the idle loads before and after (the same route's idle rate
 * swings by half between minutes on a shared machine) and the median of the rounds reported. The
 * host also reports where its time went during each load (`thread-times.ts`): garbage collection,
 * its event loop's thread waiting for a core, and its other threads' CPU.
 * The host runs in its own process. The load comes from wrk when it is installed (a C load
 * generator, which needs a small part of a core for this load), else from autocannon in this
 * process (which needs about a whole core: on a 2-core machine an export's threads then slow the load
 * generator as well as the host, and the ratios are lower). The table says which one ran.
 *
 *   npx tsx bench/polling.ts [--rounds N] [cellMb] [store ...]   (default 4 rounds, 1000 MB, and
 *                                                   every store: memory fs redis;
 *                                                   the Redis part needs redis-server)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/ports.js';
import { hasTool } from '../test/helpers/tools.js';
import { AUTH, cancelExport, exportRunning, json, startExport, startHost } from './host.js';
import { makeCell } from './make-cell.js';
import { median, takeRounds } from './rounds.js';

const DURATION_S = 3;
const CONNECTIONS = 10;

interface Load {
  readonly rps: number;
  readonly p99: number;
}

/** A load on the host, with what its event loop did meanwhile. */
interface HostLoad extends Load {
  /** The share of the load's time the host's event loop was busy (0–1). */
  readonly busy: number;
  /** The event loop's longest block during the load, in ms. */
  readonly maxMs: number;
  /** The share of the load's time the host's main thread was runnable but waited for a core. */
  readonly waited?: number;
  /** The CPU of the host's other threads (deflate, walkers, GC helpers, libuv), in cores. */
  readonly others?: number;
  /** The share of the load's time garbage collection paused the host's main thread. */
  readonly gc: number;
  /** The longest of those pauses, in ms. */
  readonly gcMaxMs: number;
}

const run = promisify(execFile);

/** A wrk latency (`812.00us`, `4.39ms`, `1.02s`) in ms. */
function wrkMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value);
  if (match === null) throw new Error(`wrk latency ${value}?`);
  const scale = { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
  return Number(match[1]) * scale;
}

async function loadWrk(url: string, headers: Record<string, string>): Promise<Load> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${DURATION_S}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  const { stdout } = await run('wrk', args);
  const failed = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(stdout);
  if (failed !== null) throw new Error(`${url}: ${failed[0]}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(stdout)?.[1];
  if (rps === undefined || p99 === undefined) throw new Error(`wrk said:\n${stdout}`);
  return { rps: Math.round(Number(rps)), p99: Math.round(wrkMs(p99)) };
}

async function loadAutocannon(url: string, headers: Record<string, string>): Promise<Load> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: Math.round(result.requests.average), p99: result.latency.p99 };
}

const useWrk = hasTool('wrk');

async function load(url: string, headers: Record<string, string> = {}): Promise<Load> {
  return useWrk ? loadWrk(url, headers) : loadAutocannon(url, headers);
}

/**
 * Runs `measure` beside a busy loop in a process of its own at the lowest priority (nice 19): what
 * any CPU work on the machine's other core costs the host, however low its priority. On a 2-core
 * machine the host and the load generator hand the cores back and forth on every request, and a core
 * busy with even the lowest-priority work slows those handoffs. An export must use some CPU to
 * progress, so this is the floor its loads are compared with.
 */
async function besideBusyLoop<T>(measure: () => Promise<T>): Promise<T> {
  const code = "require('node:os').setPriority(19); process.stdout.write('spinning\\n'); for (;;) {}";
  const spinner = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(spinner);
  try {
    await once(createInterface({ input: spinner.stdout! }), 'line');
    return await measure();
  } finally {
    spinner.kill('SIGKILL');
    await once(spinner, 'exit');
  }
}

/** Runs `measure` while an export runs; resolves to its result and whether the export outlasted it. */
async function duringExport<T>(base: string, name: string, measure: () => Promise<T>): Promise<{ value: T; outlasted: boolean }> {
  await startExport(base, name);
  const value = await measure();
  const outlasted = await exportRunning(base);
  await cancelExport(base);
  return { value, outlasted };
}

/**
 * One round: idle loads, loads beside the busy loop (the floor), loads during one export, then the
 * idle loads again in the reverse order, so that the idle figures (the mean of before and after) are
 * centred in time on the loads they are compared with: on a shared machine the same load's rate
 * drifts by a third within a minute.
 */
interface Round {
  /** The bare route with no job running, before the export and after it. */
  readonly idle: readonly [HostLoad, HostLoad];
  /** `GET __export` with no job running (what the status route costs by itself), before and after. */
  readonly statusIdle: readonly [HostLoad, HostLoad];
  /** `GET __export` beside a lowest-priority busy loop (the floor, see `besideBusyLoop`). */
  readonly statusFloor: HostLoad;
  /** The bare route beside a lowest-priority busy loop. */
  readonly hostFloor: HostLoad;
  /** `GET __export` during an export. */
  readonly status: HostLoad;
  /** The bare route (the host's own) during an export. */
  readonly host: HostLoad;
  readonly outlasted: boolean;
}

/** The mean rate of a load measured before and after the export. */
function meanRps([before, after]: readonly [Load, Load]): number {
  return (before.rps + after.rps) / 2;
}

interface StoreRun {
  readonly rounds: readonly Round[];
}

async function measureStore(env: Record<string, string>, label: string): Promise<StoreRun> {
  const host = await startHost(env);
  children.push(host.child);
  try {
    // A load, with what the host's event loop and threads did over it (the host's `/__loop`).
    const measured = async (path: string, headers?: Record<string, string>): Promise<HostLoad> => {
      await json(`${host.base}/__loop`);
      const start = performance.now();
      const result = await load(`${host.base}${path}`, headers);
      const loop = await json(`${host.base}/__loop`);
      const ms = performance.now() - start;
      const { mainWaitMs, othersMs } = loop;
      return {
        ...result,
        busy: Number(loop['busy']),
        maxMs: Number(loop['maxMs']),
        ...(typeof mainWaitMs === 'number' ? { waited: mainWaitMs / ms, others: Number(othersMs) / ms } : {}),
        gc: Number(loop['gcMs']) / ms,
        gcMaxMs: Number(loop['gcMaxMs']),
      };
    };
    await load(`${host.base}/bare`); // warm-up
    const done: Round[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      const idle = await measured('/bare');
      const statusIdle = await measured('/source/__export', AUTH);
      const floor = await besideBusyLoop(async () => ({
        statusFloor: await measured('/source/__export', AUTH),
        hostFloor: await measured('/bare'),
      }));
      const during = await duringExport(host.base, `${label}-${round}`, async () => {
        if (round % 2 === 1) {
          const status = await measured('/source/__export', AUTH);
          return { status, host: await measured('/bare') };
        }
        const host = await measured('/bare');
        return { status: await measured('/source/__export', AUTH), host };
      });
      const statusAfter = await measured('/source/__export', AUTH);
      const idleAfter = await measured('/bare');
      done.push({ idle: [idle, idleAfter], statusIdle: [statusIdle, statusAfter], ...floor, ...during.value, outlasted: during.outlasted });
    }
    return { rounds: done };
  } finally {
    host.child.kill('SIGTERM');
  }
}

const args = process.argv.slice(2);
/** Rounds per store (see {@link Round}). */
const rounds = takeRounds(args, 4);
const mb = Number(args[0] ?? 1000);
const stores = args.length > 1 ? args.slice(1) : ['memory', 'fs', 'redis'];
const work = await mkdtemp(join(tmpdir(), 'kcs-poll-'));
const children: ChildProcess[] = [];
try {
  await mkdir(join(work, 'cells'));
  await makeCell(join(work, 'cells'), 'source', mb);
  const generator = useWrk ? 'wrk (1 thread)' : "autocannon in the benchmark's process (wrk is not installed)";
  console.log(`node ${process.version}; load from ${generator}, ${CONNECTIONS} connections for ${DURATION_S} s per load; a ${mb} MB cell exporting meanwhile\n`);
  const runs: [string, StoreRun][] = [];
  if (stores.includes('memory')) runs.push(['MemoryJobStore', await measureStore({ DATA_DIR: work }, 'memory')]);
  if (stores.includes('fs')) runs.push(['FsJobStore', await measureStore({ DATA_DIR: work, JOB_STORE: 'fs' }, 'fs')]);
  if (stores.includes('redis')) runs.push(['RedisJobStore', await measureRedis()]);
  printTable(runs);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
}

/** {@link measureStore} with a redis-server of its own. */
async function measureRedis(): Promise<StoreRun> {
  const redisDir = join(work, 'redis');
  await mkdir(redisDir);
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  children.push(redis);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return measureStore({ DATA_DIR: work, REDIS_URL: `redis://127.0.0.1:${port}` }, 'redis');
}

function printTable(runs: readonly [string, StoreRun][]): void {
  const pct = (share: number): string => `${Math.round(share * 100)}%`;
  const threads = (l: HostLoad): string => (l.waited === undefined ? '' : `, waited ${pct(l.waited)}, others ${(l.others ?? 0).toFixed(2)} cores`);
  const cell = (l: HostLoad): string => `${l.rps} req/s, p99 ${l.p99} ms, loop ${pct(l.busy)}, GC ${pct(l.gc)}${threads(l)}`;
  console.log('Each round measures the bare route and `GET __export` with no job running, then both beside a busy loop in a');
  console.log('process at the lowest priority (nice 19: the floor, what any CPU work on the other core costs the host), then');
  console.log('both during one export (the status route first in odd rounds, the bare route first in even ones), then both');
  console.log('idle again in the reverse order; a ratio is to the mean of the bare route');
  console.log('before and after, in the same round (a reference centred in time on the loads it is compared with).');
  console.log('Medians of the rounds first, then each round.');
  console.log("\"loop\" is the share of a load's time the host's event loop was busy: below about 100% the host had time to");
  console.log('spare and the load generator, sharing the cores with the host and its export, set the rate.\n');
  console.log('| job store | `GET __export` idle / bare idle | `GET __export` during an export / bare idle (floor: beside the nice-19 loop) | host route during an export / bare idle (floor) | worst p99 during an export | loop\'s longest block | loop busy: bare idle / during the export\'s loads |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, { rounds }] of runs) {
    const ratio = (rps: (r: Round) => number): string => median(rounds.map((r) => rps(r) / meanRps(r.idle))).toFixed(2);
    const p99 = Math.max(...rounds.flatMap((r) => [r.status.p99, r.host.p99]));
    const loop = Math.max(...rounds.flatMap((r) => [r.status.maxMs, r.host.maxMs]));
    const busy = `${pct(median(rounds.flatMap((r) => r.idle.map((l) => l.busy))))} / ${pct(median(rounds.flatMap((r) => [r.status.busy, r.host.busy])))}`;
    const status = `**${ratio((r) => r.status.rps)}** (${ratio((r) => r.statusFloor.rps)})`;
    const host = `**${ratio((r) => r.host.rps)}** (${ratio((r) => r.hostFloor.rps)})`;
    console.log(`| ${label} | ${ratio((r) => meanRps(r.statusIdle))} | ${status} | ${host} | ${p99} ms | ${loop.toFixed(0)} ms | ${busy} |`);
  }
  console.log("\nWhere the host's time went, medians over the loads: the share of the time garbage collection paused its");
  console.log('main thread, and (Linux) the share of the time its main thread was ready to run but waited for a core,');
  console.log('and the CPU of its other threads (deflate, walkers, V8\'s GC helpers, libuv\'s pool), in cores.\n');
  console.log('| job store | GC: bare idle / during the export | longest GC pause during the export | main thread waited: bare idle / during the export | other threads: bare idle / during the export |');
  console.log('|---|---|---|---|---|');
  for (const [label, { rounds: all }] of runs) {
    const during = all.flatMap((r) => [r.status, r.host]);
    const idle = all.flatMap((r) => r.idle);
    const both = (pick: (l: HostLoad) => number | undefined, show: (v: number) => string): string => {
      const a = idle.map(pick).filter((v) => v !== undefined);
      const b = during.map(pick).filter((v) => v !== undefined);
      return a.length === 0 || b.length === 0 ? 'n/a' : `${show(median(a))} / ${show(median(b))}`;
    };
    const gcMax = Math.max(...during.map((l) => l.gcMaxMs));
    console.log(`| ${label} | ${both((l) => l.gc, pct)} | ${gcMax.toFixed(0)} ms | ${both((l) => l.waited, pct)} | ${both((l) => l.others, (v) => `${v.toFixed(2)} cores`)} |`);
  }
  console.log('\n| job store | round | host route, idle | `GET __export`, idle | `GET __export` beside the nice-19 loop | host route beside it | `GET __export` during an export | host route during an export |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [label, { rounds }] of runs) {
    const pair = ([before, after]: readonly [HostLoad, HostLoad]): string => `${cell(before)}; after: ${cell(after)}`;
    rounds.forEach((r, i) => console.log(`| ${label} | ${i + 1} | ${pair(r.idle)} | ${pair(r.statusIdle)} | ${cell(r.statusFloor)} | ${cell(r.hostFloor)} | ${cell(r.status)} | ${cell(r.host)} |`));
  }
  const short = runs.filter(([, run]) => run.rounds.some((r) => !r.outlasted)).map(([label]) => label);
  console.log(short.length === 0 ? '\nEvery export outlasted its loads.' : `\nAn export ended before its loads did for ${short.join(', ')}: use a larger cell.`);
}
