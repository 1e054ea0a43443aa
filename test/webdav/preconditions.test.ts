/** The RFC 9110 section 13.2.2 evaluation, each precondition alone and the pairs where order decides. */
import test from 'ava';
import type { SnapshotInfo } from '../../lib/types.js';
import { type PreconditionHeaders, evaluatePreconditions, ifRangeHolds } from '../../lib/webdav/preconditions.js';

const modified = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
const info: SnapshotInfo = {
  name: 'a.zip',
  size: 100,
  etag: '"3-1704164645678-abcd1234"',
  contentType: 'application/zip',
  created: modified,
  modified,
};
const LAST_MODIFIED = 'Tue, 02 Jan 2024 03:04:05 GMT';
const BEFORE = 'Tue, 02 Jan 2024 03:04:04 GMT';
const AFTER = 'Wed, 03 Jan 2024 00:00:00 GMT';
const LATER = Date.UTC(2025, 0, 1);

const proceed = (rangeApplies = true) => ({ kind: 'proceed', rangeApplies, commit: {} });
const failed = (header: string) => ({ kind: 'failed', header });
const notModified = { kind: 'not-modified' };

interface Row {
  readonly headers: PreconditionHeaders;
  readonly get: unknown;
  readonly put: unknown;
}

const ROWS: Readonly<Record<string, Row>> = {
  'none': { headers: {}, get: proceed(), put: proceed() },
  'If-Match true': { headers: { 'if-match': info.etag }, get: { ...proceed(), commit: { ifMatch: info.etag } }, put: { ...proceed(), commit: { ifMatch: info.etag } } },
  'If-Match false': { headers: { 'if-match': '"nope"' }, get: failed('If-Match'), put: failed('If-Match') },
  'If-Match *': { headers: { 'if-match': '*' }, get: { ...proceed(), commit: { ifMatch: '*' } }, put: { ...proceed(), commit: { ifMatch: '*' } } },
  'If-Unmodified-Since true': { headers: { 'if-unmodified-since': LAST_MODIFIED }, get: { ...proceed(), commit: { ifMatch: info.etag } }, put: { ...proceed(), commit: { ifMatch: info.etag } } },
  'If-Unmodified-Since false': { headers: { 'if-unmodified-since': BEFORE }, get: failed('If-Unmodified-Since'), put: failed('If-Unmodified-Since') },
  'If-Unmodified-Since invalid: ignored': { headers: { 'if-unmodified-since': 'yesterday' }, get: proceed(), put: proceed() },
  'If-None-Match hit': { headers: { 'if-none-match': info.etag }, get: notModified, put: failed('If-None-Match') },
  'If-None-Match *': { headers: { 'if-none-match': '*' }, get: notModified, put: failed('If-None-Match') },
  'If-None-Match miss': { headers: { 'if-none-match': '"x"' }, get: { ...proceed(), commit: { ifNoneMatch: '"x"' } }, put: { ...proceed(), commit: { ifNoneMatch: '"x"' } } },
  'If-Modified-Since not modified': { headers: { 'if-modified-since': LAST_MODIFIED }, get: notModified, put: proceed() },
  'If-Modified-Since later': { headers: { 'if-modified-since': AFTER }, get: notModified, put: proceed() },
  'If-Modified-Since modified': { headers: { 'if-modified-since': BEFORE }, get: proceed(), put: proceed() },
  'If-Modified-Since invalid: ignored': { headers: { 'if-modified-since': 'yesterday' }, get: proceed(), put: proceed() },
  'If-Range ETag holds': { headers: { 'if-range': info.etag }, get: proceed(true), put: proceed() },
  'If-Range stale ETag': { headers: { 'if-range': '"stale"' }, get: proceed(false), put: proceed(false) },
  'If-Range exact date': { headers: { 'if-range': LAST_MODIFIED }, get: proceed(true), put: proceed(true) },
  'If-Range other date': { headers: { 'if-range': AFTER }, get: proceed(false), put: proceed(false) },
  // Pairs: the earlier step decides.
  'If-Match false beats If-None-Match miss': { headers: { 'if-match': '"nope"', 'if-none-match': '"x"' }, get: failed('If-Match'), put: failed('If-Match') },
  'If-Match true makes If-Unmodified-Since ignored': {
    headers: { 'if-match': info.etag, 'if-unmodified-since': BEFORE },
    get: { ...proceed(), commit: { ifMatch: info.etag } },
    put: { ...proceed(), commit: { ifMatch: info.etag } },
  },
  'If-Unmodified-Since false beats If-None-Match hit': { headers: { 'if-unmodified-since': BEFORE, 'if-none-match': '*' }, get: failed('If-Unmodified-Since'), put: failed('If-Unmodified-Since') },
  'If-Match true, then If-None-Match hit': { headers: { 'if-match': info.etag, 'if-none-match': info.etag }, get: notModified, put: failed('If-None-Match') },
  'If-None-Match miss makes If-Modified-Since ignored': {
    headers: { 'if-none-match': '"x"', 'if-modified-since': AFTER },
    get: { ...proceed(), commit: { ifNoneMatch: '"x"' } },
    put: { ...proceed(), commit: { ifNoneMatch: '"x"' } },
  },
  'If-Modified-Since not modified beats If-Range': { headers: { 'if-modified-since': AFTER, 'if-range': '"stale"' }, get: notModified, put: proceed(false) },
  'If-Match false beats If-Modified-Since': { headers: { 'if-match': '"nope"', 'if-modified-since': AFTER }, get: failed('If-Match'), put: failed('If-Match') },
};

