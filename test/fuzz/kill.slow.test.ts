/**
 * SIGKILL at random moments: a host process (test/helpers/child-server.ts, FsJobStore) is killed at
 * seeded random moments across an import, an export and a PUT upload, then restarted on the same data
 * directory; the restarted host is the one the next moment kills. Whatever the moment, with no manual
 * step:
 *
 * - import: the target cell is exactly its old content or exactly the snapshot's (digests; the two
 *   snapshots of the target's area replace each other's content), the job is reported finished
 *   (`ready`) or interrupted (`import failed`, PR500-SN-0001), no staging, swap, lock or job-store temp
 *   file remains, and the restarted host accepts a new import (the next moment's; the last one is
 *   left to complete);
 * - export: the source cell is unchanged, the snapshot area holds the complete, verifiable zip or the
 *   interruption's `.error` file, never a partial zip, and a new export is accepted;
 * - PUT: the name holds its old version, nothing (when there was none), or the complete new body,
 *   never a part of it, and a new PUT of the name succeeds.
 *
 * The snapshot store's upload temp files of a killed upload or export are the store's sweep's to
 * remove (the documented recovery: `FsSnapshotStore.sweep`, which `koa-cell-snapshot serve` runs at
 * start), so each test ends by running the sweep and then requires no dot file at all in the data dir.
 *
 * The moments come from a seeded generator (`KCS_FUZZ_SEED` replays a run; each run logs its seed):
 * most are spread over the whole job as measured by an uninterrupted calibration run, a third are
 * packed around its end, where the swap and the commit happen.
 */
import { createReadStream } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
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
/** Slow enough for a job to take a couple of seconds, so that every kill moment lands in one. */
const SLOW = { IMPORT_DELAY_MS: '60', DELAY_MS: '25', LEASE_TTL_MS: '800', LEASE_RENEW_MS: '200' };
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

