/**
 * The shortcut for a `.pjson` line that is already written as the module writes records
 * (`recordJson`): an import makes it the target's line by replacing the bytes of its `_source.c`
 * value, and an export copies it as it is, neither serialising the record nor encoding UTF-8.
 * Serialising a record took about as long as parsing it (2.3 µs against 2.1 µs for a 360-byte
 * line, Node 20), and the two together were most of an import's work on a records-heavy cell.
 *
 * The shortcut must give exactly the bytes the long way gives. It is taken only when a scan of the
 * line's bytes proves that `JSON.stringify` of the parsed record would write the same bytes back:
 *
 * - the four fields in the module's order (`_index`, `_type`, `_source`, `_id`) and nothing else;
 * - no white space between tokens;
 * - in strings, only the escapes `JSON.stringify` itself writes for those characters (`\"`, `\\`,
 *   `\b`, `\f`, `\n`, `\r`, `\t`): any `\/` or `\u…` takes the long way;
 * - numbers as `JSON.stringify` writes them (`String(Number(text)) === text`);
 * - no key that starts with a digit (`JSON.stringify` writes integer-like keys first, whatever
 *   their place in the text);
 * - as many keys in the text as in the parsed `_source` (a key given twice is kept once by
 *   `JSON.parse`);
 * - for the import's splice, a `c` key directly in `_source`, written plainly (`"c"`).
 *
 * The caller has parsed the line (so it is JSON, and a record) and checked that the piece of lines
 * is valid UTF-8 (so every byte of a string stands for itself).
 *
 * @module
 */
import type { ODataRecord } from '../types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LETTER_C = 0x63;

/** The bytes before and between the record's four values, as `recordJson` writes them. */
const INDEX_KEY = Buffer.from('{"_index":');
const TYPE_KEY = Buffer.from(',"_type":');
const SOURCE_KEY = Buffer.from(',"_source":');
const ID_KEY = Buffer.from(',"_id":');

/** Whether `bytes` holds `expected` at `at`. */
function hasAt(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i += 1) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/**
 * The end of the string that starts (with its `"`) at `at`, just after its closing `"`; -1 when
 * there is no string there or it holds an escape `JSON.stringify` would not write.
 */
function stringEnd(bytes: Uint8Array, at: number, end: number): number {
  if (bytes[at] !== QUOTE) return -1;
  for (let i = at + 1; i < end; i += 1) {
    const byte = bytes[i];
    if (byte === QUOTE) return i + 1;
    if (byte === BACKSLASH) {
      const escaped = bytes[i + 1];
      // " \ b f n r t
      if (escaped !== 0x22 && escaped !== 0x5c && escaped !== 0x62 && escaped !== 0x66 && escaped !== 0x6e && escaped !== 0x72 && escaped !== 0x74) return -1;
      i += 1;
    }
  }
  return -1;
}

/** Whether a byte may be part of a JSON number or literal (`true`, `false`, `null`). */
function isScalarByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x45;
}

/** Whether the number written in `bytes[start, stop)` is written as `JSON.stringify` writes it. */
function isCanonicalNumber(bytes: Uint8Array, start: number, stop: number): boolean {
  // A plain integer of up to 15 digits, without a leading zero, is exact and written back the same.
  const digitsFrom = bytes[start] === 0x2d ? start + 1 : start;
  const digits = stop - digitsFrom;
  let plain = digits >= 1 && digits <= 15 && (bytes[digitsFrom] !== 0x30 || (digits === 1 && digitsFrom === start));
  for (let i = digitsFrom; plain && i < stop; i += 1) plain = (bytes[i] as number) >= 0x30 && (bytes[i] as number) <= 0x39;
  if (plain) return true;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, stop - start).toString('latin1');
  return String(Number(text)) === text;
}

/** Keys of a parsed JSON value, counted through every object and array in it. */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += countKeys(item);
    return count;
  }
  for (const key of Object.keys(value)) count += 1 + countKeys((value as Record<string, unknown>)[key]);
  return count;
}

