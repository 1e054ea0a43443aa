/**
 * The shortcut for lines already written as the module writes records: `recordLineSpan` accepts a
 * line (and `cValueSpan` finds its `_source.c` value) only when its bytes prove it is exactly
 * `recordJson` of its own parse, without parsing it, and never accepts a line `JSON.parse` refuses;
 * `retargetLines` (an import) and `rewriteLines` without a cell id (an export), which take the
 * shortcut whenever they can, always give what parsing each line and writing it back gives, however
 * the line was written.
 */
import test from 'ava';
import fc from 'fast-check';
import { retargetLines, rewriteLines } from '../../lib/jobs/record-lines.js';
import { MAX_DEPTH, MAX_KEYS, cValueSpan, recordLineSpan } from '../../lib/jobs/record-splice.js';
import { recordJson } from '../../lib/snapshot/format.js';
import { parseRecord } from '../../lib/snapshot/snapshot-json.js';
import type { ODataRecord } from '../../lib/types.js';

const TARGET = 'targetcell0000000000000000000000';

/** The span of `c`'s value in a line, as the text it covers, or `undefined`. */
function cText(line: string): string | undefined {
  const bytes = Buffer.from(line);
  const span = cValueSpan(bytes, 0, bytes.length);
  return span === undefined ? undefined : bytes.subarray(span[0], span[1]).toString('utf8');
}

/** The long way: each line parsed, given the target id (unless `keep`), written back. */
function longWay(text: string, keep = false): string {
  return text
    .split('\n')
    .filter((line, i, all) => i < all.length - 1 || line !== '')
    .map((line) => {
      const r = parseRecord(line);
      if (!keep) r._source['c'] = TARGET;
      return `${recordJson(r)}\n`;
    })
    .join('');
}

/** An export's rewrite of a piece: every line a record, kept as it is. */
function exportWay(text: string): string {
  return rewriteLines(Buffer.from(text), { parse: (line) => parseRecord(line) }).toString('utf8');
}

/** What recordLineSpan makes of a whole line. */
const scan = (line: string): [number, number] | undefined => recordLineSpan(Buffer.from(line), 0, Buffer.byteLength(line));

const canonical = (source: Record<string, unknown>): string =>
  recordJson({ _index: 'u0_x.role', _type: 'Role', _source: source, _id: 'r1' });

test('cValueSpan: the c value of a line written as recordJson writes it, whatever its JSON value or place', (t) => {
  t.is(cText(canonical({ c: 'cell0', s: { Name: 'a' } })), '"cell0"');
  t.is(cText(canonical({ s: { c: 'inner', d: [1, { c: 2 }] }, c: null })), 'null');
  t.is(cText(canonical({ b: 'x', c: { deep: ['c', { c: 1 }] }, p: 0 })), '{"deep":["c",{"c":1}]}');
  t.is(cText(canonical({ c: 'é€😀 \\ " \n\t /' })), JSON.stringify('é€😀 \\ " \n\t /'));
  // JSON.stringify writes this control character as \u0001: the long way, like every \u escape.
  t.is(cText(canonical({ c: 'a\u0001' })), undefined);
  t.is(cText(canonical({ c: -12.5e-7, n: 123456789012345, m: -0.5, z: 0 })), JSON.stringify(-12.5e-7));
});

