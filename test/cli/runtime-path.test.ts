import { createRequire } from 'node:module';
import test from 'ava';

test("the library's entry point loads none of the command line's dependencies", async (t) => {
  await import('../../lib/index.js');
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  t.true(loaded.some((path) => path.includes('/node_modules/yauzl/')), 'the probe sees CommonJS dependencies');
  t.deepEqual(loaded.filter((path) => path.includes('/node_modules/cli-progress/')), []);
});