/**
 * Scans the `_source` object that starts at `at`: resolves to where it ends, and the span of its
 * plain `c` value (-1, -1 when it has none), or `undefined` when it is not written as
 * `JSON.stringify` writes it or holds another number of keys than `keys`.
 */
function scanSource(bytes: Uint8Array, at: number, end: number, keys: number): { stop: number; cStart: number; cEnd: number } | undefined {
  if (bytes[at] !== OPEN_BRACE) return undefined;
  let depth = 0;
  let counted = 0;
  let cStart = -1;
  let cEnd = -1;
  let i = at;
  while (i < end) {
    const byte = bytes[i] as number;
    if (byte === QUOTE) {
      const after = stringEnd(bytes, i, end);
      if (after < 0) return undefined;
      if (bytes[after] === COLON) {
        // A key: none may start with a digit (integer-like keys are written first).
        const first = bytes[i + 1] as number;
        if (first >= 0x30 && first <= 0x39) return undefined;
        counted += 1;
        if (depth === 1 && after === i + 3 && first === LETTER_C) {
          if (cStart >= 0) return undefined;
          cStart = after + 1;
        }
        i = after + 1;
      } else {
        i = after;
      }
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth += 1;
      i += 1;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (depth === 1 && cStart >= 0 && cEnd < 0) cEnd = i;
      depth -= 1;
      i += 1;
      if (depth === 0) return counted === keys ? { stop: i, cStart, cEnd } : undefined;
    } else if (byte === COMMA) {
      if (depth === 1 && cStart >= 0 && cEnd < 0) cEnd = i;
      i += 1;
    } else if (isScalarByte(byte)) {
      let stop = i + 1;
      while (stop < end && isScalarByte(bytes[stop] as number)) stop += 1;
      const isLiteral = byte >= 0x61 && byte <= 0x7a;
      if (!isLiteral && !isCanonicalNumber(bytes, i, stop)) return undefined;
      i = stop;
    } else {
      // White space, or anything JSON.stringify would not write here.
      return undefined;
    }
  }
  return undefined;
}

/**
 * Whether the line `bytes[start, end)` (without its `\n`) is exactly `recordJson` of `record`, its
 * parse: `undefined` when it is not; else the byte span `[start, end)` of its `_source.c` value, or
 * `[-1, -1]` when `_source` has no plain `c` directly in it.
 */
export function scanRecordLine(bytes: Uint8Array, start: number, end: number, record: Pick<ODataRecord, '_source'>): [number, number] | undefined {
  if (!hasAt(bytes, start, INDEX_KEY)) return undefined;
  let at = stringEnd(bytes, start + INDEX_KEY.length, end);
  if (at < 0 || !hasAt(bytes, at, TYPE_KEY)) return undefined;
  at = stringEnd(bytes, at + TYPE_KEY.length, end);
  if (at < 0 || !hasAt(bytes, at, SOURCE_KEY)) return undefined;
  const source = scanSource(bytes, at + SOURCE_KEY.length, end, countKeys(record._source));
  if (source === undefined || !hasAt(bytes, source.stop, ID_KEY)) return undefined;
  at = stringEnd(bytes, source.stop + ID_KEY.length, end);
  if (at < 0 || at !== end - 1 || bytes[at] !== CLOSE_BRACE) return undefined;
  return [source.cStart, source.cEnd];
}

/**
 * The byte span `[start, end)` of the `_source.c` value in the line `bytes[start, end)` (without
 * its `\n`), when the line is exactly `recordJson` of `record`, its parse, and has a plain `c`;
 * else `undefined`.
 */
export function cValueSpan(bytes: Uint8Array, start: number, end: number, record: Pick<ODataRecord, '_source'>): [number, number] | undefined {
  const span = scanRecordLine(bytes, start, end, record);
  return span !== undefined && span[0] >= 0 ? span : undefined;
}
