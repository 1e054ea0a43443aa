import test from 'ava';
import fc from 'fast-check';
import { LineSplitter, LineTooLongError, recordBatches, recordProblem, toRecord } from '../../lib/snapshot/lines.js';
import type { ODataRecord } from '../../lib/types.js';

const text = (lines: Buffer[]): string[] => lines.map((line) => line.toString('utf8'));

test('lines split across chunks, empty lines kept, a \\r before \\n kept, the last line without \\n from end()', (t) => {
  const splitter = new LineSplitter(100);
  t.deepEqual(text(splitter.push(Buffer.from('ab'))), []);
  t.deepEqual(text(splitter.push(Buffer.from('c\n\nde\r\nf'))), ['abc', '', 'de\r']);
  t.is(splitter.lineNumber, 3);
  t.is(splitter.end()?.toString(), 'f');
  t.is(splitter.lineNumber, 4);
  t.is(splitter.end(), undefined, 'nothing pending after the end');
});

test('a line over the limit throws as soon as its bytes pass it, naming its number', (t) => {
  const splitter = new LineSplitter(5);
  t.deepEqual(text(splitter.push(Buffer.from('12345\n123'))), ['12345'], 'exactly the limit is fine');
  const error = t.throws(() => splitter.push(Buffer.from('456')), { instanceOf: LineTooLongError });
  t.is(error?.lineNumber, 2);
  t.is(error?.maxLineBytes, 5);
});

test('records: string _index, _type, _id and an object _source; only those fields are kept', (t) => {
  const good = { _index: 'u0', _type: 'Role', _id: 'r1', _source: { s: { Name: 'r' } }, extra: 1 };
  t.is(recordProblem(good), undefined);
  t.deepEqual(toRecord(good), { _index: 'u0', _type: 'Role', _id: 'r1', _source: { s: { Name: 'r' } } });
  t.is(recordProblem([]), 'not a JSON object');
  t.is(recordProblem({ ...good, _id: 1 }), '_id is not a string');
  t.is(recordProblem({ ...good, _source: [] }), '_source is not an object');
});

/** What a splitter makes of chunks: the lines (or the error's line number) and the final line number. */
function split(chunks: Buffer[], max: number, decoded: boolean): { lines: string[]; error?: number; lineNumber: number } {
  const splitter = new LineSplitter(max);
  const lines: string[] = [];
  try {
    for (const chunk of chunks) lines.push(...(decoded ? splitter.pushText(chunk) : text(splitter.push(chunk))));
    const last = splitter.end();
    if (last !== undefined) lines.push(last.toString('utf8'));
  } catch (error) {
    if (!(error instanceof LineTooLongError)) throw error;
    return { lines, error: error.lineNumber, lineNumber: splitter.lineNumber };
  }
  return { lines, lineNumber: splitter.lineNumber };
}

test('pushText decodes exactly what push then toString does, for any bytes cut anywhere', (t) => {
  const pieces = fc.oneof(
    fc.constantFrom('\n', '\n\n', '\r\n', 'é', '€', '😀', 'x'.repeat(20_000), '{"a":1}'),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(pieces, fc.uint8Array({ minLength: 1, maxLength: 3 })), { maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(30, 25_000, 1_000_000),
      (parts, cuts, max) => {
        // Raw byte parts may split a multi-byte sequence: both ways must decode them alike.
        const bytes = Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i += 1) {
          const size = cuts[i % cuts.length] ?? 1;
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        t.deepEqual(split(chunks, max, true), split(chunks, max, false));
      },
    ),
    { numRuns: 300 },
  );
});

test('pushLines: the complete lines of each chunk as one buffer: every byte, the same line count and limit errors as push', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom('\n', '\n\n', '\r\n', 'é', 'x'.repeat(40)), fc.string({ maxLength: 20 })), { maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom(30, 1000),
      (parts, cuts, max) => {
        const bytes = Buffer.from(parts.join(''));
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i += 1) {
          const size = cuts[i % cuts.length] as number;
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        const expected = split(chunks, max, false);
        const splitter = new LineSplitter(max);
        const pieces: Buffer[] = [];
        let error: number | undefined;
        try {
          for (const chunk of chunks) {
            const piece = splitter.pushLines(chunk);
            if (piece !== undefined) {
              t.is(piece.at(-1), 0x0a);
              pieces.push(piece);
            }
          }
          const last = splitter.end();
          if (last !== undefined) pieces.push(last);
        } catch (caught) {
          if (!(caught instanceof LineTooLongError)) throw caught;
          error = caught.lineNumber;
        }
        t.is(error, expected.error);
        t.is(splitter.lineNumber, expected.lineNumber);
        if (error === undefined) t.true(Buffer.concat(pieces).equals(bytes), 'every byte, in order');
      },
    ),
  );
});

test('recordBatches writes each record as its JSON and a newline, in batches of about 64 KiB, checking each', async (t) => {
  const records = (n: number): AsyncIterable<ODataRecord> =>
    (async function* () {
      for (let i = 0; i < n; i += 1) yield { _index: 'u0', _type: 'Role', _source: { s: { Name: `é€😀 ${i}` } }, _id: `r${i}` };
    })();
  const batches: Buffer[] = [];
  for await (const batch of recordBatches(records(3000))) batches.push(batch);
  t.true(batches.length > 1);
  for (const batch of batches.slice(0, -1)) t.true(batch.length >= 64 * 1024 && batch.length < 70 * 1024);
  const lines = Buffer.concat(batches).toString('utf8').split('\n');
  t.is(lines.pop(), '');
  t.is(lines.length, 3000);
  t.is(lines[2999], '{"_index":"u0","_type":"Role","_source":{"s":{"Name":"é€😀 2999"}},"_id":"r2999"}');
  const seen: number[] = [];
  const failing = recordBatches(records(10), (_record, number) => {
    seen.push(number);
    if (number === 4) throw new TypeError('bad record #4');
  });
  await t.throwsAsync(async () => {
    for await (const batch of failing) void batch;
  }, { message: 'bad record #4' });
  t.deepEqual(seen, [1, 2, 3, 4]);
});
