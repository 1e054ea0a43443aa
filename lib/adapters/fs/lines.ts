/**
 * Line handling for `.pjson` files: splitting a byte stream into lines with a length guard, counting
 * record lines without decoding them, and parsing one line into an {@link ODataRecord}.
 *
 * A *record line* is a `\n`-terminated line (the last one may lack the `\n`) that holds anything but
 * spaces, tabs and carriage returns; blank lines are skipped by both the splitter and the counter, so
 * the count always equals what the splitter yields.
 *
 * @module
 */
import type { ODataRecord } from '../../types.js';

/** One record line of a file. */
export interface Line {
  /** The line's text, decoded as UTF-8, without its `\n` or a trailing `\r`. */
  readonly text: string;
  /** Its 1-based line number in the file (blank lines counted). */
  readonly number: number;
}

const NEWLINE = 0x0a;

/** Whether `buf[start, end)` holds a byte other than space, tab or carriage return. */
function hasContent(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return true;
  }
  return false;
}

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

/**
 * Yields the record lines of a byte stream, one at a time, holding at most one line (plus one chunk)
 * in memory. Throws a {@link LineTooLongError} as soon as a line exceeds `maxLineBytes`.
 */
export async function* readLines(source: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let pending = 0;
  let number = 0;
  const finish = (tail: Buffer): Line | undefined => {
    number++;
    const line = parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    parts = [];
    pending = 0;
    if (line.length > maxLineBytes) throw new LineTooLongError(number, maxLineBytes);
    if (!hasContent(line, 0, line.length)) return undefined;
    const end = line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return { text: line.toString('utf8', 0, end), number };
  };
  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        if (start < chunk.length) {
          pending += chunk.length - start;
          if (pending > maxLineBytes) throw new LineTooLongError(number + 1, maxLineBytes);
          parts.push(chunk.subarray(start));
        }
        break;
      }
      const line = finish(chunk.subarray(start, nl));
      if (line !== undefined) yield line;
      start = nl + 1;
    }
  }
  if (pending > 0) {
    const line = finish(Buffer.alloc(0));
    if (line !== undefined) yield line;
  }
}

/** Counts the record lines of a byte stream without decoding or holding them. */
export async function countLines(source: AsyncIterable<Uint8Array>): Promise<number> {
  let count = 0;
  let content = false;
  for await (const chunk of source) {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (!content) content = hasContent(chunk, pos, end);
      if (nl === -1) break;
      if (content) count++;
      content = false;
      pos = nl + 1;
    }
  }
  return content ? count + 1 : count;
}

/** Whether a value is a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that a value has the shape of an {@link ODataRecord}: string `_index`, `_type` and `_id`, and
 * an object `_source`. Returns the problem, or `undefined` when it is fine.
 */
export function recordProblem(value: unknown): string | undefined {
  if (!isJsonObject(value)) return 'not a JSON object';
  for (const key of ['_index', '_type', '_id'] as const) {
    if (typeof value[key] !== 'string') return `${key} is not a string`;
  }
  if (!isJsonObject(value['_source'])) return '_source is not an object';
  return undefined;
}

/**
 * Parses one line (or the whole of `cell.json`) into a record. `where` names it in the error
 * (a file and line, never the content).
 */
export function parseRecord(text: string, where: string): ODataRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`Invalid JSON at ${where}`);
  }
  const problem = recordProblem(value);
  if (problem !== undefined) throw new Error(`Invalid record at ${where}: ${problem}`);
  const v = value as Record<string, unknown>;
  return {
    _index: v['_index'] as string,
    _type: v['_type'] as string,
    _source: v['_source'] as Record<string, unknown>,
    _id: v['_id'] as string,
  };
}
