/**
 * The import fuzzing harness: builds the seed archives, starts one real host over a sandbox, and runs
 * one mutated archive through the real HTTP routes (PUT into the snapshot area, POST `__import`,
 * poll `GET __import`), checking every invariant an import must keep whatever its bytes:
 *
 * - refused before the 202 with a 4xx and a catalogue code, or accepted and then `import failed` with
 *   a 4xx code, or accepted and `ready` (a mutation that left the archive valid: then the cell must
 *   hold exactly what the reader reads from the archive, and verifySnapshot must accept it, unless an
 *   entry the import ignores and never decompresses is bad: then verifySnapshot refuses it with that
 *   entry's code);
 * - unless `ready`, the target cell byte-identical to before (every file, name and content);
 * - nothing written outside the data root, no staging or swap leftover, no unhandled rejection, no
 *   unexpected error reported to the router's `onError`;
 * - the host still answers a status GET.
 *
 * After a `ready` the cell is restored from a pristine copy, so every case starts from the same cell.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { writeBaseSnapshot } from '../../fixtures/hostile/generate.js';
import { FsCellDataSource } from '../../lib/adapters/fs/cell-data-source.js';
import { fileSource } from '../../lib/snapshot/source.js';
import { verifySnapshot } from '../../lib/snapshot/verify.js';
import { ROOT_TOKEN } from '../helpers/auth.js';
import { digestOf, leftovers } from '../helpers/cell-digest.js';
import { FIXTURE_CELLS, startServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { run, writeToFile } from '../snapshot/zip-tools.js';
import { type DavRead, type SnapshotRead, codeOf, extractZip, hashStream } from '../fixtures/snapshot-read.js';
import { ODATA_TYPES } from '../../lib/snapshot/format.js';
import { openSnapshot } from '../../lib/snapshot/reader.js';
import type { ODataRecord, ODataType } from '../../lib/types.js';
import yauzl from 'yauzl';
import { applyPlan, type Plan, type Seed, type SeedEntry } from './zip-mutations.js';

const auth = { authorization: `Bearer ${ROOT_TOKEN}` };
const JAVA_DIR = new URL('../../fixtures/java/', import.meta.url).pathname;
/** The cell every mutated archive is imported into (the small fixture cell). */
export const TARGET = 'bob';
const CODE = /^PR(\d{3})-[A-Z]{2}-\d{4}$/;

/** Decodes a seed's file entries with yauzl (an independent reader). */
async function entriesOf(file: string): Promise<SeedEntry[]> {
  const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (error, z) => (error ? reject(error) : resolve(z))),
  );
  const entries: SeedEntry[] = [];
  try {
    for await (const entry of zipfile.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const parts: Buffer[] = [];
      for await (const chunk of (await zipfile.openReadStreamPromise(entry)) as AsyncIterable<Buffer>) parts.push(chunk);
      entries.push({ name: entry.fileName, data: Buffer.concat(parts), method: entry.compressionMethod });
    }
  } finally {
    zipfile.close();
  }
  return entries;
}

async function seedFrom(name: string, file: string): Promise<Seed> {
  return { name, bytes: await readFile(file), entries: await entriesOf(file) };
}

/** Which seeds to build: the ones written in JavaScript (always), or the ones written by Info-ZIP and Python. */
export type SeedSet = 'js' | 'tools';

/**
 * The valid archives the mutations start from. `js`: our writer's export of the target cell, the
 * hostile corpus's base snapshot (the JS crafter), the two Java fixtures, and a yazl archive with
 * data descriptors and forced ZIP64 records. `tools`: an export rebuilt by Info-ZIP's `zip` and by
 * Python's `zipfile` (stored and deflated mixed, reverse order).
 */