/** The snapshot store's sweep at age 0 (the hosts are stopped), then every dot file left in the data dir. */
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
  const dataDir = await makeDataDir(t);
  // Two snapshots in the target's area: the larger fixture cell's content and the target's own, so
  // that each import replaces one content by the other.
  const dir = await tempDir(t);
  const exported = async (cell: string): Promise<string> => {
    const file = join(dir, `${cell}.zip`);
    const source = new FsCellDataSource({ root: join(dataDir, 'cells') });
    const view = await source.openExport((await source.getCell(cell))!, new AbortController().signal);
    await writeToFile(view, file);
    await view.close();
    return file;
  };
  const [aliceZip, bobZip] = [await exported('alice'), await exported('bob')];
  let host = await startChild(t, dataDir, SLOW);
  await putFile(host, 'bob', 'a.zip', aliceZip);
  await putFile(host, 'bob', 'b.zip', bobZip);

  // Calibration: one uninterrupted import each way, for the duration and the digest of each content.
  const importFully = async (name: string): Promise<number> => {
    const started = Date.now();
    t.is((await host.request('POST', 'bob', '__import', { headers, body: JSON.stringify({ Name: name }) })).status, 202);
    t.deepEqual(await settled(host, 'bob', '__import'), { status: 'ready' });
    return Date.now() - started;
  };
  const duration = await importFully('a');
  const contents = { a: await digestOf(dataDir, 'bob'), b: undefined as unknown };
  await importFully('b');
  contents.b = await digestOf(dataDir, 'bob');
  t.notDeepEqual(contents.a, contents.b);
  t.log(`an uninterrupted import takes ${duration} ms`);

  const seen = new Map<string, number>();
  let current: 'a' | 'b' = 'b';
  for (const [i, moment] of moments(random, KILLS, duration).entries()) {
    const target: 'a' | 'b' = current === 'a' ? 'b' : 'a';
    t.is((await host.request('POST', 'bob', '__import', { headers, body: JSON.stringify({ Name: target }) })).status, 202, `kill ${i}: a new import is accepted`);
    await sleep(moment);
    await host.kill();

    host = await startChild(t, dataDir, SLOW);
    const after = await settled(host, 'bob', '__import');
    const digest = JSON.stringify(await digestOf(dataDir, 'bob'));
    const cell = digest === JSON.stringify(contents[current]) ? 'old' : digest === JSON.stringify(contents[target]) ? 'new' : 'mixed';
    const job = after.status === 'ready' ? 'finished' : after.status === 'import failed' && after.message?.code === INTERRUPTED.code ? 'interrupted' : JSON.stringify(after);
    const label = `${cell} cell, ${job}`;
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms: ${label}`);
    t.not(cell, 'mixed', `kill ${i} at ${moment} ms`);
    t.true(job === 'finished' || job === 'interrupted', `kill ${i} at ${moment} ms: ${job}`);
    if (cell === 'old') t.is(job, 'interrupted', `kill ${i} at ${moment} ms: an old cell means the import did not finish`);
    t.deepEqual(await dotFiles(join(dataDir, 'cells')), [], `kill ${i}: no staging or swap left`);
    t.deepEqual(await dotFiles(join(dataDir, 'jobs')), [], `kill ${i}: no job-store lock or temp left`);
    if (cell === 'new') current = target;
  }
  // The last restarted host completes an import.
  const last: 'a' | 'b' = current === 'a' ? 'b' : 'a';
  await importFully(last);
  t.deepEqual(await digestOf(dataDir, 'bob'), contents[last]);
  await host.kill();
  t.deepEqual(await leftAfterSweep(dataDir), []);
  t.log(`outcomes: ${[...seen].map(([label, n]) => `${label} ×${n}`).join('; ')}`);
});

test(`SIGKILL at ${KILLS} random moments of an export: the complete zip or the interruption's .error, the cell unchanged`, async (t) => {
  const random = seedFor(t);
  const dataDir = await makeDataDir(t);
  const id = await cellIdOf(dataDir, 'alice');
  const store = new FsSnapshotStore({ root: join(dataDir, 'snapshots') });
  const before = await digestOf(dataDir, 'alice');
  let host = await startChild(t, dataDir, SLOW);
  const exportFully = async (name: string): Promise<number> => {
    const started = Date.now();
    t.is((await host.request('POST', 'alice', '__export', { headers, body: JSON.stringify({ Name: name }) })).status, 202);
    t.deepEqual(await settled(host, 'alice', '__export'), { status: 'ready' });
    t.true((await store.list(id)).some((f) => f.name === `${name}.zip`));
    return Date.now() - started;
  };
  const duration = await exportFully('calibration');
  t.log(`an uninterrupted export takes ${duration} ms`);

  const seen = new Map<string, number>();
  for (const [i, moment] of moments(random, KILLS, duration).entries()) {
    const name = `k${i}`;
    t.is((await host.request('POST', 'alice', '__export', { headers, body: JSON.stringify({ Name: name }) })).status, 202, `kill ${i}: a new export is accepted`);
    await sleep(moment);
    await host.kill();

    host = await startChild(t, dataDir, SLOW);
    t.deepEqual(await settled(host, 'alice', '__export'), { status: 'ready' });
    const names = (await store.list(id)).map((f) => f.name).filter((n) => n.startsWith(`${name}.`));
    let label: string;
    if (names.length === 1 && names[0] === `${name}.zip`) {
      const zip = join(dataDir, 'check.zip');
      const res = await host.request('GET', 'alice', `__snapshot/${name}.zip`, { headers });
      t.is(res.status, 200);
      await writeFile(zip, res.body);
      const report = await verifySnapshot(await fileSource(zip));
      t.true(report.ok, `kill ${i} at ${moment} ms: the zip verifies (${report.error?.code})`);
      await rm(zip);
      label = 'complete zip';
    } else {
      t.deepEqual(names, [`${name}.error`], `kill ${i} at ${moment} ms`);
      const res = await host.request('GET', 'alice', `__snapshot/${name}.error`, { headers });
      t.is(res.json<{ code: string }>().code, INTERRUPTED.code, `kill ${i} at ${moment} ms`);
      label = 'interrupted';
    }
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms: ${label}`);
    t.deepEqual(await digestOf(dataDir, 'alice'), before, `kill ${i}: the cell is unchanged`);
    t.deepEqual(await dotFiles(join(dataDir, 'jobs')), [], `kill ${i}: no job-store lock or temp left`);
  }
  await exportFully('last');
  await host.kill();
  t.deepEqual(await leftAfterSweep(dataDir), []);
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
  const slowPut = (server: ChildServer, name: string): Promise<number | Error> => {
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
      .request('PUT', 'bob', `__snapshot/${name}`, { headers: { ...headers, 'content-type': 'application/zip', 'content-length': String(SIZE) }, body: stream })
      .then((res) => res.status, (error: Error) => error);
  };
  const duration = (SIZE / CHUNK) * 15;

  const dataDir = await makeDataDir(t);
  let host = await startChild(t, dataDir, FAST);
  const seen = new Map<string, number>();
  for (const [i, moment] of moments(random, PUT_KILLS, duration).entries()) {
    const name = `up${i}.zip`;
    const hadOld = i % 2 === 0;
    if (hadOld) t.is((await host.request('PUT', 'bob', `__snapshot/${name}`, { headers, body: oldBody })).status, 201);
    const put = slowPut(host, name);
    await sleep(moment);
    await host.kill();
    const answered = await put;

    host = await startChild(t, dataDir, FAST);
    const res = await host.request('GET', 'bob', `__snapshot/${name}`, { headers });
    let label: string;
    if (res.status === 404) label = 'nothing';
    else if (res.status === 200 && res.body.equals(oldBody)) label = 'old';
    else if (res.status === 200 && res.body.equals(body)) label = 'new';
    else label = `status ${res.status}, ${res.body.length} bytes`;
    seen.set(label, (seen.get(label) ?? 0) + 1);
    t.log(`kill ${i} at ${moment} ms (${hadOld ? 'over an old version' : 'a new name'}; the client saw ${String(answered)}): ${label}`);
    t.true(label === (hadOld ? 'old' : 'nothing') || label === 'new', `kill ${i} at ${moment} ms: ${label}`);
    if (answered === 201 || answered === 204) t.is(label, 'new', `kill ${i}: an acknowledged upload survives`);
    const again = await host.request('PUT', 'bob', `__snapshot/${name}`, { headers, body: oldBody });
    t.true(again.status === 201 || again.status === 204, `kill ${i}: the next PUT (${again.status})`);
  }
  await host.kill();
  t.deepEqual(await leftAfterSweep(dataDir), []);
  t.log(`outcomes: ${[...seen].map(([label, n]) => `${label} ×${n}`).join('; ')}`);
});
