import test from 'ava';
import { cellNameOf, cellUrlOf } from '../../lib/cli/remote.js';
import { UsageError } from '../../lib/cli/usage.js';

test('cell URLs: path and host mode, normalized to end in /; the cell name from either', (t) => {
  t.is(cellUrlOf('http://127.0.0.1:8080/alice').href, 'http://127.0.0.1:8080/alice/');
  t.is(cellUrlOf('https://unit.example/api/alice/?x=1#y').href, 'https://unit.example/api/alice/');
  t.is(cellNameOf(cellUrlOf('http://127.0.0.1:8080/alice')), 'alice');
  t.is(cellNameOf(cellUrlOf('http://alice.localhost:8080')), 'alice');
  t.throws(() => cellUrlOf('alice'), { instanceOf: UsageError, message: /^not a URL: alice/ });
  t.throws(() => cellUrlOf('ftp://unit/alice'), { instanceOf: UsageError, message: 'not an http(s) URL: ftp://unit/alice' });
  t.throws(() => cellUrlOf('http://me:secret@unit/alice'), { instanceOf: UsageError, message: /^put no credentials in the cell URL/ });
});