export async function buildSeeds(dir: string, set: SeedSet): Promise<Seed[]> {
  const ours = join(dir, 'ours.zip');
  await cp(FIXTURE_CELLS, join(dir, 'cells'), { recursive: true });
  const cells = new FsCellDataSource({ root: join(dir, 'cells') });
  const cell = await cells.getCell(TARGET);
  if (cell === undefined) throw new Error(`no fixture cell ${TARGET}`);
  const view = await cells.openExport(cell, new AbortController().signal);
  try {
    await writeToFile(view, ours);
  } finally {
    await view.close();
  }
  const tree = join(dir, 'tree');
  const names = (await extractZip(ours, tree)).sort();
  if (set === 'tools') {
    const infozip = join(dir, 'infozip.zip');
    const zip = await run('zip', ['-r', '-q', infozip, '00_manifest.json', '10_odata', '20_webdav'], { cwd: tree });
    if (zip.code !== 0) throw new Error(`zip: ${zip.stderr}`);
    const python = join(dir, 'python.zip');
    const script = [
      'import sys, zipfile',
      'root, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]',
      'with zipfile.ZipFile(out, "w") as z:',
      '    for i, p in enumerate(reversed(names)):',
      '        z.write(root + "/" + p, p, compress_type=zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)',
    ].join('\n');
    const py = await run('python3', ['-c', script, tree, python, ...names]);
    if (py.code !== 0) throw new Error(`python: ${py.stderr}`);
    return [await seedFrom('infozip', infozip), await seedFrom('python', python)];
  }
  const crafted = join(dir, 'crafted.zip');
  await writeBaseSnapshot(crafted);
  const yazlFile = join(dir, 'yazl.zip');
  const zip = new yazl.ZipFile();
  names.forEach((name, i) => zip.addFile(join(tree, name), name, { compress: i % 2 === 0, forceZip64Format: i % 3 === 0 }));
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(yazlFile));
  return [
    await seedFrom('ours', ours),
    await seedFrom('crafted', crafted),
    await seedFrom('java-style', join(JAVA_DIR, 'personium-style.zip')),
    await seedFrom('java-minimal', join(JAVA_DIR, 'personium-minimal.zip')),
    await seedFrom('yazl-zip64', yazlFile),
  ];
}

