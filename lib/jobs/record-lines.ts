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
import { isUtf8 } from 'node:buffer';
import { recordJson } from '../snapshot/format.js';
import { LineSplitter } from '../snapshot/lines.js';
import { parseRecord } from '../snapshot/snapshot-json.js';
import { Utf8Batcher } from '../util/utf8-batcher.js';
import { timeSlicer } from '../util/yield.js';
import { retargetRecord } from './identity.js';
import { cValueSpan } from './record-splice.js';

const NEWLINE = 0x0a;
const NEWLINE_BYTES = Buffer.from('\n');

/** Bytes of an output batch before the batches of a piece are joined. */
const OUT_BATCH_BYTES = 64 * 1024;

/**
 * Rewrites a piece of whole `.pjson` lines (each ending with `\n`, except perhaps the last) for the
 * target cell. Every line must be a record, blank lines included: the first one that is not throws
 * the reader's error for it (`PR400-CM-0004` quoting the line, from `parseRecord`). A line already
 * written as the module writes it gets the target's `c` in place of its own (`cValueSpan`); any
 * other is written anew by `recordJson`. Either way the line is `recordJson` of the retargeted record.
 */
export function retargetLines(piece: Uint8Array, cellId: string): Buffer {
  const bytes = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER);
  const texts = splitter.pushText(bytes);
  const last = splitter.end();
  if (last !== undefined) texts.push(last.toString('utf8'));
  // Bytes are copied as they are only when they are valid UTF-8: else decoding changed them.
  const spliceable = isUtf8(bytes);
  const id = Buffer.from(JSON.stringify(cellId));
  const batcher = new Utf8Batcher(OUT_BATCH_BYTES);
  const parts: Buffer[] = [];
  const keep = (batch: Buffer | undefined): void => {
    if (batch !== undefined) parts.push(batch);
  };
  let start = 0;
  for (const text of texts) {
    const newline = bytes.indexOf(NEWLINE, start);
    const end = newline < 0 ? bytes.length : newline;
    const record = parseRecord(text);
    const span = spliceable ? cValueSpan(bytes, start, end, record) : undefined;
    if (span === undefined) {
      retargetRecord(record, cellId);
      keep(batcher.pushLine(recordJson(record)));
    } else {
      keep(batcher.pushBytes(bytes, start, span[0]));
      keep(batcher.pushBytes(id, 0, id.length));
      keep(batcher.pushBytes(bytes, span[1], end));
      keep(batcher.pushBytes(NEWLINE_BYTES, 0, 1));
    }
    start = end + 1;
  }
  keep(batcher.flush());
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
