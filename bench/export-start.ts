/**
 * The event loop's longest block in the first seconds of an export, for the first export of a host
 * process and for the exports after it in the same process. Where the polling benchmark's p99 tail
 * comes from: a long-running host pays the first export's start once, every later export's start
 * each time. No load runs; the host (`server.ts`, memory job store) runs in its own process and
 * reports its event loop's longest delay (`/__loop`, a 1 ms resolution monitor) over the window.
 * Each round starts a fresh host and runs four exports of the same cell one after another, each
 * cancelled after the window.
 *
 *   npx tsx bench/export-start.ts [--rounds N] [cellMb] [windowMs]   (default 3 rounds, 1000 MB,
 *                                                                   a 1500 ms window)
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelExport, json, startExport, startHost } from './host.js';
import { makeCell } from './make-cell.js';
import { median, takeRounds } from './rounds.js';

const EXPORTS = 4;
const args = process.argv.slice(2);
const rounds = takeRounds(args);
const mb = Number(args[0] ?? 1000);
const windowMs = Number(args[1] ?? 1500);
if (!(mb > 0) || !(windowMs > 0)) throw new Error('usage: export-start.ts [--rounds N] [cellMb] [windowMs]');

const work = await mkdtemp(join(tmpdir(), 'kcs-start-'));
const children: ChildProcess[] = [];
try {
  await mkdir(join(work, 'cells'));
  await makeCell(join(work, 'cells'), 'source', mb);
  console.log(`node ${process.version}; a ${mb} MB cell; the event loop's longest block (ms) in the first ${windowMs} ms of each export, no load\n`);
  console.log(`| round | ${Array.from({ length: EXPORTS }, (_, i) => (i === 0 ? 'first export of the process' : `export ${i + 1}`)).join(' | ')} |`);
  console.log(`|---|${'---|'.repeat(EXPORTS)}`);
  const byExport: number[][] = Array.from({ length: EXPORTS }, () => []);
  for (let round = 1; round <= rounds; round += 1) {
    const host = await startHost({ DATA_DIR: work });
    children.push(host.child);
    try {
      await sleep(1000); // the host settled after its start
      const blocks: number[] = [];
      for (let i = 0; i < EXPORTS; i += 1) {
        await json(`${host.base}/__loop`); // resets the monitor
        await startExport(host.base, `start-${round}-${i}`);
        await sleep(windowMs);
        blocks.push(Math.round(Number((await json(`${host.base}/__loop`))['maxMs'])));
        await cancelExport(host.base);
        await sleep(1000);
      }
      blocks.forEach((ms, i) => byExport[i]?.push(ms));
      console.log(`| ${round} | ${blocks.join(' | ')} |`);
    } finally {
      host.child.kill('SIGTERM');
    }
  }
  console.log(`| median | ${byExport.map((values) => Math.round(median(values))).join(' | ')} |`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
}
