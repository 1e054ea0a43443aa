import { randomBytes } from 'node:crypto';
import test from 'ava';
import { ByteSlabs } from '../../lib/util/byte-slabs.js';

test('bytes appended in any sizes come back in order, across slab boundaries', (t) => {
  const slabs = new ByteSlabs();
  const parts = [randomBytes(10), randomBytes(1024 * 1024 - 5), randomBytes(3 * 1024 * 1024), Buffer.alloc(0), randomBytes(7)];
  for (const part of parts) slabs.append(part);
  const all = Buffer.concat(parts);
  t.is(slabs.length, all.length);
  t.true(Buffer.concat(slabs.chunks()).equals(all));
  t.true(slabs.chunks().every((chunk) => chunk.length > 0));
});
