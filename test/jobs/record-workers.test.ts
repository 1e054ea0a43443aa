/**
 * Record workers: real worker threads rewrite pieces of `.pjson` lines exactly as the main thread
 * does; the main thread takes a piece when no worker is idle (always, before one is ready); a bad
 * line comes back from a worker as it would from the main thread; closed workers are stopped.
 */
import test from 'ava';
import { retargetLines, stagedLines } from '../../lib/jobs/record-lines.js';
import { RecordWorkers } from '../../lib/jobs/record-workers.js';
import { recordJson } from '../../lib/snapshot/format.js';
import { record } from '../helpers/view.js';
import { waitFor } from '../helpers/wait.js';

const TARGET = 'targetcell0000000000000000000000';

/** Pieces of many records (some non-ASCII), about `bytes` each. */
function pieces(count: number, bytes: number): Buffer[] {
  const result: Buffer[] = [];
  for (let p = 0; p < count; p += 1) {
    let text = '';
    for (let i = 0; text.length < bytes; i += 1) text += `${recordJson(record('UserData', `u${p}-${i}`, { s: { Name: 'é€😀', i }, c: 'source' }))}\n`;
    result.push(Buffer.from(text));
  }
  return result;
}

async function* each(list: Buffer[]): AsyncGenerator<Buffer> {
  yield* list;
}

test('before a worker is ready the main thread rewrites; once one is, pieces go to workers, with the same result', async (t) => {
  const workers = new RecordWorkers(1);
  t.teardown(() => workers.close());
  const [first] = pieces(1, 1000);
  t.deepEqual(await workers.retarget(first as Buffer, TARGET), retargetLines(first as Buffer, TARGET));
  t.deepEqual(workers.counts, { workers: 0, main: 1 }, 'no worker can be ready at once');
  await waitFor(async () => workers.ready === 1);
  const list = pieces(12, 64 * 1024);
  const parts: Buffer[] = [];
  for await (const part of stagedLines(each(list), (piece) => workers.retarget(piece, TARGET), workers.inFlight)) parts.push(part);
  const expected = list.map((piece) => {
    const result = retargetLines(piece, TARGET);
    return 'lines' in result ? result.lines : Buffer.alloc(0);
  });
  t.true(Buffer.concat(parts).equals(Buffer.concat(expected)));
  t.true(workers.counts.workers > 0, 'a worker rewrote pieces');
  t.is(workers.counts.workers + workers.counts.main, 13);
});

test('a line that is not a record comes back from a worker as badLine', async (t) => {
  const workers = new RecordWorkers(1);
  t.teardown(() => workers.close());
  await waitFor(async () => workers.ready === 1);
  const good = recordJson(record('Role', 'a'));
  t.deepEqual(await workers.retarget(Buffer.from(`${good}\n{"_index":1}\n`), TARGET), { badLine: '{"_index":1}' });
  t.deepEqual(workers.counts, { workers: 1, main: 0 });
});

test('close stops every worker; pieces are then rewritten on the main thread', async (t) => {
  const workers = new RecordWorkers(2);
  await waitFor(async () => workers.ready === 2);
  await workers.close();
  await waitFor(async () => workers.ready === 0);
  const [piece] = pieces(1, 1000);
  t.deepEqual(await workers.retarget(piece as Buffer, TARGET), retargetLines(piece as Buffer, TARGET));
  t.is(workers.counts.main, 1);
});
