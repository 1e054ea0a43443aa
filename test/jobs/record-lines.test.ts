/**
 * Rewriting `.pjson` lines for an import: every line checked as the reader checks a record and
 * written back with the target cell's id, pieces yielded in order; a line that is not a record
 * refused with the reader's own error, after the rest of the entry was read, so that a failed check
 * of the entry wins.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { isPersoniumError, PersoniumError } from '../../lib/errors.js';
import { retargetLines, rewriteLines, stagedLines } from '../../lib/jobs/record-lines.js';
import { recordJson } from '../../lib/snapshot/format.js';
import { parseRecord } from '../../lib/snapshot/snapshot-json.js';
import type { ODataRecord } from '../../lib/types.js';
import { record } from '../helpers/view.js';

const TARGET = 'targetcell0000000000000000000000';

/** The rewritten lines, as text. */
function linesOf(lines: Buffer): string {
  return lines.toString('utf8');
}

/** The error of rewriting a piece: the reader's for the first line that is not a record. */
function refusal(t: ExecutionContext, text: string): PersoniumError {
  const error = t.throws(() => retargetLines(Buffer.from(text), TARGET));
  t.true(isPersoniumError(error));
  return error as PersoniumError;
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

test("retargetLines: the first line that is not a record, blank lines included, throws the reader's PR400-CM-0004", (t) => {
  const a = recordJson(record('Role', 'a'));
  t.is(refusal(t, `${a}\n\n${a}\n`).message, 'JSON parse error. [].');
  t.is(refusal(t, `${a}\nnot json\n[1]\n`).message, 'JSON parse error. [not json].');
  const notRecord = '{"_index":"x","_type":"Role","_id":1,"_source":{}}';
  const error = refusal(t, `${notRecord}\n`);
  t.is(error.code, 'PR400-CM-0004');
  t.is(error.message, `JSON parse error. [${notRecord}].`);
});

test('rewriteLines without a cell id: lines kept as they are, blank ones dropped wherever they are, the rest written anew', (t) => {
  const a = recordJson(record('Role', 'a', { c: 'x', n: 1 }));
  const b = recordJson(record('Role', 'b'));
  const spaced = '{ "_index":"u0", "_type":"Role", "_source":{}, "_id":"s" }';
  const seen: number[] = [];
  const skipBlank = (text: string, index: number): ODataRecord | undefined => {
    seen.push(index);
    return text.trim() === '' ? undefined : parseRecord(text);
  };
  const rewrite = (text: string): string => rewriteLines(Buffer.from(text), { parse: skipBlank }).toString('utf8');
  const piece = Buffer.from(`${a}\n${b}\n`);
  t.is(rewriteLines(piece, { parse: skipBlank }), piece, 'a piece of lines in the module form is handed back itself');
  t.deepEqual(seen, [], 'and none of them was parsed');
  t.is(rewrite(`\n${a}\n${b}\n`), `${a}\n${b}\n`, 'a blank line first');
  t.is(rewrite(`${a}\n  \n${b}\n\n`), `${a}\n${b}\n`, 'blank lines between and after');
  t.is(rewrite(`${a}\n${spaced}\n${b}`), `${a}\n${recordJson({ _index: 'u0', _type: 'Role', _source: {}, _id: 's' })}\n${b}\n`, 'a line written anew, a last line without newline');
  t.is(rewrite('\n \n'), '', 'blank lines only');
  seen.length = 0;
  rewrite(`${a}\n\n${spaced}\n`);
  t.deepEqual(seen, [1, 2], 'only the lines not in the module form are parsed, with their index in the piece');
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

async function collect(lines: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of lines) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

test('stagedLines: each piece rewritten, in order', async (t) => {
  const records = Array.from({ length: 60 }, (_, i) => record('UserData', `u${i}`, { n: i }));
  const pieces = Array.from({ length: 20 }, (_, i) => records.slice(i * 3, i * 3 + 3).map((r) => `${recordJson(r)}\n`).join(''));
  t.is(await collect(stagedLines(piecesOf(pieces).iterable, TARGET)), records.map(staged).join(''));
});

test("stagedLines: a line that is not a record is the reader's PR400-CM-0004, after the rest was read", async (t) => {
  const good = `${recordJson(record('Role', 'a'))}\n`;
  const source = piecesOf([good, good, 'not json\n', good, good]);
  const error = await t.throwsAsync(collect(stagedLines(source.iterable, TARGET)));
  t.true(isPersoniumError(error));
  t.is((error as PersoniumError).code, 'PR400-CM-0004');
  t.is(error?.message, 'JSON parse error. [not json].');
  t.is(source.read(), 5, 'every piece was read');
});

test('stagedLines: when the entry then fails its check, that error wins', async (t) => {
  const good = `${recordJson(record('Role', 'a'))}\n`;
  const corrupt = new PersoniumError('PR400-SN-0003', ['10_odata/20_role.pjson']);
  const source = piecesOf([good, '\n', good], corrupt);
  const error = await t.throwsAsync(collect(stagedLines(source.iterable, TARGET)));
  t.is(error, corrupt);
});

test('stagedLines: pieces left unread when the consumer stops are closed', async (t) => {
  let closed = false;
  async function* pieces(): AsyncGenerator<Buffer> {
    try {
      for (;;) yield Buffer.from(`${recordJson(record('Role', 'a'))}\n`);
    } finally {
      closed = true;
    }
  }
  for await (const lines of stagedLines(pieces(), TARGET)) {
    t.is(linesOf(lines), staged(record('Role', 'a')));
    break;
  }
  t.true(closed);
});