test('cValueSpan: undefined for every way of writing a record that recordJson would not write', (t) => {
  const good = canonical({ s: { Name: 'a', n: 1 }, c: 'cell0', p: [1, 2] });
  t.is(cText(good), '"cell0"');
  const cases: Record<string, string> = {
    'a space between tokens': good.replace('"c":', '"c": '),
    'a trailing carriage return': `${good}\r`,
    'the fields in another order': '{"_type":"Role","_index":"u0_x.role","_source":{"c":"cell0"},"_id":"r1"}',
    'a fifth field': good.replace('"_id":"r1"}', '"_id":"r1","x":1}'),
    'a field given twice': good.replace('"_source":', '"_id":"r0","_source":'),
    'a key of _source given twice': good.replace('{"s":', '{"c":"old","s":'),
    'a key given twice deeper': good.replace('"Name":"a"', '"Name":"z","Name":"a"'),
    'an escaped slash': good.replace('"Name":"a"', '"Name":"a\\/b"'),
    'a \\u escape': good.replace('"Name":"a"', '"Name":"\\u0061"'),
    'an escaped key c': good.replace('"c":"cell0"', '"\\u0063":"cell0"'),
    'a number with a needless fraction': good.replace('"n":1', '"n":1.0'),
    'a number with an exponent': good.replace('"n":1', '"n":1e0'),
    'a negative zero': good.replace('"n":1', '"n":-0'),
    'an integer past 2^53': good.replace('"n":1', '"n":12345678901234567890'),
    'a key that is an index': good.replace('"s":', '"0":1,"s":'),
    'no c in _source': canonical({ s: {} }),
    'c only deeper': canonical({ s: { c: 'x' } }),
  };
  for (const [what, line] of Object.entries(cases)) t.is(cText(line), undefined, what);
  const withoutC = ['no c in _source', 'c only deeper'];
  for (const what of withoutC) t.deepEqual(scan(cases[what] as string), [-1, -1], `${what}: written as recordJson`);
  for (const [what, line] of Object.entries(cases).filter(([what]) => !withoutC.includes(what))) t.is(scan(line), undefined, what);
});

test('recordLineSpan: undefined for lines that are not JSON, not records, or past the limits', (t) => {
  const good = canonical({ s: { Name: 'a', n: 1, t: true, f: false, z: null, l: [1, [], {}] }, c: 'cell0' });
  t.deepEqual(scan(good)?.length, 2, 'the good line is accepted');
  const nested = (depth: number): unknown => (depth === 0 ? 1 : { d: nested(depth - 1) });
  const manyKeys = (count: number): Record<string, number> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));
  const cases: Record<string, string> = {
    'a raw control character in a string': good.replace('"Name":"a"', '"Name":"a\u0001"'),
    'a raw tab in a string': good.replace('"Name":"a"', '"Name":"a\tb"'),
    'a literal cut short': good.replace(':true', ':tru'),
    'a literal too long': good.replace(':null', ':nulll'),
    'an unknown literal': good.replace(':null', ':nil'),
    'a missing colon': good.replace('"Name":"a"', '"Name" "a"'),
    'a missing comma': good.replace(',"n":1', '"n":1'),
    'a trailing comma in an object': good.replace('"cell0"}', '"cell0",}'),
    'a trailing comma in an array': good.replace('[1,[]', '[1,,[]'),
    'a bracket closed by a brace': good.replace('[1,[],{}]', '[1,[],{}}'),
    'a brace closed by a bracket': good.replace('{}]', '{]]'),
    'an unclosed string': `{"_index":"u0_x.role","_type":"Role","_source":{"a":"b}`,
    'an unclosed object': good.slice(0, good.indexOf(',"_id"')),
    'a leading zero': good.replace('"n":1', '"n":01'),
    'a bare fraction': good.replace('"n":1', '"n":.5'),
    'a dangling point': good.replace('"n":1', '"n":1.'),
    'a plus sign': good.replace('"n":1', '"n":+1'),
    'an upper-case exponent': good.replace('"n":1', '"n":1E+21'),
    'a key that is not a string': good.replace('"Name":', 'Name:'),
    '_source that is not an object': canonical({}).replace('"_source":{}', '"_source":[]'),
    '_index that is not a string': good.replace('"_index":"u0_x.role"', '"_index":1'),
    'text after the record': `${good} `,
    'too deep': canonical({ c: 'x', d: nested(MAX_DEPTH) }),
    'too many keys': canonical({ c: 'x', s: manyKeys(MAX_KEYS + 1) }),
    'a key given twice past the first': good.replace('"t":true', '"t":true,"t":true'),
    'a key given twice, the same bytes as the first': good.replace('{"Name":"a"', '{"Name":"a","Name":"a"'),
  };
  for (const [what, line] of Object.entries(cases)) t.is(scan(line), undefined, what);
  t.deepEqual(scan(canonical({ c: 'x', d: nested(MAX_DEPTH - 1) }))?.length, 2, 'as deep as allowed');
  t.deepEqual(scan(canonical({ c: 'x', s: manyKeys(MAX_KEYS) }))?.length, 2, 'as many keys as allowed');
  t.deepEqual(scan(canonical({ c: 'x', s: manyKeys(MAX_KEYS), t: manyKeys(MAX_KEYS) }))?.length, 2, 'the limit is per object');
});

