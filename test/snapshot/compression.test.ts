import { randomBytes } from 'node:crypto';
import test from 'ava';
import { TRIAL_BYTES, compressionOf, isPrecompressedType, worthDeflating } from '../../lib/snapshot/compression.js';

test('already-compressed content types, parameters and case ignored', (t) => {
  t.true(isPrecompressedType('image/jpeg'));
  t.true(isPrecompressedType('IMAGE/PNG; q=1'));
  t.true(isPrecompressedType('video/mp4'));
  t.true(isPrecompressedType('audio/ogg'));
  t.true(isPrecompressedType('application/zip'));
  t.true(isPrecompressedType('application/gzip'));
  t.true(isPrecompressedType('application/x-7z-compressed'));
  t.true(isPrecompressedType('application/vnd.openxmlformats-officedocument.wordprocessingml.document'));
  t.false(isPrecompressedType('text/plain'));
  t.false(isPrecompressedType('image/svg+xml'));
  t.false(isPrecompressedType(undefined));
});

test('the trial deflate: repetitive heads are worth it, random ones and empty ones are not', (t) => {
  t.true(worthDeflating(Buffer.alloc(TRIAL_BYTES, 'a')));
  t.false(worthDeflating(randomBytes(TRIAL_BYTES)));
  t.false(worthDeflating(Buffer.alloc(0)));
});

test('compressionOf: the content type first, then a trial of the head only', (t) => {
  const text = Buffer.alloc(TRIAL_BYTES * 4, 'x');
  t.is(compressionOf('text/plain', text), true);
  t.is(compressionOf(undefined, text), true);
  t.is(compressionOf('image/png', text), false, 'a precompressed type is stored whatever its bytes');
  const randomHead = Buffer.concat([randomBytes(TRIAL_BYTES), Buffer.alloc(TRIAL_BYTES * 3, 'x')]);
  t.is(compressionOf('text/plain', randomHead), false, 'judged by its first TRIAL_BYTES');
});

test('compressionOf: a file no longer than the trial is its own trial, deflated once by the zip writer', (t) => {
  t.is(compressionOf('text/plain', Buffer.alloc(TRIAL_BYTES, 'x')), 'auto');
  t.is(compressionOf(undefined, Buffer.from('one line\n')), 'auto');
  t.is(compressionOf('image/png', Buffer.from('one line\n')), false);
  t.is(compressionOf('text/plain', Buffer.alloc(0)), false, 'an empty file is stored');
});
