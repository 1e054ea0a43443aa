/**
 * `.pjson` lines rewritten in the form the module writes records, as bytes: each line checked by
 * the caller's rule and written back as its `recordJson` and `\n`. A line already in that form is
 * copied (`recordLineSpan`), not parsed and serialised again. An import gives every record the
 * target cell's id (`_source.c`, {@link retargetLines}); an export's cell source gives its stored
 * lines as they are ({@link rewriteLines} with no `cellId`). {@link stagedLines} runs the pieces of
 * one snapshot entry through {@link retargetLines}.
 *
 * Handing on bytes spares an object per record crossing two async iterators (one `await` each) and
 * lets the records of a piece be parsed and written in one tight loop.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';
import { recordJson } from '../snapshot/format.js';
import { parseRecord } from '../snapshot/snapshot-json.js';
import type { ODataRecord } from '../types.js';
import { Utf8Batcher } from '../util/utf8-batcher.js';
import { timeSlicer } from '../util/yield.js';
import { retargetRecord } from './identity.js';
import { recordLineSpan } from './record-splice.js';

const NEWLINE = 0x0a;
const NEWLINE_BYTES = Buffer.from('\n');

/** Bytes of an output batch before the batches of a piece are joined. */
const OUT_BATCH_BYTES = 64 * 1024;

/** How {@link rewriteLines} reads the lines of a piece, and what it changes. */
export interface LineRules {
  /**
   * Parses the text of one line (decoded as UTF-8, without its `\n`), the `index`-th of the piece
   * counting from 0, into its record; gives `undefined` to drop the line, and throws for a line that
   * is not a record.
   */
  readonly parse: (text: string, index: number) => ODataRecord | undefined;
  /** When set, every record is given this `_source.c` (an import's target cell id). */
  readonly cellId?: string | undefined;
}

/**
 * Rewrites a piece of whole `.pjson` lines (each ending with `\n`, except perhaps the last) by
 * `rules`. A line already written as the module writes it is copied, with the target's `c` in place
 * of its own when `rules.cellId` is set (`recordLineSpan`), and is neither decoded nor parsed; any
 * other is decoded, parsed by `rules.parse` and written anew by `recordJson`. Either way each kept
 * line comes out as `recordJson` of its (retargeted) record and `\n`; the first line `rules.parse`
 * throws for stops the piece with that error. A piece whose lines are all kept as they are comes
 * back as the same memory, not a copy.
 */
export function rewriteLines(piece: Uint8Array, rules: LineRules): Buffer {
  const bytes = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  // Bytes are copied as they are only when they are valid UTF-8: else decoding changes them.
  const copyable = isUtf8(bytes);
  const { parse, cellId } = rules;
  const id = cellId === undefined ? undefined : Buffer.from(JSON.stringify(cellId));
  // Lines kept as they are, from the piece's start, are not copied until a line is not: a piece
  // of such lines only (an export of the module's own lines) is handed back itself.
  let verbatim = 0;
  let batcher: Utf8Batcher | undefined;
  const parts: Buffer[] = [];
  const out = (): Utf8Batcher => {
    if (batcher === undefined) {
      batcher = new Utf8Batcher(OUT_BATCH_BYTES);
      if (verbatim > 0) keep(batcher.pushBytes(bytes, 0, verbatim));
    }
    return batcher;
  };
  const keep = (batch: Buffer | undefined): void => {
    if (batch !== undefined) parts.push(batch);
  };
  for (let start = 0, index = 0; start < bytes.length; index += 1) {
    const newline = bytes.indexOf(NEWLINE, start);
    const end = newline < 0 ? bytes.length : newline;
    const span = copyable ? recordLineSpan(bytes, start, end) : undefined;
    if (span !== undefined && id === undefined) {
      if (batcher === undefined && newline >= 0 && verbatim === start) {
        verbatim = newline + 1;
      } else {
        keep(out().pushBytes(bytes, start, end));
        keep(out().pushBytes(NEWLINE_BYTES, 0, 1));
      }
    } else if (span !== undefined && id !== undefined && span[0] >= 0) {
      keep(out().pushBytes(bytes, start, span[0]));
      keep(out().pushBytes(id, 0, id.length));
      keep(out().pushBytes(bytes, span[1], end));
      keep(out().pushBytes(NEWLINE_BYTES, 0, 1));
    } else {
      // The long way (a `\n` byte is never part of a multi-byte sequence: the line decodes alone).
      const record = parse(bytes.toString('utf8', start, end), index);
      if (record !== undefined) {
        if (cellId !== undefined) retargetRecord(record, cellId);
        keep(out().pushLine(recordJson(record)));
      }
    }
    start = end + 1;
  }
  if (batcher === undefined) return verbatim === bytes.length ? bytes : bytes.subarray(0, verbatim);
  keep(batcher.flush());
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** The import's rule: every line, blank ones included, must be a record as the snapshot reader checks one. */
function snapshotRecord(text: string): ODataRecord {
  return parseRecord(text);
}

/**
 * Rewrites a piece of whole `.pjson` lines of a snapshot for the target cell: every line must be a
 * record, blank lines included, and the first one that is not throws the reader's error for it
 * (`PR400-CM-0004` quoting the line, from `parseRecord`). Each line comes out as `recordJson` of
 * its record with the target's `c`.
 */
export function retargetLines(piece: Uint8Array, cellId: string): Buffer {
  return rewriteLines(piece, { parse: snapshotRecord, cellId });
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
