/**
 * The command's own streams: a reader that goes away before the output comes (`… | head -1`) costs
 * the output it no longer wants, not the command: no unhandled `EPIPE`, and the exit status is the
 * command's own.
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { spawnCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

const JAVA_FIXTURE = fileURLToPath(new URL('../../fixtures/java/personium-style.zip', import.meta.url));

async function withStdoutClosed(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnCli(args);
  child.stdout?.destroy(); // the reader goes away before the command writes anything
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

test('stdout closed by its reader: verify of a valid snapshot still exits 0, and nothing is printed about it', async (t) => {
  const { code, stderr } = await withStdoutClosed(['verify', JAVA_FIXTURE]);
  t.is(stderr, '');
  t.is(code, 0);
});

test('stdout closed by its reader: a snapshot that fails verify still exits 1, and nothing is printed about the closed stdout', async (t) => {
  const notZip = join(await tempDir(t), 'notes.zip');
  await writeFile(notZip, 'not a zip');
  const { code, stderr } = await withStdoutClosed(['verify', notZip]);
  t.is(stderr, '');
  t.is(code, 1);
});
