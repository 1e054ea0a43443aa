import { Writable } from 'node:stream';
import test from 'ava';
import { formatBytes, formatSeconds, startProgress } from '../../lib/cli/progress.js';

/** A stream that records what is written; a terminal when `tty`. */
function screen(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  Object.assign(stream, { isTTY: tty, columns: 120 });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

test('not a terminal: one plain line at every tenth, with elapsed time and an ETA, then the closing line', (t) => {
  const { stream, text } = screen(false);
  const progress = startProgress({ label: 'export x', total: 100, unit: 'percent', stream });
  for (let percent = 0; percent <= 100; percent += 1) progress.update(percent);
  progress.update(100);
  progress.stop('export x: done');
  const lines = text().split('\n');
  t.is(lines.length, 13, text());
  t.is(lines[0], 'export x: 0%, 0s elapsed');
  t.regex(lines[5] ?? '', /^export x: 50%, \d+s elapsed, ETA \d+s$/);
  t.regex(lines[10] ?? '', /^export x: 100%, \d+s elapsed$/);
  t.is(lines[11], 'export x: done');
  t.false(/[\r\u001b]/.test(text()));
});

test('not a terminal, bytes: the amounts in binary units', (t) => {
  const { stream, text } = screen(false);
  const progress = startProgress({ label: 'download a.zip', total: 3 * 1024 * 1024, unit: 'bytes', stream });
  progress.update(1.5 * 1024 * 1024);
  progress.stop();
  t.regex(text(), /^download a\.zip: 0% \(0 B of 3\.0 MiB\), \d+s elapsed\ndownload a\.zip: 50% \(1\.5 MiB of 3\.0 MiB\), \d+s elapsed, ETA \d+s\n$/);
});

test('a terminal: a live bar redrawn in place, with the percentage, the amount, elapsed time and ETA', (t) => {
  const { stream, text } = screen(true);
  const progress = startProgress({ label: 'upload a.zip', total: 2048, unit: 'bytes', stream });
  progress.update(1024);
  progress.update(2048);
  progress.stop('upload: created');
  const out = text();
  t.true(out.includes('\u001b['), 'cursor control');
  t.regex(out, /upload a\.zip \[[█░]{30}\] 100% 2\.0 KiB of 2\.0 KiB \| \d+s elapsed \| ETA \d+s/);
  t.true(out.endsWith('upload: created\n'));
});

test('formatBytes and formatSeconds', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1536), '1.5 KiB');
  t.is(formatBytes(5 * 1024 ** 3), '5.0 GiB');
  t.is(formatSeconds(0.4), '0s');
  t.is(formatSeconds(65), '1m05s');
  t.is(formatSeconds(3 * 3600 + 120), '3h02m');
});