test('recordLineSpan never accepts a line that is not recordJson of its own parse, however a good line is broken', (t) => {
  const value = fc.jsonValue({ maxDepth: 3 });
  const arbitraryRecord = fc.record({ _index: fc.string(), _type: fc.string(), _id: fc.string({ unit: 'grapheme' }), _source: fc.dictionary(fc.string(), value, { maxKeys: 5 }) });
  const edit = fc.record({ at: fc.nat(), kind: fc.nat(3), byte: fc.constantFrom(0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x30, 0x31, 0x2d, 0x2e, 0x65, 0x20, 0x0a, 0x01, 0x74, 0x6e, 0x61) });
  fc.assert(
    fc.property(arbitraryRecord, fc.array(edit, { minLength: 1, maxLength: 3 }), (r, edits) => {
      let bytes = Buffer.from(recordJson(r));
      for (const { at, kind, byte } of edits) {
        const i = at % (bytes.length + 1);
        if (kind === 0) bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        else if (kind === 1 && i < bytes.length) bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        else if (i < bytes.length) bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i + 1)]);
      }
      if (recordLineSpan(bytes, 0, bytes.length) === undefined) return;
      const text = bytes.toString('utf8');
      let parsed: ODataRecord;
      try {
        parsed = parseRecord(text);
      } catch {
        t.fail(`accepted a line that is not a record: ${text}`);
        return;
      }
      t.is(recordJson(parsed), text);
    }),
    { numRuns: 3000 },
  );
});

test('retargetLines: the shortcut and the long way give the same bytes, on lines of this module', (t) => {
  const source: ODataRecord = { _index: 'u0_x.userdata', _type: 'UserData', _source: { s: { Name: 'é€😀\\/"' }, c: 'sourcecell', b: null, p: 0 }, _id: 'u1' };
  const text = `${recordJson(source)}\n${recordJson({ ...source, _id: 'u2' })}\n`;
  const result = retargetLines(Buffer.from(text), TARGET).toString('utf8');
  t.is(result, longWay(text));
  t.true(result.includes(`"c":"${TARGET}"`));
  t.false(result.includes('sourcecell'));
});

test('retargetLines: a piece larger than one output batch, mixing both ways, comes out whole and in order', (t) => {
  const lines = Array.from({ length: 2000 }, (_, i) => {
    const r: ODataRecord = { _index: 'u0_x.role', _type: 'Role', _source: { s: { Name: `r${i} é€😀`, n: i }, c: 'sourcecell' }, _id: `r${i}` };
    // Every third line takes the long way (a space), the others the shortcut.
    return i % 3 === 0 ? recordJson(r).replace('"n":', '"n": ') : recordJson(r);
  });
  const text = `${lines.join('\n')}\n`;
  t.true(Buffer.byteLength(text) > 3 * 64 * 1024);
  t.is(retargetLines(Buffer.from(text), TARGET).toString('utf8'), longWay(text));
});

test('retargetLines: bytes that are not UTF-8 are written as their decoded text, never copied', (t) => {
  const line = Buffer.from(canonical({ s: { Name: 'aXb' }, c: 'cell0' }));
  line[line.indexOf('X')] = 0xff;
  const result = retargetLines(line, TARGET);
  t.false(result.includes(0xff));
  t.true(result.includes(Buffer.from('a\uFFFDb')));
  t.is(result.toString('utf8'), longWay(line.toString('utf8')));
});

