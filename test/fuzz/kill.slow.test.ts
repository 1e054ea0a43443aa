/**
 * SIGKILL at random moments: a host process (test/helpers/child-server.ts, FsJobStore) is killed at
 * seeded random moments across an import, an export and a PUT upload, then restarted on the same data
 * directory. Whatever the moment, with no manual step:
 *
 * - import: the target cell is exactly its old content or exactly the snapshot's (digests), the job is
 *   reported finished (`ready`) or interrupted (`import failed`, PR500-SN-0001), no staging, swap or
 *   lock file remains, and a new import is accepted and completes;
 * - export: the source cell is unchanged, the snapshot area holds the complete, verifiable zip or the
 *   interruption's `.error` file, never a partial zip, and a new export is accepted and completes;
 * - PUT: the name holds its old version, nothing (when there was none), or the complete new body,
 *   never a part of it.
 *
 * Locks and the job store's temp files must be gone once the restarted host has run a job; the
 * snapshot store's upload temp files of a killed upload are the store's sweep's to remove (the
 * documented recovery: `FsSnapshotStore.sweep`, which `koa-cell-snapshot serve` runs at start), so
 * the test runs the sweep and then requires no temp file at all.
 *
 * The moments come from a seeded generator (`KCS_FUZZ_SEED` replays a run; each run logs its seed):
 * most are spread over the whole job as measured by an uninterrupted calibration run, a third are
 * packed around its end, where the swap and the commit happen.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { FsSnapshotStore } from '../../lib/adapters/fs/snapshot-store.js';
import { fileSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { cellIdOf, digestOf } from '../helpers/cell-digest.js';
import { type ChildServer, startChild } from '../helpers/child.js';
import { makeDataDir } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { writeToFile } from '../snapshot/zip-tools.js';
import { freshSeed, fuzzSeed, seededRandom } from './run-fuzz.js';

const headers = { authorization: `Bearer ${ROOT_TOKEN}` };
const KILLS = 20;
const PUT_KILLS = 12;
/** Slow enough for every kill moment to land in a job of a couple of seconds; the restarted host runs at full speed. */
const SLOW = { IMPORT_DELAY_MS: '60', DELAY_MS: '40', LEASE_TTL_MS: '800', LEASE_RENEW_MS: '200' };
const FAST = { LEASE_TTL_MS: '800', LEASE_RENEW_MS: '200' };
const INTERRUPTED = { code: 'PR500-SN-0001' };

type Status = { status: string; message?: { code: string } };

const status = async (server: ChildServer, cell: string, resource: '__import' | '__export'): Promise<Status> =>
  (await server.request('GET', cell, resource, { headers })).json<Status>();

const settled = (server: ChildServer, cell: string, resource: '__import' | '__export'): Promise<Status> =>
  waitFor(async () => {
    const now = await status(server, cell, resource);
    return now.status.endsWith('in progress') ? undefined : now;
  });

/** Every name under `dir` beginning with a dot (locks, temp, staging, swap), `.pmeta` files aside. */
async function dotFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.name.startsWith('.') && entry.name !== '.pmeta')
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** The snapshot store's sweep at age 0 (the host is stopped), then every dot file left in the data dir. */
async function leftAfterSweep(dataDir: string): Promise<string[]> {
  await new FsSnapshotStore({ root: join(dataDir, 'snapshots') }).sweep(0);
  return dotFiles(dataDir);
}

/** Kill moments in ms, for a job of `duration` ms. */
function moments(random: () => number, count: number, duration: number): number[] {
  return Array.from({ length: count }, (_, i) =>
    Math.round(i % 3 === 2 ? duration * (0.85 + 0.2 * random()) : duration * 1.1 * random()),
  );
}

function seedFor(t: ExecutionContext): () => number {
  const { seed } = fuzzSeed(freshSeed());
  t.log(`kill seed ${seed} (replay: KCS_FUZZ_SEED=${seed} npx ava --config ava.slow.config.js test/fuzz/kill.slow.test.ts)`);
  return seededRandom(seed);
}

async function putFile(server: ChildServer, cell: string, name: string, file: string): Promise<void> {
  const res = await server.request('PUT', cell, `__snapshot/${name}`, {
    headers: { ...headers, 'content-type': 'application/zip', 'content-length': String((await stat(file)).size) },
    body: createReadStream(file),
  });
  if (res.status !== 201 && res.status !== 204) throw new Error(`PUT ${name}: ${res.status} ${res.text}`);
}

