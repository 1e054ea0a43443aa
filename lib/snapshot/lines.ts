/**
 * The one home of the `.pjson` rules: splitting a byte stream into `\n`-terminated lines with a length
 * limit, what a record is, and writing records as lines. The snapshot reader and the Fs cell source both use them; each decides
 * only what a bad line means to it (an error code, or a blank line to skip).
 */
import type { ODataRecord } from '../types.js';
import { isJsonObject } from '../util/json.js';
import { Utf8Batcher } from '../util/utf8-batcher.js';
import { timeSlicer } from '../util/yield.js';
import { recordJson } from './format.js';

/** Raised when a line is longer than the limit. */
export class LineTooLongError extends Error {
  /**
   * @param lineNumber - the 1-based number of the offending line.
   * @param maxLineBytes - the limit it exceeded.
   */
  constructor(
    readonly lineNumber: number,
    readonly maxLineBytes: number,
  ) {
    super(`Line ${lineNumber} is longer than ${maxLineBytes} bytes`);
    this.name = 'LineTooLongError';
  }
}

const NEWLINE = 0x0a;
/**
 * Bytes decoded by one call of {@link LineSplitter.pushText}. Strings of more than about 64 KiB are
 * allocated outside V8's young generation and cost far more to make and collect (measured on Node 20:
 * decoding the same records in 64 KiB pieces took ten times as long as in 16 KiB pieces).
 */
const DECODE_BYTES = 16 * 1024;

/**
 * Splits a byte stream into lines, one chunk at a time, holding at most one line (plus the chunk):
 * each line is returned without its `\n` (a `\r` before it is kept), and a line longer than
 * `maxLineBytes` throws a {@link LineTooLongError} as soon as that many bytes have come without a `\n`.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #parts: Buffer[] = [];
  #length = 0;
  #number = 0;

  /** @param maxLineBytes - the longest line accepted, in bytes. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** The 1-based number of the last line returned (0 before the first). */
  get lineNumber(): number {
    return this.#number;
  }

  /** The lines that `chunk` completes, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const newline = bytes.indexOf(NEWLINE, start);
      const stop = newline < 0 ? bytes.length : newline;
      if (stop > start) {
        this.#length += stop - start;
        if (this.#length > this.#maxLineBytes) throw new LineTooLongError(this.#number + 1, this.#maxLineBytes);
        this.#parts.push(bytes.subarray(start, stop));
      }
      if (newline < 0) return lines;
      lines.push(this.#take());
      start = newline + 1;
    }
  }

  /**
   * Like {@link LineSplitter.push}, with the lines decoded as UTF-8: the complete lines of a chunk are
   * decoded a few kilobytes at a time rather than one call per short line. (A `\n` byte is never part
   * of a multi-byte sequence, so the text is the same as decoding each line alone.)
   */
  pushText(chunk: Uint8Array): string[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      this.push(bytes);
      return [];
    }
    const count = this.#countLines(bytes, lastNewline);
    const lines: string[] = [];
    let start = 0;
    if (this.#parts.length > 0) {
      const newline = bytes.indexOf(NEWLINE);
      lines.push(Buffer.concat([...this.#parts, bytes.subarray(0, newline)]).toString('utf8'));
      this.#parts = [];
      this.#length = 0;
      start = newline + 1;
    }
    while (start <= lastNewline) {
      let end = bytes.lastIndexOf(NEWLINE, Math.min(lastNewline, start + DECODE_BYTES));
      if (end < start) end = bytes.indexOf(NEWLINE, start);
      for (const line of bytes.toString('utf8', start, end).split('\n')) lines.push(line);
      start = end + 1;
    }
    this.#number += count;
    if (lastNewline + 1 < bytes.length) this.push(bytes.subarray(lastNewline + 1));
    return lines;
  }

  /**
   * Like {@link LineSplitter.push}, with the lines that `chunk` completes as one buffer (each line
   * with its `\n`), or `undefined` when it completes none: for a consumer that hands whole lines on
   * as bytes. The lines are checked against the limit all the same.
   */
  pushLines(chunk: Uint8Array): Buffer | undefined {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lastNewline = bytes.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      this.push(bytes);
      return undefined;
    }
    this.#number += this.#countLines(bytes, lastNewline);
    const head = bytes.subarray(0, lastNewline + 1);
    const lines = this.#parts.length === 0 ? head : Buffer.concat([...this.#parts, head]);
    this.#parts = [];
    this.#length = 0;
    if (lastNewline + 1 < bytes.length) this.push(bytes.subarray(lastNewline + 1));
    return lines;
  }

  /**
   * Counts the lines of `bytes` up to its last newline, the pending part included in the first, and
   * throws a {@link LineTooLongError} (counting the lines before it) for one over the limit.
   */
  #countLines(bytes: Buffer, lastNewline: number): number {
    let count = 0;
    for (let start = 0; start <= lastNewline; count += 1) {
      const newline = bytes.indexOf(NEWLINE, start);
      const length = newline - start + (count === 0 ? this.#length : 0);
      if (length > this.#maxLineBytes) {
        this.#number += count;
        throw new LineTooLongError(this.#number + 1, this.#maxLineBytes);
      }
      start = newline + 1;
    }
    return count;
  }

  /** The last line when the stream did not end with `\n`, else `undefined`. */
  end(): Buffer | undefined {
    return this.#length > 0 ? this.#take() : undefined;
  }

  #take(): Buffer {
    const line = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    this.#number += 1;
    return line;
  }
}

/**
 * What is wrong with a value as an {@link ODataRecord} (string `_index`, `_type` and `_id`, an object
 * `_source`), or `undefined` when it is one.
 */
export function recordProblem(value: unknown): string | undefined {
  if (!isJsonObject(value)) return 'not a JSON object';
  for (const key of ['_index', '_type', '_id'] as const) {
    if (typeof value[key] !== 'string') return `${key} is not a string`;
  }
  if (!isJsonObject(value['_source'])) return '_source is not an object';
  return undefined;
}

/** The record a value is, when {@link recordProblem} found nothing wrong; only its four fields are kept. */
export function toRecord(value: unknown): ODataRecord {
  const v = value as Record<string, unknown>;
  return {
    _index: v['_index'] as string,
    _type: v['_type'] as string,
    _source: v['_source'] as Record<string, unknown>,
    _id: v['_id'] as string,
  };
}

/** Bytes of a batch of `.pjson` text. */
const BATCH_BYTES = 64 * 1024;

/**
 * Yields records as `.pjson` text (each record's {@link recordJson} and `\n`), in UTF-8 batches of
 * about 64 KiB. `each` sees every record before it is written, with its 1-based number, and may throw
 * to stop. Before each record it awaits what `slice` returns, if anything: by default a turn of the
 * event loop once each time slice is spent (a background job passes its pacer's yielder).
 */
export async function* recordBatches(
  records: AsyncIterable<ODataRecord>,
  each?: (record: ODataRecord, number: number) => void,
  slice: () => Promise<void> | undefined = timeSlicer(),
): AsyncGenerator<Buffer> {
  const batcher = new Utf8Batcher(BATCH_BYTES);
  let number = 0;
  for await (const record of records) {
    const pause = slice();
    if (pause !== undefined) await pause;
    each?.(record, ++number);
    const batch = batcher.pushLine(recordJson(record));
    if (batch !== undefined) yield batch;
  }
  const last = batcher.flush();
  if (last !== undefined) yield last;
}
