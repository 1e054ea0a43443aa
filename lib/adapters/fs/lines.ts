/**
 * Line handling for `.pjson` files of the Fs cell source, over the shared rules of
 * `snapshot/lines.ts`: reading record lines (as text, or as records already written back in the
 * module's form), counting them without decoding, and parsing one line into an {@link ODataRecord}.
 *
 * A *record line* is a `\n`-terminated line (the last one may lack the `\n`) that holds anything but
 * spaces, tabs and carriage returns; blank lines are skipped by both the splitter and the counter, so
 * the count always equals what the splitter yields.
 *
 * @module
 */
import { type LineRules, rewriteLines } from '../../jobs/record-lines.js';
import { LineSplitter, type LineTooLongError, recordProblem, toRecord } from '../../snapshot/lines.js';
import type { ODataRecord } from '../../types.js';

/** One record line of a file. */
export interface Line {
  /** The line's text, decoded as UTF-8, without its `\n` or a trailing `\r`. */
  readonly text: string;
  /** Its 1-based line number in the file (blank lines counted). */
  readonly number: number;
}

const NEWLINE = 0x0a;
/** A character other than space, tab and carriage return: a line with one is a record line. */
const CONTENT = /[^ \t\r]/;

/** Whether `buf[start, end)` holds a byte other than space, tab or carriage return. */
function hasContent(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return true;
  }
  return false;
}

/**
 * Yields the record lines of a byte stream, one at a time, holding at most one line (plus one chunk)
 * in memory. Throws a {@link LineTooLongError} as soon as a line exceeds `maxLineBytes`.
 */
export async function* readLines(source: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<Line> {
  const splitter = new LineSplitter(maxLineBytes);
  const record = (line: string, number: number): Line | undefined => {
    const text = recordText(line);
    return text === undefined ? undefined : { text, number };
  };
  for await (const chunk of source) {
    const lines = splitter.pushText(chunk);
    const first = splitter.lineNumber - lines.length + 1;
    for (let i = 0; i < lines.length; i += 1) {
      const found = record(lines[i] as string, first + i);
      if (found !== undefined) yield found;
    }
  }
  const last = splitter.end();
  const found = last === undefined ? undefined : record(last.toString('utf8'), splitter.lineNumber);
  if (found !== undefined) yield found;
}

/**
 * Yields the records of a `.pjson` byte stream as `.pjson` text in the module's form: pieces of
 * whole lines, each line `recordJson` of one record and `\n` (a stored line already in that form is
 * copied as it is, unparsed), in the order of the file. Reads the lines as {@link readLines} does
 * and refuses what {@link parseRecord} refuses, with the same errors, `name` naming the file in them.
 */
export async function* readRecordText(source: AsyncIterable<Uint8Array>, maxLineBytes: number, name: string): AsyncGenerator<Buffer> {
  const splitter = new LineSplitter(maxLineBytes);
  const rules = (first: number): LineRules => ({
    parse: (line, index) => {
      const text = recordText(line);
      return text === undefined ? undefined : parseRecord(text, `${name}:${first + index}`);
    },
  });
  for await (const chunk of source) {
    const first = splitter.lineNumber + 1;
    const piece = splitter.pushLines(chunk);
    const lines = piece === undefined ? undefined : rewriteLines(piece, rules(first));
    if (lines !== undefined && lines.length > 0) yield lines;
  }
  const last = splitter.end();
  const lines = last === undefined ? undefined : rewriteLines(last, rules(splitter.lineNumber));
  if (lines !== undefined && lines.length > 0) yield lines;
}

/** The text of a record line without a trailing `\r`, or `undefined` for a blank line. */
function recordText(line: string): string | undefined {
  if (!CONTENT.test(line)) return undefined;
  return line.endsWith('\r') ? line.slice(0, -1) : line;
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
  return toRecord(value);
}
