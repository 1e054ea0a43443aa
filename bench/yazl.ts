/**
 * Why the snapshot writer is not yazl: the same N small entries written by yazl and by our
 * ZipWriter, in the same run, with time and peak memory (each in its own process).
 *
 *   npx tsx bench/yazl.ts [N ...]     (default: 5000 20000 60000)
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yazl from 'yazl';
import { ZipWriter } from '../lib/snapshot/zip.js';

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);

function entry(i: number): Buffer {
  return Buffer.from(`{"i":"entry-${i}","t":"dav.file","p":${i},"u":${i * 7},"note":"${'x'.repeat(i % 200)}"}`);
}

async function child(writer: string, count: number, out: string): Promise<void> {
  const started = performance.now();
  if (writer === 'yazl') {
    const zip = new yazl.ZipFile();
    const done = pipeline(zip.outputStream, createWriteStream(out));
    for (let i = 0; i < count; i += 1) zip.addBuffer(entry(i), `20_webdav/f${i}/.pmeta`);
    zip.end();
    await done;
  } else {
    const file = createWriteStream(out);
    const zip = new ZipWriter(file, { mtime: new Date() });
    for (let i = 0; i < count; i += 1) await zip.addBuffer(`20_webdav/f${i}/.pmeta`, entry(i), 'auto');
    await zip.finish();
    file.end();
    await new Promise<void>((resolve) => file.once('finish', () => resolve()));
  }
  const ms = Math.round(performance.now() - started);
  process.stdout.write(JSON.stringify({ ms, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] ?? '', Number(process.argv[4]), process.argv[5] ?? '');
} else {
  const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
  const work = await mkdtemp(join(tmpdir(), 'kcs-yazl-'));
  try {
    console.log('| entries | yazl | ours | ratio | yazl peak RSS | our peak RSS |');
    console.log('|---|---|---|---|---|---|');
    for (const count of counts.length > 0 ? counts : [5000, 20000, 60000]) {
      const measure = async (writer: string) =>
        JSON.parse((await run(process.execPath, ['--import=tsx', SELF, 'child', writer, String(count), join(work, `${writer}.zip`)])).stdout) as {
          ms: number;
          maxRssMb: number;
        };
      const theirs = await measure('yazl');
      const ours = await measure('ours');
      console.log(`| ${count} | ${theirs.ms} ms | ${ours.ms} ms | ${(theirs.ms / ours.ms).toFixed(1)} | ${theirs.maxRssMb} MB | ${ours.maxRssMb} MB |`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
