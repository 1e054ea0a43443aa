/** The documentation stands on its own and says what the code does. */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ERROR_CODES } from '../../lib/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function filesUnder(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

test('docs/protocol.md lists every error code with its exact message, and no other code', async (t) => {
  const text = await readFile(join(ROOT, 'docs/protocol.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const match of text.matchAll(/^\| (PR\d{3}-[A-Z]{2}-\d{4}) \| (.*?) \| .* \|$/gm)) rows.set(match[1] ?? '', match[2] ?? '');
  t.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, message] of Object.entries(ERROR_CODES)) t.is(rows.get(code), message, code);
});

test('nothing in the repository points outside it: no specification sections, no shared/ files', async (t) => {
  const files = [
    'README.md',
    'BENCHMARKS.md',
    ...(await filesUnder('docs', '.md')),
    ...(await filesUnder('lib', '.ts')),
    ...(await filesUnder('test', '.ts')),
    ...(await filesUnder('bench', '.ts')),
  ];
  const offenders: string[] = [];
  for (const file of files) {
    const text = await readFile(join(ROOT, file), 'utf8');
    text.split('\n').forEach((line, i) => {
      if (/\bSPEC\b|\.\.\/shared\/|test\/contract\//.test(line) && !line.includes('offenders')) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  t.deepEqual(offenders, []);
});

test('every relative link of the README and docs/ names a file that exists', async (t) => {
  for (const file of ['README.md', 'BENCHMARKS.md', ...(await filesUnder('docs', '.md'))]) {
    const text = await readFile(join(ROOT, file), 'utf8');
    for (const match of text.matchAll(/\]\((?!https?:|#)([^)#]+)(#[^)]*)?\)/g)) {
      const target = join(ROOT, file, '..', match[1] ?? '');
      await t.notThrowsAsync(readFile(target).catch(async () => readdir(target)), `${file} → ${match[1]}`);
    }
  }
});
