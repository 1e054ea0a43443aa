import test from 'ava';
import { LineSplitter, LineTooLongError, recordProblem, toRecord } from '../../lib/snapshot/lines.js';

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
