/**
 * Rewriting `.pjson` lines for an import: every line checked as the reader checks a record and
 * written back with the target cell's id; pieces rewritten several at a time and yielded in order;
 * a line that is not a record refused with the reader's own error, after the rest of the entry was
 * read, so that a failed check of the entry wins.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import fc from 'fast-check';
import { isPersoniumError, PersoniumError } from '../../lib/errors.js';
import { retargetLines, stagedLines, type RetargetResult, type Retargeter } from '../../lib/jobs/record-lines.js';
import { recordJson } from '../../lib/snapshot/format.js';
import { parseRecord } from '../../lib/snapshot/snapshot-json.js';
import type { ODataRecord } from '../../lib/types.js';
import { record } from '../helpers/view.js';

const TARGET = 'targetcell0000000000000000000000';

/** The lines of a successful result, as text. */
function linesOf(result: RetargetResult): string {
  if ('badLine' in result) throw new Error(`refused line ${result.badLine}`);
  return result.lines.toString('utf8');
}

/** What the import stages for one record: its JSON with the target's id, and a newline. */
function staged(r: ODataRecord): string {
  return `${recordJson({ ...r, _source: { ...r._source, c: TARGET } })}\n`;
}

test('retargetLines: each record with the target id as _source.c, in the canonical form, one per line', (t) => {
  const a = record('Role', 'a', { s: { Name: 'é€😀 \\ / "' }, c: 'sourcecell' });
  const b = record('Role', 'b', { c: null });
  const extra = `{"_id":"c","_source":{"x":1.50},"_type":"Role","_index":"u0","other":true}`;
  const result = retargetLines(Buffer.from(`${recordJson(a)}\r\n${recordJson(b)}\n${extra}\n`), TARGET);
  const c: ODataRecord = { _index: 'u0', _type: 'Role', _source: { x: 1.5 }, _id: 'c' };
  t.is(linesOf(result), staged(a) + staged(b) + staged(c));
});

test('retargetLines: a last line without newline is a record too; an empty piece gives no lines', (t) => {
  const a = record('Box', 'a');
  t.is(linesOf(retargetLines(Buffer.from(recordJson(a)), TARGET)), staged(a));
  t.is(linesOf(retargetLines(Buffer.alloc(0), TARGET)), '');
});

test('retargetLines: the first line that is not a record comes back as badLine, blank lines included', (t) => {
  const a = recordJson(record('Role', 'a'));
  t.deepEqual(retargetLines(Buffer.from(`${a}\n\n${a}\n`), TARGET), { badLine: '' });
  t.deepEqual(retargetLines(Buffer.from(`${a}\nnot json\n[1]\n`), TARGET), { badLine: 'not json' });
  t.deepEqual(retargetLines(Buffer.from('{"_index":"x","_type":"Role","_id":1,"_source":{}}\n'), TARGET), {
    badLine: '{"_index":"x","_type":"Role","_id":1,"_source":{}}',
  });
});

test('retargetLines gives what parsing each line as a record and writing it back gives, for any records', (t) => {
  const value = fc.jsonValue({ maxDepth: 2 });
  const arbitraryRecord = fc.record({
    _index: fc.string(),
    _type: fc.string(),
    _id: fc.string({ unit: 'grapheme' }),
    _source: fc.dictionary(fc.string(), value, { maxKeys: 4 }),
  });
  fc.assert(
    fc.property(fc.array(arbitraryRecord, { maxLength: 20 }), (records) => {
      const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
      const expected = text
        .split('\n')
        .slice(0, -1)
        .map((line) => staged(parseRecord(line)))
        .join('');
      t.is(linesOf(retargetLines(Buffer.from(text), TARGET)), expected);
    }),
  );
});

/** Pieces yielded one by one, remembering how many were asked for; `fail` throws after them. */
function piecesOf(pieces: string[], fail?: Error): { iterable: AsyncIterable<Buffer>; read: () => number } {
  let read = 0;
  async function* generate(): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      read += 1;
      yield Buffer.from(piece);
    }
    if (fail !== undefined) throw fail;
  }
  return { iterable: generate(), read: () => read };
}

/** Rewrites in-process after a random delay, so that pieces finish out of order. */
const shuffled: Retargeter = async (piece) => {
  await sleep(Math.floor(Math.random() * 5));
  return retargetLines(piece, TARGET);
};

async function collect(lines: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of lines) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

test('stagedLines: pieces rewritten several at a time are yielded in order', async (t) => {
  const records = Array.from({ length: 60 }, (_, i) => record('UserData', `u${i}`, { n: i }));
  const pieces = Array.from({ length: 20 }, (_, i) => records.slice(i * 3, i * 3 + 3).map((r) => `${recordJson(r)}\n`).join(''));
  t.is(await collect(stagedLines(piecesOf(pieces).iterable, shuffled, 4)), records.map(staged).join(''));
});

test("stagedLines: a line that is not a record is the reader's PR400-CM-0004, after the rest was read", async (t) => {
  const good = `${recordJson(record('Role', 'a'))}\n`;
  const source = piecesOf([good, good, 'not json\n', good, good]);
  const error = await t.throwsAsync(collect(stagedLines(source.iterable, shuffled, 3)));
  t.true(isPersoniumError(error));
  t.is((error as PersoniumError).code, 'PR400-CM-0004');
  t.is(error?.message, 'JSON parse error. [not json].');
  t.is(source.read(), 5, 'every piece was read');
});

test('stagedLines: when the entry then fails its check, that error wins', async (t) => {
  const good = `${recordJson(record('Role', 'a'))}\n`;
  const corrupt = new PersoniumError('PR400-SN-0003', ['10_odata/20_role.pjson']);
  const source = piecesOf([good, '\n', good], corrupt);
  const error = await t.throwsAsync(collect(stagedLines(source.iterable, shuffled, 2)));
  t.is(error, corrupt);
});

test('stagedLines: a failing rewrite rejects with its error and the pieces are closed', async (t) => {
  let closed = false;
  async function* pieces(): AsyncGenerator<Buffer> {
    try {
      for (;;) yield Buffer.from(`${recordJson(record('Role', 'a'))}\n`);
    } finally {
      closed = true;
    }
  }
  const broken = new Error('worker gone');
  let calls = 0;
  const retarget: Retargeter = async (piece) => {
    calls += 1;
    if (calls === 3) throw broken;
    return retargetLines(piece, TARGET);
  };
  t.is(await t.throwsAsync(collect(stagedLines(pieces(), retarget, 2))), broken);
  t.true(closed);
});
