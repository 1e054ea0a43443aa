/**
 * The `.pjson` lines of a snapshot as an import stages them, as bytes: each line parsed and checked
 * as the reader checks a record, given the target cell's id (`_source.c`), and written back as its
 * `recordJson` and `\n`. {@link retargetLines} does one piece of whole lines (in a worker thread or
 * not, see `record-workers.ts`); {@link stagedLines} runs the pieces of one entry through it, several
 * at a time, in order.
 *
 * @module
 */
import { recordJson } from '../snapshot/format.js';
import { LineSplitter } from '../snapshot/lines.js';
import { parseRecord } from '../snapshot/snapshot-json.js';
import { Utf8Batcher } from '../util/utf8-batcher.js';
import { timeSlicer } from '../util/yield.js';
import { retargetRecord } from './identity.js';

/** What {@link retargetLines} made of a piece: its lines rewritten, or the first line that is not a record. */
export type RetargetResult = { readonly lines: Buffer } | { readonly badLine: string };

/** Bytes of an output batch before the pieces are joined. */
const OUT_BATCH_BYTES = 64 * 1024;

/**
 * Rewrites a piece of whole `.pjson` lines (each ending with `\n`, except perhaps the last) for the
 * target cell: every line must be a record, blank lines included, as `parseRecord` of the reader
 * decides; the first one that is not comes back as `badLine` (its text), and nothing else does.
 */
export function retargetLines(piece: Uint8Array, cellId: string): RetargetResult {
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER);
  const texts = splitter.pushText(piece);
  const last = splitter.end();
  if (last !== undefined) texts.push(last.toString('utf8'));
  const batcher = new Utf8Batcher(OUT_BATCH_BYTES);
  const parts: Buffer[] = [];
  for (const text of texts) {
    let record;
    try {
      record = parseRecord(text);
    } catch {
      return { badLine: text };
    }
    retargetRecord(record, cellId);
    const batch = batcher.pushLine(recordJson(record));
    if (batch !== undefined) parts.push(batch);
  }
  const rest = batcher.flush();
  if (rest !== undefined) parts.push(rest);
  return { lines: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts) };
}

/** Rewrites one piece of whole lines, somewhere; see {@link retargetLines}. */
export type Retargeter = (piece: Buffer) => Promise<RetargetResult>;

/** The outcome of one piece, settled, so that a piece failing while none waits for it is no unhandled rejection. */
type Settled = { ok: true; value: RetargetResult } | { ok: false; error: unknown };

/**
 * Yields the staged `.pjson` bytes of one entry, whose pieces of whole lines `pieces` yields (the
 * reader's `recordLines`), rewriting up to `inFlight` pieces at a time with `retarget` and yielding
 * them in order. A line that is not a record throws the reader's error for it (`PR400-CM-0004`),
 * after reading the rest of the entry: a failed check of the entry (`PR400-SN-0003`) wins.
 */
export async function* stagedLines(pieces: AsyncIterable<Buffer>, retarget: Retargeter, inFlight: number): AsyncGenerator<Buffer> {
  const iterator = pieces[Symbol.asyncIterator]();
  const queue: Promise<Settled>[] = [];
  const slice = timeSlicer();
  let ended = false;
  try {
    for (;;) {
      while (!ended && queue.length < inFlight) {
        const next = await iterator.next();
        if (next.done === true) ended = true;
        else queue.push(retarget(next.value).then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error })));
      }
      const head = queue.shift();
      if (head === undefined) return;
      const settled = await head;
      if (!settled.ok) throw settled.error;
      const result = settled.value;
      if ('badLine' in result) {
        // The rest of the entry is read (and checked) first; then the reader's own error for the line.
        for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) void next;
        ended = true;
        parseRecord(result.badLine);
        throw new Error('a line refused as a record was parsed as one');
      }
      const pause = slice();
      if (pause !== undefined) await pause;
      yield result.lines;
    }
  } finally {
    if (!ended) await iterator.return?.();
  }
}
