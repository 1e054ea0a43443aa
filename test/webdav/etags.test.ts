import test from 'ava';
import { matchHits, noneMatchHits, parseEntityTags, writePreconditionsHold } from '../../lib/webdav/etags.js';

const etag = '"3-1704164645678-abcd1234"';

test('entity-tag lists', (t) => {
  t.is(parseEntityTags(' * '), '*');
  t.deepEqual(parseEntityTags('"a", W/"b",junk, "c"'), [
    { weak: false, opaque: '"a"' },
    { weak: true, opaque: '"b"' },
    { weak: false, opaque: '"c"' },
  ]);
});

test('If-None-Match: exact, W/ form, lists and * match; others do not', (t) => {
  t.true(noneMatchHits(etag, etag));
  t.true(noneMatchHits(`W/${etag}`, etag));
  t.true(noneMatchHits(`"x", ${etag}`, etag));
  t.true(noneMatchHits('*', etag));
  t.false(noneMatchHits('"x", W/"y"', etag));
  t.false(noneMatchHits(etag.slice(1, -1), etag), 'unquoted is not an entity tag');
});

test('If-Match: a listed tag (W/ form too, as Personium) or * on an existing file; never without a file', (t) => {
  t.true(matchHits(etag, etag));
  t.true(matchHits(`"x", ${etag}`, etag));
  t.true(matchHits(`W/${etag}`, etag));
  t.true(matchHits('*', etag));
  t.false(matchHits('"x"', etag));
  t.false(matchHits('', etag));
  t.false(matchHits('*', undefined));
  t.false(matchHits(etag, undefined));
});

test('write preconditions (what a store checks at commit)', (t) => {
  t.true(writePreconditionsHold(undefined, {}));
  t.true(writePreconditionsHold(etag, {}));
  t.true(writePreconditionsHold(etag, { ifMatch: etag }));
  t.true(writePreconditionsHold(etag, { ifMatch: `"x", ${etag}` }));
  t.true(writePreconditionsHold(etag, { ifMatch: '*' }));
  t.false(writePreconditionsHold(undefined, { ifMatch: '*' }));
  t.true(writePreconditionsHold(etag, { ifMatch: `W/${etag}` }), 'If-Match accepts the weak form, as Personium does');
  t.false(writePreconditionsHold(etag, { ifMatch: '"x"' }));
  t.true(writePreconditionsHold(undefined, { ifNoneMatch: '*' }));
  t.false(writePreconditionsHold(etag, { ifNoneMatch: '*' }));
  t.false(writePreconditionsHold(etag, { ifNoneMatch: `W/${etag}` }));
  t.true(writePreconditionsHold(etag, { ifNoneMatch: '"x"' }));
  t.false(writePreconditionsHold(etag, { ifMatch: etag, ifNoneMatch: '*' }), 'both must hold');
});
