import test from 'ava';
import type { SnapshotInfo } from '../../lib/types.js';
import { chooseRange, contentRange, ifRangeHolds, notModified, unsatisfiedRange } from '../../lib/webdav/conditionals.js';
import { noneMatchHits, parseEntityTags, writePreconditionsHold } from '../../lib/webdav/etags.js';

const modified = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
const info: SnapshotInfo = {
  name: 'a.zip',
  size: 100,
  etag: '"3-1704164645678-abcd1234"',
  contentType: 'application/zip',
  created: modified,
  modified,
};
const lastModified = 'Tue, 02 Jan 2024 03:04:05 GMT';

test('entity-tag lists', (t) => {
  t.is(parseEntityTags(' * '), '*');
  t.deepEqual(parseEntityTags('"a", W/"b",junk, "c"'), [
    { weak: false, opaque: '"a"' },
    { weak: true, opaque: '"b"' },
    { weak: false, opaque: '"c"' },
  ]);
});

test('If-None-Match: exact, W/ form, lists and * match; others do not', (t) => {
  t.true(noneMatchHits(info.etag, info.etag));
  t.true(noneMatchHits(`W/${info.etag}`, info.etag));
  t.true(noneMatchHits(`"x", ${info.etag}`, info.etag));
  t.true(noneMatchHits('*', info.etag));
  t.false(noneMatchHits('"x", W/"y"', info.etag));
  t.false(noneMatchHits(info.etag.slice(1, -1), info.etag), 'unquoted is not an entity tag');
});

test('304: If-None-Match first; If-Modified-Since only without it', (t) => {
  t.true(notModified({ 'if-none-match': info.etag }, info));
  t.false(notModified({ 'if-none-match': '"other"', 'if-modified-since': lastModified }, info));
  t.true(notModified({ 'if-modified-since': lastModified }, info));
  t.true(notModified({ 'if-modified-since': 'Wed, 03 Jan 2024 00:00:00 GMT' }, info));
  t.false(notModified({ 'if-modified-since': 'Tue, 02 Jan 2024 03:04:04 GMT' }, info));
  t.false(notModified({ 'if-modified-since': 'yesterday' }, info));
  t.false(notModified({}, info));
});

test('If-Range: strong ETag equality or the exact Last-Modified', (t) => {
  t.true(ifRangeHolds(info.etag, info));
  t.false(ifRangeHolds(`W/${info.etag}`, info));
  t.false(ifRangeHolds('"stale"', info));
  t.true(ifRangeHolds(lastModified, info));
  t.false(ifRangeHolds('Tue, 02 Jan 2024 03:04:06 GMT', info));
  t.false(ifRangeHolds('not a date', info));
});

test('chooseRange', (t) => {
  const range = (value: string, ifRange?: string) => chooseRange({ range: value, ...(ifRange === undefined ? {} : { 'if-range': ifRange }) }, info);
  t.deepEqual(chooseRange({}, info), { kind: 'full' });
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
  t.deepEqual(range('bytes=0-9', info.etag), { kind: 'partial', range: { start: 0, end: 9 } });
  t.deepEqual(range('bytes=0-9', '"stale"'), { kind: 'full' });
  t.deepEqual(range('bytes=500-', '"stale"'), { kind: 'full' }, 'a failed If-Range ignores even a bad Range');
  t.deepEqual(chooseRange({ range: 'bytes=0-' }, { ...info, size: 0 }), { kind: 'unsatisfiable' });
  t.is(contentRange({ start: 0, end: 9 }, 100), 'bytes 0-9/100');
  t.is(unsatisfiedRange(100), 'bytes */100');
});

test('write preconditions (the early check of a PUT)', (t) => {
  t.true(writePreconditionsHold(undefined, {}));
  t.true(writePreconditionsHold(info.etag, {}));
  t.true(writePreconditionsHold(info.etag, { ifMatch: info.etag }));
  t.true(writePreconditionsHold(info.etag, { ifMatch: `"x", ${info.etag}` }));
  t.true(writePreconditionsHold(info.etag, { ifMatch: '*' }));
  t.false(writePreconditionsHold(undefined, { ifMatch: '*' }));
  t.true(writePreconditionsHold(info.etag, { ifMatch: `W/${info.etag}` }), 'If-Match accepts the weak form, as Personium does');
  t.false(writePreconditionsHold(info.etag, { ifMatch: '"x"' }));
  t.true(writePreconditionsHold(undefined, { ifNoneMatch: '*' }));
  t.false(writePreconditionsHold(info.etag, { ifNoneMatch: '*' }));
  t.false(writePreconditionsHold(info.etag, { ifNoneMatch: `W/${info.etag}` }));
  t.true(writePreconditionsHold(info.etag, { ifNoneMatch: '"x"' }));
});
