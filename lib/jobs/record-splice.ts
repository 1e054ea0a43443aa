/**
 * The shortcut for a `.pjson` line that is already written as the module writes records
 * (`recordJson`): an import makes it the target's line by replacing the bytes of its `_source.c`
 * value, and an export copies it as it is, neither parsing the record, nor serialising it, nor
 * decoding or encoding UTF-8. Parsing, serialising and decoding a record took about 2.7 µs for a
 * 360-byte line (Node 20) and made most of the garbage of an import or export of a records-heavy
 * cell; the scan below takes about a third of that and makes no garbage.
 *
 * {@link recordLineSpan} accepts a line only when its bytes prove that it is valid JSON, a record,
 * and exactly what `JSON.stringify` writes for the record `JSON.parse` makes of it:
 *
 * - the four fields in the module's order (`_index`, `_type`, `_source`, `_id`) and nothing else,
 *   strings for three of them and an object for `_source`;
 * - the JSON grammar, with no white space between tokens;
 * - in strings, no control character (JSON forbids them) and only the escapes `JSON.stringify` itself
 *   writes for those characters (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`): any `\/` or `\u…` takes
 *   the long way;
 * - numbers as `JSON.stringify` writes them (`String(Number(text)) === text`), and the literals
 *   `true`, `false` and `null`;
 * - no key that starts with a digit (`JSON.stringify` writes integer-like keys first, whatever
 *   their place in the text), and no key given twice in one object (`JSON.parse` keeps one);
 * - at most {@link MAX_DEPTH} levels of nesting and {@link MAX_KEYS} keys in an object (past those
 *   the check would cost more than the long way).
 *
 * The caller has checked that the piece of lines is valid UTF-8 (so every byte of a string stands
 * for itself). Any line the scan does not accept takes the long way: parsed, checked, written anew.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LETTER_C = 0x63;

/** Deepest nesting the scan follows inside `_source` (`_source` itself is level 1). */
export const MAX_DEPTH = 64;
/** Most keys the scan checks for repeats in one object. */
export const MAX_KEYS = 64;

/** The bytes before and between the record's four values, as `recordJson` writes them. */
const INDEX_KEY = Buffer.from('{"_index":');
const TYPE_KEY = Buffer.from(',"_type":');
const SOURCE_KEY = Buffer.from(',"_source":');
const ID_KEY = Buffer.from(',"_id":');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** Where the keys of the open objects start and end, as a stack (the scan runs on one thread). */
const keyStarts = new Int32Array(MAX_DEPTH * MAX_KEYS);
const keyEnds = new Int32Array(MAX_DEPTH * MAX_KEYS);
/** For each open level: where its keys start in the key stack, or -1 for an array. */
const levelKeys = new Int32Array(MAX_DEPTH + 1);