for (const [name, row] of Object.entries(ROWS)) {
  test(`${name}: GET and HEAD, PUT and DELETE`, (t) => {
    t.deepEqual(evaluatePreconditions('GET', row.headers, info, LATER), row.get);
    t.deepEqual(evaluatePreconditions('HEAD', row.headers, info, LATER), row.get);
    t.deepEqual(evaluatePreconditions('PUT', row.headers, info, LATER), row.put);
    t.deepEqual(evaluatePreconditions('DELETE', row.headers, info, LATER), row.put);
  });
}

test('a PUT of a missing file: If-Match fails, If-None-Match holds, If-Unmodified-Since is ignored', (t) => {
  t.deepEqual(evaluatePreconditions('PUT', { 'if-match': '*' }, undefined), failed('If-Match'));
  t.deepEqual(evaluatePreconditions('PUT', { 'if-match': info.etag }, undefined), failed('If-Match'));
  t.deepEqual(evaluatePreconditions('PUT', { 'if-none-match': '*' }, undefined), { ...proceed(), commit: { ifNoneMatch: '*' } });
  t.deepEqual(evaluatePreconditions('PUT', { 'if-unmodified-since': BEFORE }, undefined), proceed());
});

test('If-Range: strong ETag equality, or the exact Last-Modified when it is at least a second old', (t) => {
  t.true(ifRangeHolds(info.etag, info, LATER));
  t.false(ifRangeHolds(`W/${info.etag}`, info, LATER), 'a weak tag never holds');
  t.false(ifRangeHolds('"stale"', info, LATER));
  t.true(ifRangeHolds(LAST_MODIFIED, info, LATER));
  t.false(ifRangeHolds('Tue, 02 Jan 2024 03:04:06 GMT', info, LATER));
  t.false(ifRangeHolds(BEFORE, info, LATER));
  t.false(ifRangeHolds('not a date', info, LATER));
  t.false(ifRangeHolds(LAST_MODIFIED, info, modified.getTime() + 100), 'a Last-Modified of this very second is weak');
  t.true(ifRangeHolds(LAST_MODIFIED, info, Date.UTC(2024, 0, 2, 3, 4, 6)), 'one second later it is strong');
  t.false(ifRangeHolds('W/"x"', { ...info, etag: 'W/"x"' }, LATER), 'a weak ETag is never strongly equal, even to itself');
});
