import test from 'ava';
import { chooseRange, contentRange, unsatisfiedRange } from '../../lib/webdav/ranges.js';

test('chooseRange: one range, clipped; several, malformed or other units: the whole file; none satisfiable: 416', (t) => {
  const range = (value: string | undefined, size = 100) => chooseRange(value, size);
  t.deepEqual(range(undefined), { kind: 'full' });
  t.deepEqual(range(' '), { kind: 'full' });
  t.deepEqual(range('bytes=0-9'), { kind: 'partial', range: { start: 0, end: 9 } });
  t.deepEqual(range('Bytes=90-'), { kind: 'partial', range: { start: 90, end: 99 } });
  t.deepEqual(range('bytes=-10'), { kind: 'partial', range: { start: 90, end: 99 } });
  t.deepEqual(range('bytes=90-500'), { kind: 'partial', range: { start: 90, end: 99 } });
  t.deepEqual(range('bytes=0-9,5-20'), { kind: 'partial', range: { start: 0, end: 20 } }, 'overlapping ranges combine');
  t.deepEqual(range('bytes=0-9,20-29'), { kind: 'full' }, 'several ranges: the whole file');
  t.deepEqual(range('bytes=100-'), { kind: 'unsatisfiable' });
  t.deepEqual(range('bytes=100-200,300-400'), { kind: 'unsatisfiable' });
  t.deepEqual(range('bytes=abc'), { kind: 'full' }, 'malformed: ignored');
  t.deepEqual(range('garbage'), { kind: 'full' });
  t.deepEqual(range('items=0-9'), { kind: 'full' }, 'unknown unit: ignored');
  t.deepEqual(range('items=500-'), { kind: 'full' }, 'unknown unit is ignored even when out of range');
  t.deepEqual(range('bytes=0-', 0), { kind: 'unsatisfiable' }, 'no range of an empty file is satisfiable');
});

test('Content-Range values', (t) => {
  t.is(contentRange({ start: 0, end: 9 }, 100), 'bytes 0-9/100');
  t.is(unsatisfiedRange(100), 'bytes */100');
});