/** Hex SHA-256 over every file under `dir`: relative names and contents, in sorted order. */
export async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .map((entry) => ({ entry, path: relative(dir, join(entry.parentPath, entry.name)) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { entry, path } of files) {
    hash.update(`${entry.isDirectory() ? 'd' : entry.isFile() ? 'f' : 'other'} ${path}\0`);
    if (entry.isFile()) hash.update(await readFile(join(dir, path)));
  }
  return hash.digest('hex');
}

/** A host over a sandbox, ready to take mutated archives. */
export interface FuzzHost {
  readonly server: TestServer;
  /** The sandbox: it holds only the data root, `data/`. */
  readonly sandbox: string;
  /** Where mutated archives are written before the PUT. */
  readonly work: string;
  /** Runs one case; resolves with its outcome (`refused 400 PR400-…`, `failed PR400-…`, `ready`) or rejects with what broke. */
  runCase(plan: Plan, seeds: readonly Seed[]): Promise<string>;
  /** Unhandled rejections seen in this process since the host started. */
  readonly rejections: unknown[];
}

/** Starts one host for many cases. */
export async function startFuzzHost(t: ExecutionContext): Promise<FuzzHost> {
  const sandbox = await tempDir(t, 'kcs-fuzz-');
  const dataDir = join(sandbox, 'data');
  await cp(FIXTURE_CELLS, join(dataDir, 'cells'), { recursive: true });
  await mkdir(join(dataDir, 'snapshots'));
  const work = await tempDir(t, 'kcs-fuzz-work-');
  const pristine = join(work, 'pristine');
  await cp(join(dataDir, 'cells', TARGET), pristine, { recursive: true });
  const cellDir = join(dataDir, 'cells', TARGET);
  const before = await treeHash(cellDir);
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  t.teardown(() => {
    process.off('unhandledRejection', onRejection);
  });
  const failures: unknown[] = [];
  const server = await startServer(t, 'root', { dataDir, options: { onError: (error) => failures.push(error) } });
  const file = join(work, 'fuzz.zip');

  async function status(): Promise<{ status: string; message?: { code: string } }> {
    const res = await server.request('GET', TARGET, '__import', { headers: auth });
    if (res.status !== 200) throw new Error(`status GET answered ${res.status} ${res.text}`);
    return res.json();
  }

  async function checkReady(): Promise<void> {
    // Read as an import reads (ignored entries are not decompressed), then check the ignored entries
    // too: verifySnapshot must refuse the archive exactly when they are bad, with their code.
    const reader = await openSnapshot(await fileSource(file));
    let read: SnapshotRead;
    let unused: string;
    try {
      const cell = await reader.cellRecord();
      const records = {} as Record<ODataType, ODataRecord[]>;
      for (const type of ODATA_TYPES) {
        records[type] = [];
        for await (const record of reader.records(type)) records[type].push(record);
      }
      const dav: DavRead[] = [];
      for await (const node of reader.dav()) {
        dav.push({ path: node.path, meta: node.meta, content: node.content === undefined ? null : await hashStream(node.content) });
      }
      read = { manifest: reader.manifest, hasIntegrity: reader.hasIntegrity, cell, records, dav, unused: 0 };
      unused = await reader.checkUnused().then(
        () => 'ok',
        (error: unknown) => codeOf(error),
      );
    } finally {
      await reader.close();
    }
    const report = await verifySnapshot(await fileSource(file));
    if ((report.ok ? 'ok' : report.error?.code) !== unused) throw new Error(`import ready; its ignored entries: ${unused}; verifySnapshot: ${report.error?.code}`);
    const digest = await digestOf(dataDir, TARGET);
    const paths = (list: readonly { path: string; content?: { sha256: string } | null }[]): string[] =>
      list.map((n) => `${n.path} ${n.content?.sha256 ?? '-'}`).sort();
    const got = paths(digest.dav);
    const want = paths(read.dav);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`import ready but the cell's WebDAV tree differs from the archive's: ${JSON.stringify({ got, want })}`);
    for (const [type, records] of Object.entries(read.records)) {
      const ids = (list: readonly { _id?: unknown }[]): string => list.map((r) => String(r._id)).sort().join(',');
      if (ids(records) !== ids(digest.records[type as keyof typeof digest.records])) throw new Error(`import ready but ${type} records differ`);
    }
    await rm(cellDir, { recursive: true, force: true });
    await cp(pristine, cellDir, { recursive: true });
  }

  async function runCase(plan: Plan, seeds: readonly Seed[]): Promise<string> {
    try {
      return await checkedCase(plan, seeds);
    } catch (error) {
      // Leave the next case (a shrinking step) the same starting point.
      rejections.length = 0;
      failures.length = 0;
      await rm(cellDir, { recursive: true, force: true });
      await cp(pristine, cellDir, { recursive: true });
      throw error;
    }
  }

  async function checkedCase(plan: Plan, seeds: readonly Seed[]): Promise<string> {
    await applyPlan(plan, seeds, file);
    const put = await server.request('PUT', TARGET, '__snapshot/fuzz.zip', {
      headers: { ...auth, 'content-type': 'application/zip' },
      body: await readFile(file),
    });
    if (put.status !== 201 && put.status !== 204) throw new Error(`PUT answered ${put.status} ${put.text}`);
    const post = await server.request('POST', TARGET, '__import', { headers: auth, body: '{"Name":"fuzz"}' });
    let outcome: string;
    if (post.status === 202) {
      let now = await status();
      for (let polls = 0; now.status === 'importation in progress'; polls += 1) {
        if (polls > 6000) throw new Error('import still in progress after 30 s');
        await sleep(5);
        now = await status();
      }
      if (now.status === 'ready') {
        await checkReady();
        outcome = 'ready';
      } else if (now.status === 'import failed') {
        const code = now.message?.code ?? '';
        const family = CODE.exec(code)?.[1];
        if (family === undefined || !family.startsWith('4')) throw new Error(`import failed with ${JSON.stringify(now.message)}`);
        outcome = `failed ${code}`;
      } else {
        throw new Error(`unexpected status ${JSON.stringify(now)}`);
      }
    } else {
      const code = post.json<{ code?: string }>().code ?? '';
      const family = CODE.exec(code)?.[1];
      if (post.status < 400 || post.status >= 500 || family !== String(post.status)) throw new Error(`POST answered ${post.status} ${post.text}`);
      outcome = `refused ${post.status} ${code}`;
      await status();
    }
    if (outcome !== 'ready') {
      const after = await treeHash(cellDir);
      if (after !== before) throw new Error(`${outcome}, but the cell changed`);
    }
    const left = await leftovers(dataDir);
    if (left.length > 0) throw new Error(`leftovers in the cells root: ${left.join(', ')}`);
    const outside = (await readdir(sandbox)).filter((name) => name !== 'data');
    const inRoot = (await readdir(dataDir)).filter((name) => name !== 'cells' && name !== 'snapshots');
    if (outside.length > 0 || inRoot.length > 0) throw new Error(`written outside the data root: ${[...outside, ...inRoot].join(', ')}`);
    const cellsNow = (await readdir(join(dataDir, 'cells'))).sort().join(',');
    if (cellsNow !== 'alice,bob') throw new Error(`cells root holds ${cellsNow}`);
    if (rejections.length > 0) throw new Error(`unhandled rejection: ${String(rejections[0])}`);
    if (failures.length > 0) throw new Error(`the router reported an unexpected error: ${String(failures[0])}`);
    return outcome;
  }

  return { server, sandbox, work, runCase, rejections };
}