/** The ways of writing JSON that `JSON.stringify` does not take. */
type Way = 'spaces' | 'escapes' | 'numbers' | 'twice' | 'reversed';
const WAYS: readonly Way[] = ['spaces', 'escapes', 'numbers', 'twice', 'reversed'];

/**
 * JSON text for a value, written in the ways `ways` allows, each choice taken from `pick`: spaces,
 * `\u` and `\/` escapes, other forms of a number, keys given twice, keys in reverse order (which
 * `JSON.stringify` keeps, except for integer-like keys: those it writes first).
 */
function writeAnyWay(value: unknown, ways: ReadonlySet<Way>, pick: () => number): string {
  const space = (): string => (ways.has('spaces') && pick() === 0 ? ' ' : '');
  if (typeof value === 'string') {
    const plain = JSON.stringify(value);
    const choice = ways.has('escapes') ? pick() : 0;
    if (choice === 1) return plain.replaceAll('/', '\\/');
    if (choice === 2) return plain.replace(/[^\x20-\x7e]|a/u, (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0').slice(-4)}`);
    return plain;
  }
  if (typeof value === 'number') {
    const choice = ways.has('numbers') ? pick() : 0;
    if (choice === 1 && Number.isInteger(value) && !String(value).includes('e')) return `${value}.0`;
    if (choice === 2) return value.toExponential();
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${space()}${value.map((item) => writeAnyWay(item, ways, pick)).join(`,${space()}`)}${space()}]`;
  if (typeof value === 'object' && value !== null) {
    const pairs = ways.has('reversed') ? Object.entries(value).reverse() : Object.entries(value);
    const entries = pairs.map(([key, item]) => `${writeAnyWay(key, ways, pick)}${space()}:${space()}${writeAnyWay(item, ways, pick)}`);
    const first = Object.keys(value)[0];
    if (first !== undefined && ways.has('twice') && pick() < 3) entries.unshift(`${JSON.stringify(first)}:"given twice"`);
    return `{${space()}${entries.join(',')}${space()}}`;
  }
  return JSON.stringify(value);
}

/** A record's line: its four fields in the module's order (or now and then reversed), each value written by {@link writeAnyWay}. */
function writeRecord(r: ODataRecord, ways: ReadonlySet<Way>, pick: () => number): string {
  const fields: [string, unknown][] = [['_index', r._index], ['_type', r._type], ['_source', r._source], ['_id', r._id]];
  if (ways.has('reversed') && pick() === 0) fields.reverse();
  return `{${fields.map(([name, value]) => `${JSON.stringify(name)}:${writeAnyWay(value, ways, pick)}`).join(',')}}`;
}

test('retargetLines and rewriteLines give the long way for records written in any way JSON allows', (t) => {
  const key = fc.oneof(fc.string(), fc.nat(20).map(String));
  const source = fc.tuple(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), fc.option(fc.jsonValue({ maxDepth: 1 }))).map(([s, c]) => (c === null ? s : { ...s, c }));
  const arbitraryRecord = fc.record({ _index: fc.string(), _type: fc.string(), _source: source, _id: fc.string({ unit: 'grapheme' }) });
  fc.assert(
    fc.property(fc.array(arbitraryRecord, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(6), { minLength: 1, maxLength: 50 }), (records, choices) => {
      let next = 0;
      const pick = (): number => choices[next++ % choices.length] as number;
      // Each record as the module writes it, or in one way it does not, or in all of them.
      const text = records
        .map((r) => {
          const choice = pick();
          const ways = new Set(choice < WAYS.length ? [WAYS[choice] as Way] : choice === WAYS.length ? WAYS : []);
          return `${ways.size === 0 ? recordJson(r) : writeRecord(r, ways, pick)}\n`;
        })
        .join('');
      t.is(retargetLines(Buffer.from(text), TARGET).toString('utf8'), longWay(text));
      t.is(exportWay(text), longWay(text, true));
    }),
    { numRuns: 300 },
  );
});
