/**
 * The `.pjson` lines of a snapshot as an import stages them, as bytes: each line parsed and checked
 * as the reader checks a record, given the target cell's id (`_source.c`), and written back as its
 * `recordJson` and `\n`. {@link retargetLines} does one piece of whole lines; {@link stagedLines}
 * runs the pieces of one entry through it.
 *
 * Handing the transaction bytes spares an object per record crossing two async iterators (one
 * `await` each) and lets the records of a piece be parsed and written in one tight loop.
 *
 * @module
 */
import { recordJson } from '../snapshot/format.js';
import { LineSplitter } from '../snapshot/lines.js';
import { parseRecord } from '../snapshot/snapshot-json.js';
import { Utf8Batcher } from '../util/utf8-batcher.js';
import { timeSlicer } from '../util/yield.js';
import { retargetRecord } from './identity.js';

/** Bytes of an output batch before the batches of a piece are joined. */
const OUT_BATCH_BYTES = 64 * 1024;

/**
 * Rewrites a piece of whole `.pjson` lines (each ending with `\n`, except perhaps the last) for the
 * target cell. Every line must be a record, blank lines included: the first one that is not throws
 * the reader's error for it (`PR400-CM-0004` quoting the line, from `parseRecord`).
 */
export function retargetLines(piece: Uint8Array, cellId: string): Buffer {
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER);
  const texts = splitter.pushText(piece);
  const last = splitter.end();
  if (last !== undefined) texts.push(last.toString('utf8'));
  const batcher = new Utf8Batcher(OUT_BATCH_BYTES);
  const parts: Buffer[] = [];
  for (const text of texts) {
    const record = parseRecord(text);
    retargetRecord(record, cellId);
    const batch = batcher.pushLine(recordJson(record));
    if (batch !== undefined) parts.push(batch);
  }
  const rest = batcher.flush();
  if (rest !== undefined) parts.push(rest);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * Yields the staged `.pjson` bytes of one entry, whose pieces of whole lines `pieces` yields (the
 * reader's `recordLines`), each rewritten by {@link retargetLines}. A line that is not a record
 * throws its error only after the rest of the entry was read: a failed check of the entry
 * (`PR400-SN-0003`) wins. Lets the event loop run once each time slice is spent.
 */
export async function* stagedLines(pieces: AsyncIterable<Buffer>, cellId: string): AsyncGenerator<Buffer> {
  const iterator = pieces[Symbol.asyncIterator]();
  const slice = timeSlicer();
  let ended = false;
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) {
        ended = true;
        return;
      }
      let lines: Buffer;
      try {
        lines = retargetLines(next.value, cellId);
      } catch (error) {
        for (let rest = await iterator.next(); rest.done !== true; rest = await iterator.next()) void rest;
        ended = true;
        throw error;
      }
      const pause = slice();
      if (pause !== undefined) await pause;
      yield lines;
    }
  } finally {
    if (!ended) await iterator.return?.();
  }
}