test(`SIGKILL at ${KILLS} random moments of an import: the cell is old or new, never a mix; the job interrupted or finished`, async (t) => {
  const random = seedFor(t);
  const dir = await tempDir(t);
  // The snapshot: an export of the larger fixture cell, imported into the small one.
  const snapshot = join(dir, 'alice.zip');
  const source = new FsCellDataSource({ root: join(await makeDataDir(t), 'cells') });
  const view = await source.openExport((await source.getCell('alice'))!, new AbortController().signal);
  await writeToFile(view, snapshot);
  await view.close();

  // Calibration: one uninterrupted import, for its duration and the digest of its result.
  const calibration = await makeDataDir(t);
  const old = await digestOf(calibration, 'bob');
  const host = await startChild(t, calibration, SLOW);
  await putFile(host, 'bob', 'big.zip', snapshot);
  const started = Date.now();
  t.is((await host.request('POST', 'bob', '__import', { headers, body: '{"Name":"big"}' })).status, 202);
  t.deepEqual(await settled(host, 'bob', '__import'), { status: 'ready' });
  const duration = Date.now() - started;
  const imported = await digestOf(calibration, 'bob');
  t.notDeepEqual(imported, old);
  await host.kill();
  t.log(`an uninterrupted import takes ${duration} ms`);

  const seen = new Map<string, number>();
  for (const [i, moment] of moments(random, KILLS, duration).entries()) {
    const dataDir = await makeDataDir(t);
    const first = await startChild(t, dataDir, SLOW);
    await putFile(first, 'bob', 'big.zip', snapshot);
    t.is((await first.request('POST', 'bob', '__import', { headers, body: '{"Name":"big"}' })).status, 202);
    await sleep(moment);
    await first.kill();

    const second = await startChild(t, dataDir, FAST);
    const after = await settled(second, 'bob', '__import');
    const digest = await digestOf(dataDir, 'bob');
    const cell = JSON.stringify(digest) === JSON.stringify(old) ? 'old' : JSON.stringify(digest) === JSON.stringify(imported) ? 'new' : 'mixed';
    const job = after.status === 'ready' ? 'finished' : after.status === 'import failed' && after.message?.code === INTERRUPTED.code ? 'interrupted' : JSON.stringify(after);
    const label = `${cell} cell, ${job}`;
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms: ${label}`);
    t.not(cell, 'mixed', `kill ${i} at ${moment} ms`);
    t.true(job === 'finished' || job === 'interrupted', `kill ${i} at ${moment} ms: ${job}`);
    if (cell === 'old') t.is(job, 'interrupted', `kill ${i} at ${moment} ms: an old cell means the import did not finish`);

    // A new job is accepted and completes; then nothing is left.
    t.is((await second.request('POST', 'bob', '__import', { headers, body: '{"Name":"big"}' })).status, 202);
    t.deepEqual(await settled(second, 'bob', '__import'), { status: 'ready' }, `kill ${i}: the next import`);
    t.deepEqual(await digestOf(dataDir, 'bob'), imported);
    t.deepEqual(await dotFiles(join(dataDir, 'cells')), [], `kill ${i}: no staging or swap left`);
    t.deepEqual(await dotFiles(join(dataDir, 'jobs')), [], `kill ${i}: no job-store lock or temp left`);
    await second.kill();
    t.deepEqual(await leftAfterSweep(dataDir), [], `kill ${i}`);
  }
  t.log(`outcomes: ${[...seen].map(([label, n]) => `${label} ×${n}`).join('; ')}`);
});

test(`SIGKILL at ${KILLS} random moments of an export: the complete zip or the interruption's .error, the cell unchanged`, async (t) => {
  const random = seedFor(t);
  const calibration = await makeDataDir(t);
  const host = await startChild(t, calibration, SLOW);
  const started = Date.now();
  t.is((await host.request('POST', 'alice', '__export', { headers, body: '{"Name":"big"}' })).status, 202);
  t.deepEqual(await settled(host, 'alice', '__export'), { status: 'ready' });
  const duration = Date.now() - started;
  await host.kill();
  t.log(`an uninterrupted export takes ${duration} ms`);
  const before = await digestOf(calibration, 'alice');

  const seen = new Map<string, number>();
  for (const [i, moment] of moments(random, KILLS, duration).entries()) {
    const dataDir = await makeDataDir(t);
    const id = await cellIdOf(dataDir, 'alice');
    const store = new FsSnapshotStore({ root: join(dataDir, 'snapshots') });
    const first = await startChild(t, dataDir, SLOW);
    t.is((await first.request('POST', 'alice', '__export', { headers, body: '{"Name":"big"}' })).status, 202);
    await sleep(moment);
    await first.kill();

    const second = await startChild(t, dataDir, FAST);
    t.deepEqual(await settled(second, 'alice', '__export'), { status: 'ready' });
    const names = (await store.list(id)).map((f) => f.name);
    let label: string;
    if (names.length === 1 && names[0] === 'big.zip') {
      const zip = join(dataDir, 'check.zip');
      const res = await second.request('GET', 'alice', '__snapshot/big.zip', { headers });
      t.is(res.status, 200);
      await import('node:fs/promises').then((fs) => fs.writeFile(zip, res.body));
      const report = await verifySnapshot(await fileSource(zip));
      t.true(report.ok, `kill ${i} at ${moment} ms: the zip verifies (${report.error?.code})`);
      await import('node:fs/promises').then((fs) => fs.rm(zip));
      label = 'complete zip';
    } else {
      t.deepEqual(names, ['big.error'], `kill ${i} at ${moment} ms`);
      const error = JSON.parse(await readFile(join(dataDir, 'snapshots', id, (await readdir(join(dataDir, 'snapshots', id))).find((n) => n.endsWith('.data') && n.startsWith('big.error'))!), 'utf8')) as { code: string };
      t.is(error.code, INTERRUPTED.code, `kill ${i} at ${moment} ms`);
      label = 'interrupted';
    }
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms: ${label}`);
    t.deepEqual(await digestOf(dataDir, 'alice'), before, `kill ${i}: the cell is unchanged`);

    t.is((await second.request('POST', 'alice', '__export', { headers, body: '{"Name":"again"}' })).status, 202);
    t.deepEqual(await settled(second, 'alice', '__export'), { status: 'ready' }, `kill ${i}: the next export`);
    t.true((await store.list(id)).some((f) => f.name === 'again.zip'), `kill ${i}: the next export's zip`);
    t.deepEqual(await dotFiles(join(dataDir, 'jobs')), [], `kill ${i}: no job-store lock or temp left`);
    await second.kill();
    t.deepEqual(await leftAfterSweep(dataDir), [], `kill ${i}`);
  }
  t.log(`outcomes: ${[...seen].map(([label, n]) => `${label} ×${n}`).join('; ')}`);
});

test(`SIGKILL at ${PUT_KILLS} random moments of a PUT upload: the old version or nothing, never a part`, async (t) => {
  const random = seedFor(t);
  const SIZE = 6 * 1024 * 1024;
  const CHUNK = 64 * 1024;
  const body = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  const oldBody = Buffer.from('the old version\n'.repeat(64));
  /** Sends the new body in 64 KiB chunks, 15 ms apart (about 1.5 s); resolves with the status, or the error. */
  const slowPut = (server: ChildServer): Promise<number | Error> => {
    let offset = 0;
    const stream = new Readable({
      read() {
        if (offset >= SIZE) {
          this.push(null);
          return;
        }
        const chunk = body.subarray(offset, offset + CHUNK);
        offset += CHUNK;
        setTimeout(() => this.push(chunk), 15);
      },
    });
    return server
      .request('PUT', 'bob', '__snapshot/up.zip', { headers: { ...headers, 'content-type': 'application/zip', 'content-length': String(SIZE) }, body: stream })
      .then((res) => res.status, (error: Error) => error);
  };
  const duration = (SIZE / CHUNK) * 15;

  const seen = new Map<string, number>();
  for (const [i, moment] of moments(random, PUT_KILLS, duration).entries()) {
    const dataDir = await makeDataDir(t);
    const hadOld = i % 2 === 0;
    const first = await startChild(t, dataDir, FAST);
    if (hadOld) {
      t.is((await first.request('PUT', 'bob', '__snapshot/up.zip', { headers, body: oldBody })).status, 201);
    }
    const put = slowPut(first);
    await sleep(moment);
    await first.kill();
    const answered = await put;

    const second = await startChild(t, dataDir, FAST);
    const res = await second.request('GET', 'bob', '__snapshot/up.zip', { headers });
    let label: string;
    if (res.status === 404) label = 'nothing';
    else if (res.status === 200 && res.body.equals(oldBody)) label = 'old';
    else if (res.status === 200 && res.body.equals(body)) label = 'new';
    else label = `status ${res.status}, ${res.body.length} bytes`;
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms (${hadOld ? 'over an old version' : 'a new name'}; the client saw ${String(answered)}): ${label}`);
    t.true(label === (hadOld ? 'old' : 'nothing') || label === 'new', `kill ${i} at ${moment} ms: ${label}`);
    if (answered === 201 || answered === 204) t.is(label, 'new', `kill ${i}: an acknowledged upload survives`);

    const again = await second.request('PUT', 'bob', '__snapshot/up.zip', { headers, body: oldBody });
    t.true(again.status === 201 || again.status === 204, `kill ${i}: the next PUT (${again.status})`);
    await second.kill();
    t.deepEqual(await leftAfterSweep(dataDir), [], `kill ${i}`);
  }
  t.log(`outcomes: ${[...seen].map(([label, n]) => `${label} ×${n}`).join('; ')}`);
});