/** Whether `bytes[at, end)` starts with `expected`. */
function hasAt(bytes: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  if (at + expected.length > end) return false;
  for (let i = 0; i < expected.length; i += 1) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/**
 * The end of the string that starts (with its `"`) at `at`, just after its closing `"`; -1 when
 * there is no string there, it does not close before `end`, or it holds a control character or an
 * escape `JSON.stringify` would not write.
 */
function stringEnd(bytes: Uint8Array, at: number, end: number): number {
  if (at >= end || bytes[at] !== QUOTE) return -1;
  for (let i = at + 1; i < end; i += 1) {
    const byte = bytes[i] as number;
    if (byte === QUOTE) return i + 1;
    if (byte < 0x20) return -1;
    if (byte === BACKSLASH) {
      const escaped = bytes[i + 1];
      // " \ b f n r t
      if (escaped !== 0x22 && escaped !== 0x5c && escaped !== 0x62 && escaped !== 0x66 && escaped !== 0x6e && escaped !== 0x72 && escaped !== 0x74) return -1;
      i += 1;
    }
  }
  return -1;
}

/** Whether a byte may be part of a number as `JSON.stringify` writes one. */
function isNumberByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x65;
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

/** Whether the key `bytes[start, stop)` equals one of the keys `keyStarts/keyEnds[from, to)`. */
function isRepeat(bytes: Uint8Array, start: number, stop: number, from: number, to: number): boolean {
  const length = stop - start;
  for (let k = from; k < to; k += 1) {
    const otherStart = keyStarts[k] as number;
    if ((keyEnds[k] as number) - otherStart !== length) continue;
    let same = true;
    for (let i = 1; same && i < length - 1; i += 1) same = bytes[start + i] === bytes[otherStart + i];
    if (same) return true;
  }
  return false;
}

/**
 * Reads the key that starts at `at` in an object whose keys start at `levelStart` of the key stack,
 * which holds `keys` keys: checks it (a string, followed by `:`, not starting with a digit, not given
 * before in the object, within {@link MAX_KEYS}) and pushes it. Returns where its `:` is, or -1.
 */
function pushKey(bytes: Uint8Array, at: number, end: number, levelStart: number, keys: number): number {
  const after = stringEnd(bytes, at, end);
  if (after < 0 || bytes[after] !== COLON) return -1;
  const first = bytes[at + 1] as number;
  if (first >= 0x30 && first <= 0x39) return -1;
  if (keys - levelStart >= MAX_KEYS || isRepeat(bytes, at, after, levelStart, keys)) return -1;
  keyStarts[keys] = at;
  keyEnds[keys] = after;
  return after;
}

/** The scan of a `_source` value: where it ends, and the span of its plain `c` value (-1, -1: none). */
interface SourceScan {
  readonly stop: number;
  readonly cStart: number;
  readonly cEnd: number;
}

/**
 * Scans the `_source` object that starts at `at`, following the JSON grammar with the rules of the
 * module comment; `undefined` when it breaks one.
 */
function scanSource(bytes: Uint8Array, at: number, end: number): SourceScan | undefined {
  if (bytes[at] !== OPEN_BRACE) return undefined;
  let depth = 0;
  let keys = 0;
  let cStart = -1;
  let cEnd = -1;
  let pos = at;
  /** Whether a key comes before the next value (in an object). */
  let keyFirst = false;
  // Each turn reads one value (after its key, in an object), then what follows it.
  for (;;) {
    if (keyFirst) {
      const levelStart = levelKeys[depth] as number;
      const after = pushKey(bytes, pos, end, levelStart, keys);
      if (after < 0) return undefined;
      if (depth === 1 && after === pos + 3 && bytes[pos + 1] === LETTER_C) cStart = after + 1;
      keys += 1;
      pos = after + 1;
    }
    if (pos >= end) return undefined;
    const byte = bytes[pos] as number;
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth += 1;
      if (depth > MAX_DEPTH) return undefined;
      const isObject = byte === OPEN_BRACE;
      levelKeys[depth] = isObject ? keys : -1;
      pos += 1;
      if (pos < end && bytes[pos] === (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        pos += 1;
        depth -= 1;
      } else {
        keyFirst = isObject;
        continue;
      }
    } else if (byte === QUOTE) {
      pos = stringEnd(bytes, pos, end);
      if (pos < 0) return undefined;
    } else if (isNumberByte(byte)) {
      let stop = pos + 1;
      while (stop < end && isNumberByte(bytes[stop] as number)) stop += 1;
      if (!isCanonicalNumber(bytes, pos, stop)) return undefined;
      pos = stop;
    } else {
      const literal = byte === 0x74 ? TRUE : byte === 0x66 ? FALSE : byte === 0x6e ? NULL : undefined;
      if (literal === undefined || !hasAt(bytes, pos, end, literal)) return undefined;
      pos += literal.length;
    }
    // After a value: close containers, or go on to the next value (after its key, in an object).
    for (;;) {
      if (depth === 0) return { stop: pos, cStart, cEnd };
      if (depth === 1 && cStart >= 0 && cEnd < 0) cEnd = pos;
      if (pos >= end) return undefined;
      const next = bytes[pos] as number;
      const levelStart = levelKeys[depth] as number;
      if (next === COMMA) {
        pos += 1;
        keyFirst = levelStart >= 0;
        break;
      }
      if (next !== (levelStart >= 0 ? CLOSE_BRACE : CLOSE_BRACKET)) return undefined;
      if (levelStart >= 0) keys = levelStart;
      pos += 1;
      depth -= 1;
    }
  }
}

/**
 * Whether the line `bytes[start, end)` (without its `\n`) is exactly `recordJson` of the record it
 * holds, proven from its bytes alone (see the module comment): `undefined` when it is not (or the
 * proof would cost too much); else the byte span `[start, end)` of its `_source.c` value, or
 * `[-1, -1]` when `_source` has no plain `c` directly in it.
 */
export function recordLineSpan(bytes: Uint8Array, start: number, end: number): [number, number] | undefined {
  if (!hasAt(bytes, start, end, INDEX_KEY)) return undefined;
  let at = stringEnd(bytes, start + INDEX_KEY.length, end);
  if (at < 0 || !hasAt(bytes, at, end, TYPE_KEY)) return undefined;
  at = stringEnd(bytes, at + TYPE_KEY.length, end);
  if (at < 0 || !hasAt(bytes, at, end, SOURCE_KEY)) return undefined;
  const source = scanSource(bytes, at + SOURCE_KEY.length, end);
  if (source === undefined || !hasAt(bytes, source.stop, end, ID_KEY)) return undefined;
  at = stringEnd(bytes, source.stop + ID_KEY.length, end);
  if (at < 0 || at !== end - 1 || bytes[at] !== CLOSE_BRACE) return undefined;
  return [source.cStart, source.cEnd];
}

/**
 * The byte span `[start, end)` of the `_source.c` value in the line `bytes[start, end)` (without
 * its `\n`), when {@link recordLineSpan} accepts the line and it has a plain `c`; else `undefined`.
 */
export function cValueSpan(bytes: Uint8Array, start: number, end: number): [number, number] | undefined {
  const span = recordLineSpan(bytes, start, end);
  return span !== undefined && span[0] >= 0 ? span : undefined;
}
