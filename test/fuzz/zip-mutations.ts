/**
 * Mutations of snapshot archives for the fuzz tests: a fast-check arbitrary of mutation plans, and
 * the function that applies a plan to a seed archive. A plan is plain data (numbers, strings), so a
 * failing case prints as a value that can be read, and fast-check shrinks it.
 *
 * Two levels: entry operations rebuild the archive with the byte-level writer of the hostile corpus
 * from the seed's decoded entries (duplicate, drop, reorder, graft an entry of another seed, rename,
 * lie about sizes, CRCs, methods and flags, add ZIP64 extra fields, edit `.pjson` lines, `.pmeta`
 * JSON and the manifest); byte operations then change the bytes (flip bytes in local headers, data,
 * the central directory and the end records, set header fields to edge values, truncate, splice with
 * another seed, insert, delete).
 */
import { readFile, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { STORED, DEFLATED, writeZip, type ZipEntrySpec } from '../../fixtures/hostile/zip-bytes.js';

/** One decoded entry of a seed archive. */
export interface SeedEntry {
  readonly name: string;
  readonly data: Buffer;
  readonly method: number;
}

/** A valid archive the mutations start from. */
export interface Seed {
  /** Who wrote it (`ours`, `java-style`, `infozip`…). */
  readonly name: string;
  /** Its bytes. */
  readonly bytes: Buffer;
  /** Its file entries, in archive order. */
  readonly entries: readonly SeedEntry[];
}

/** A new value for a header field, relative to the old one or absolute. */
export type FieldValue =
  | { readonly to: 'zero' | 'max' | 'one' }
  | { readonly to: 'plus' | 'minus'; readonly by: number }
  | { readonly to: 'random'; readonly value: number };

/** An edit of a text (a `.pjson` line, a `.pmeta`, the manifest). */
export type TextEdit =
  | { readonly kind: 'json'; readonly path: number; readonly action: 'delete' | 'set' | 'rename'; readonly value: number }
  | { readonly kind: 'chars'; readonly at: number; readonly remove: number; readonly insert: string }
  | { readonly kind: 'lines'; readonly action: 'drop' | 'duplicate' | 'blank' | 'join' | 'bad-utf8'; readonly line: number };

/** An operation on the decoded entries. */
export type EntryOp =
  | { readonly kind: 'duplicate' | 'drop'; readonly index: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number }
  | { readonly kind: 'reverse' }
  | { readonly kind: 'graft'; readonly other: number; readonly index: number }
  | { readonly kind: 'rename'; readonly index: number; readonly how: number }
  | { readonly kind: 'text'; readonly target: 'pjson' | 'pmeta' | 'manifest'; readonly index: number; readonly line: number; readonly edit: TextEdit }
  | { readonly kind: 'lie'; readonly index: number; readonly what: 'size' | 'crc' | 'method' | 'flags' | 'descriptor' | 'stored-raw'; readonly value: number }
  | { readonly kind: 'zip64'; readonly index: number; readonly values: readonly number[]; readonly maxSize: boolean };

/** Where a byte operation acts. */
export type Region = 'local' | 'data' | 'central' | 'end' | 'any';

/** An operation on the bytes. */
export type ByteOp =
  | { readonly kind: 'flip'; readonly region: Region; readonly at: number; readonly mask: number }
  | { readonly kind: 'field'; readonly header: 'local' | 'central' | 'end' | 'zip64'; readonly index: number; readonly field: number; readonly value: FieldValue }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'splice'; readonly other: number; readonly at: number; readonly otherAt: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number };

/** A whole mutation: which seed, then entry operations, then byte operations. */
export interface Plan {
  readonly seed: number;
  readonly entryOps: readonly EntryOp[];
  readonly byteOps: readonly ByteOp[];
}

// ---------------------------------------------------------------------------------------------
// The arbitrary
// ---------------------------------------------------------------------------------------------

const index = fc.nat({ max: 10_000 });
const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.record({ to: fc.constantFrom('zero' as const, 'max' as const, 'one' as const) }),
  fc.record({ to: fc.constantFrom('plus' as const, 'minus' as const), by: fc.integer({ min: 1, max: 70_000 }) }),
  fc.record({ to: fc.constant('random' as const), value: fc.nat() }),
);
const JSONISH = [...'{}[]":,\\/.-+eE0123456789 aZ_\n\t\r'.split(''), '\u0000', '\u00e9', '\u3042', '\ud800', '\ufffd'];
const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('json' as const), path: index, action: fc.constantFrom('delete' as const, 'set' as const, 'rename' as const), value: fc.nat({ max: 100 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('chars' as const), at: index, remove: fc.nat({ max: 4 }), insert: fc.string({ unit: fc.constantFrom(...JSONISH), maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lines' as const), action: fc.constantFrom('drop' as const, 'duplicate' as const, 'blank' as const, 'join' as const, 'bad-utf8' as const), line: index }) },
);
const entryOp: fc.Arbitrary<EntryOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom('duplicate' as const, 'drop' as const), index }),
  fc.record({ kind: fc.constant('swap' as const), a: index, b: index }),
  fc.record({ kind: fc.constant('reverse' as const) }),
  fc.record({ kind: fc.constant('graft' as const), other: index, index }),
  fc.record({ kind: fc.constant('rename' as const), index, how: fc.nat({ max: 100 }) }),
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('text' as const), target: fc.constantFrom('pjson' as const, 'pmeta' as const, 'manifest' as const), index, line: index, edit: textEdit }),
  },
  fc.record({ kind: fc.constant('lie' as const), index, what: fc.constantFrom('size' as const, 'crc' as const, 'method' as const, 'flags' as const, 'descriptor' as const, 'stored-raw' as const), value: fc.nat() }),
  fc.record({ kind: fc.constant('zip64' as const), index, values: fc.array(fc.nat(), { minLength: 0, maxLength: 4 }), maxSize: fc.boolean() }),
);
const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), region: fc.constantFrom<Region>('local', 'data', 'central', 'end', 'any'), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('field' as const), header: fc.constantFrom('local' as const, 'central' as const, 'end' as const, 'zip64' as const), index, field: fc.nat({ max: 20 }), value: fieldValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), other: index, at: fc.nat(), otherAt: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
);

/** Mutation plans over `seedCount` seeds: one to three operations, entry level, byte level or both. */
export function planArbitrary(seedCount: number): fc.Arbitrary<Plan> {
  return fc
    .record({
      seed: fc.nat({ max: seedCount - 1 }),
      entryOps: fc.array(entryOp, { maxLength: 2 }),
      byteOps: fc.array(byteOp, { maxLength: 2 }),
    })
    .filter((plan) => plan.entryOps.length + plan.byteOps.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Applying a plan
// ---------------------------------------------------------------------------------------------

/** Names an entry may be renamed to, from its old name. */
const RENAMES: readonly ((name: string) => string)[] = [
  (n) => `../${n}`,
  (n) => `/${n}`,
  (n) => n.replaceAll('/', '\\'),
  (n) => n.replace('/', '//'),
  (n) => `${n}/`,
  (n) => n.replace(/\/[^/]*$/, '/../../x'),
  (n) => n.replace(/\/[^/]*$/, '/.'),
  (n) => `${n}\u0000`,
  (n) => n.toUpperCase(),
  (n) => n.slice(0, -1),
  (n) => `${n}x`,
  (n) => n.replace('20_webdav/', '20_webdav/__/'),
  (n) => n.replace(/content$/, '.pmeta'),
  (n) => n.replace(/\.pmeta$/, 'content'),
  (n) => `C:${n}`,
  (n) => n.replace(/[^/]*$/, '\u65e5\u672c'),
  (n) => n.replace(/\/[^/]*$/, `/${'x'.repeat(300)}`),
];

/** JSON values a field may be set to. */
const VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1, 1.5, 2 ** 53 + 2, 1e308, -1e308, '', 'x', '../../etc', '/abs', 'C:\\x', '\u0000', 'x'.repeat(5000), [], [1], {}, { a: 1 },
  'dav.file', 'col.webdav', 'col.box', 'Cell', 'Box', 'HbXaaaaaaaaaaaaaaaaaaA', 'NONE', 'text/plain', 2, '2', 'normal',
];

/** Picks `list[i % length]`, or undefined for an empty list. */
function pick<T>(list: readonly T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[i % list.length];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (list of keys or indices) into a JSON value, the root excluded, at most 3 deep. */
function jsonPaths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length >= 3 || value === null || typeof value !== 'object') return out;
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  for (const key of keys) {
    const path = [...prefix, key];
    out.push(path);
    jsonPaths((value as Record<string | number, Json>)[key] as Json, path, out);
  }
  return out;
}

function editJson(text: string, edit: Extract<TextEdit, { kind: 'json' }>): string {
  let root: Json;
  try {
    root = JSON.parse(text) as Json;
  } catch {
    return editChars(text, { kind: 'chars', at: edit.path, remove: 1, insert: '' });
  }
  const path = pick(jsonPaths(root), edit.path);
  if (path === undefined) return JSON.stringify(pick(VALUES, edit.value));
  const parent = path.slice(0, -1).reduce<Json>((node, key) => (node as Record<string | number, Json>)[key] as Json, root) as Record<string | number, Json>;
  const key = path[path.length - 1] as string | number;
  if (edit.action === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (edit.action === 'set') {
    parent[key] = pick(VALUES, edit.value) as Json;
  } else if (!Array.isArray(parent)) {
    const value = parent[key] as Json;
    delete parent[key];
    parent[pick(['_id', '_type', 's', 'Name', 't', 'i', 'ct', 'cl', '', 'export_version', `${String(key)}_`], edit.value) as string] = value;
  }
  return JSON.stringify(root).replace(/\//g, '\\/');
}

function editChars(text: string, edit: Extract<TextEdit, { kind: 'chars' }>): string {
  const at = text.length === 0 ? 0 : edit.at % (text.length + 1);
  return text.slice(0, at) + edit.insert + text.slice(at + edit.remove);
}

/** Applies a text edit to a whole entry: a `.pjson` line by line, other entries as one JSON text. */
function editEntry(data: Buffer, edit: TextEdit, lineIndex: number, multiLine: boolean): Buffer {
  const text = data.toString('utf8');
  if (edit.kind === 'lines') {
    const lines = text.split('\n');
    const i = lines.length === 0 ? 0 : edit.line % lines.length;
    const line = lines[i] ?? '';
    if (edit.action === 'drop') lines.splice(i, 1);
    else if (edit.action === 'duplicate') lines.splice(i, 0, line);
    else if (edit.action === 'blank') lines.splice(i, 0, '');
    else if (edit.action === 'join') lines.splice(i, 2, `${line}${lines[i + 1] ?? ''}`);
    else return Buffer.concat([Buffer.from(lines.slice(0, i).join('\n')), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(lines.slice(i).join('\n'))]);
    return Buffer.from(lines.join('\n'));
  }
  const apply = (part: string): string => (edit.kind === 'json' ? editJson(part, edit) : editChars(part, edit));
  if (!multiLine) return Buffer.from(apply(text));
  const lines = text.split('\n');
  const content = lines.map((line, i) => [line, i] as const).filter(([line]) => line !== '');
  const chosen = pick(content, lineIndex);
  if (chosen === undefined) return Buffer.from(apply(text));
  lines[chosen[1]] = apply(chosen[0]);
  return Buffer.from(lines.join('\n'));
}

function u64(value: number, high: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(value >>> 0, 0);
  b.writeUInt32LE(high >>> 0, 4);
  return b;
}

/** Applies the entry operations to the seed's entries, giving the specs to write. */
function applyEntryOps(seed: Seed, seeds: readonly Seed[], ops: readonly EntryOp[]): ZipEntrySpec[] {
  let specs: ZipEntrySpec[] = seed.entries.map((e) => ({ name: e.name, data: e.data, method: e.data.length === 0 ? STORED : e.method }));
  const at = (i: number): number => (specs.length === 0 ? 0 : i % specs.length);
  for (const op of ops) {
    switch (op.kind) {
      case 'duplicate': {
        const entry = specs[at(op.index)];
        if (entry !== undefined) specs.push(entry);
        break;
      }
      case 'drop':
        specs.splice(at(op.index), 1);
        break;
      case 'swap': {
        const [a, b] = [at(op.a), at(op.b)];
        const [ea, eb] = [specs[a], specs[b]];
        if (ea !== undefined && eb !== undefined) [specs[a], specs[b]] = [eb, ea];
        break;
      }
      case 'reverse':
        specs = specs.reverse();
        break;
      case 'graft': {
        const other = seeds[op.other % seeds.length] as Seed;
        const entry = pick(other.entries, op.index);
        if (entry !== undefined) specs.splice(at(op.index), 0, { name: entry.name, data: entry.data, method: entry.method });
        break;
      }
      case 'rename': {
        const i = at(op.index);
        const entry = specs[i];
        if (entry !== undefined) specs[i] = { ...entry, name: (RENAMES[op.how % RENAMES.length] as (n: string) => string)(String(entry.name)) };
        break;
      }
      case 'text': {
        const suffix = op.target === 'pjson' ? '.pjson' : op.target === 'pmeta' ? '.pmeta' : '00_manifest.json';
        const candidates = specs.map((s, i) => [s, i] as const).filter(([s]) => String(s.name).endsWith(suffix));
        const chosen = pick(candidates, op.index);
        if (chosen === undefined) break;
        const [entry, i] = chosen;
        specs[i] = { ...entry, data: editEntry(Buffer.from(entry.data ?? []), op.edit, op.line, op.target === 'pjson') };
        break;
      }
      case 'lie': {
        const i = at(op.index);
        const entry = specs[i];
        if (entry === undefined) break;
        const size = entry.data?.length ?? 0;
        const lie: Partial<ZipEntrySpec> =
          op.what === 'size'
            ? { declaredSize: pick([0, size + 1, Math.max(0, size - 1), 0xffffffff, op.value], op.value) as number }
            : op.what === 'crc'
              ? { declaredCrc: op.value >>> 0 }
              : op.what === 'method'
                ? { method: pick([STORED, DEFLATED, 1, 9, 12, 14, 99, 0xffff], op.value) as number }
                : op.what === 'flags'
                  ? { flags: (1 << op.value % 16) | 0x0800 }
                  : op.what === 'descriptor'
                    ? { dataDescriptor: true }
                    : { method: DEFLATED, rawData: entry.data ?? new Uint8Array(0) };
        specs[i] = { ...entry, ...lie };
        break;
      }
      case 'zip64': {
        const i = at(op.index);
        const entry = specs[i];
        if (entry === undefined) break;
        const values = op.values.map((v, k) => u64(v, k % 2 === 0 ? 0 : v % 3));
        const body = Buffer.concat(values);
        const header = Buffer.alloc(4);
        header.writeUInt16LE(0x0001, 0);
        header.writeUInt16LE(body.length, 2);
        specs[i] = { ...entry, extra: Buffer.concat([header, body]), ...(op.maxSize ? { declaredSize: 0xffffffff } : {}) };
        break;
      }
    }
  }
  return specs;
}

/** Where the parts of an archive are, as far as they can be found. */
interface Layout {
  readonly local: { at: number; length: number; dataAt: number; dataLength: number }[];
  readonly central: { at: number; length: number }[];
  readonly end: { at: number; length: number }[];
  readonly zip64Extras: number[];
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Finds the headers of an archive, tolerating any damage (what cannot be found is left out). */
function layout(bytes: Buffer): Layout {
  const result: Layout = { local: [], central: [], end: [], zip64Extras: [] };
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 0xffff); p -= 1) {
    if (bytes.readUInt32LE(p) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) return result;
  result.end.push({ at: eocd, length: Math.min(22 + bytes.readUInt16LE(eocd + 20), bytes.length - eocd) });
  if (eocd >= 20 && bytes.readUInt32LE(eocd - 20) === 0x07064b50) {
    result.end.push({ at: eocd - 20, length: 20 });
    const at = Number(bytes.readBigUInt64LE(eocd - 12));
    if (at + 56 <= bytes.length && bytes.readUInt32LE(at) === 0x06064b50) result.end.push({ at, length: 56 });
  }
  let p = bytes.readUInt32LE(eocd + 16);
  const count = bytes.readUInt16LE(eocd + 10);
  for (let i = 0; i < count && p + 46 <= bytes.length && bytes.readUInt32LE(p) === CENTRAL; i += 1) {
    const nameLength = bytes.readUInt16LE(p + 28);
    const extraLength = bytes.readUInt16LE(p + 30);
    const length = 46 + nameLength + extraLength + bytes.readUInt16LE(p + 32);
    result.central.push({ at: p, length: Math.min(length, bytes.length - p) });
    for (let e = p + 46 + nameLength; e + 4 <= Math.min(p + 46 + nameLength + extraLength, bytes.length); ) {
      if (bytes.readUInt16LE(e) === 0x0001) result.zip64Extras.push(e);
      e += 4 + bytes.readUInt16LE(e + 2);
    }
    const local = bytes.readUInt32LE(p + 42);
    if (local + 30 <= bytes.length && bytes.readUInt32LE(local) === LOCAL) {
      const headerLength = 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const dataAt = Math.min(local + headerLength, bytes.length);
      result.local.push({ at: local, length: dataAt - local, dataAt, dataLength: Math.min(bytes.readUInt32LE(p + 20), bytes.length - dataAt) });
    }
    p += length;
  }
  return result;
}

/** Header fields: offset and width, for each kind of header. */
const FIELDS: Record<'local' | 'central' | 'end' | 'zip64', readonly [number, 2 | 4 | 8][]> = {
  local: [[4, 2], [6, 2], [8, 2], [14, 4], [18, 4], [22, 4], [26, 2], [28, 2]],
  central: [[4, 2], [6, 2], [8, 2], [10, 2], [16, 4], [20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [34, 2], [36, 2], [38, 4], [42, 4]],
  end: [[4, 2], [6, 2], [8, 2], [10, 2], [12, 4], [16, 4], [20, 2]],
  zip64: [[2, 2], [4, 8], [12, 8], [20, 8]],
};

function setField(bytes: Buffer, at: number, width: 2 | 4 | 8, value: FieldValue): void {
  if (at + width > bytes.length) return;
  const max = width === 2 ? 0xffff : width === 4 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
  const old = width === 2 ? bytes.readUInt16LE(at) : width === 4 ? bytes.readUInt32LE(at) : Number(bytes.readBigUInt64LE(at) & 0x1fffffffffffffn);
  let next: number;
  if ('by' in value) next = value.to === 'plus' ? old + value.by : old - value.by;
  else if ('value' in value) next = value.value;
  else next = value.to === 'zero' ? 0 : value.to === 'one' ? 1 : max;
  const wrapped = ((next % (max + 1)) + (max + 1)) % (max + 1);
  if (width === 2) bytes.writeUInt16LE(wrapped, at);
  else if (width === 4) bytes.writeUInt32LE(wrapped, at);
  else bytes.writeBigUInt64LE(BigInt(wrapped), at);
}

function applyByteOp(input: Buffer, seeds: readonly Seed[], op: ByteOp): Buffer {
  const bytes = Buffer.from(input);
  if (bytes.length === 0) return bytes;
  switch (op.kind) {
    case 'flip': {
      const map = layout(bytes);
      const spans =
        op.region === 'local'
          ? map.local.map((l) => ({ at: l.at, length: l.length }))
          : op.region === 'data'
            ? map.local.map((l) => ({ at: l.dataAt, length: l.dataLength }))
            : op.region === 'central'
              ? map.central
              : op.region === 'end'
                ? map.end
                : [];
      const total = spans.reduce((sum, s) => sum + s.length, 0);
      let offset = op.at % (total > 0 ? total : bytes.length);
      let at = offset;
      if (total > 0) {
        for (const span of spans) {
          if (offset < span.length) {
            at = span.at + offset;
            break;
          }
          offset -= span.length;
        }
      }
      bytes[at] = (bytes[at] as number) ^ op.mask;
      return bytes;
    }
    case 'field': {
      const map = layout(bytes);
      const starts = op.header === 'local' ? map.local.map((l) => l.at) : op.header === 'central' ? map.central.map((c) => c.at) : op.header === 'end' ? map.end.slice(0, 1).map((e) => e.at) : map.zip64Extras;
      const start = pick(starts, op.index);
      const field = pick(FIELDS[op.header], op.field);
      if (start !== undefined && field !== undefined) setField(bytes, start + field[0], field[1], op.value);
      return bytes;
    }
    case 'truncate':
      return bytes.subarray(0, op.at % bytes.length);
    case 'splice': {
      const other = (seeds[op.other % seeds.length] as Seed).bytes;
      return Buffer.concat([bytes.subarray(0, op.at % bytes.length), other.subarray(op.otherAt % other.length)]);
    }
    case 'insert': {
      const at = op.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(op.bytes), bytes.subarray(at)]);
    }
    case 'delete': {
      const at = op.at % bytes.length;
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + op.length)]);
    }
  }
}

/** Writes the mutated archive of `plan` to `file`. */
export async function applyPlan(plan: Plan, seeds: readonly Seed[], file: string): Promise<void> {
  const seed = seeds[plan.seed % seeds.length] as Seed;
  let bytes = seed.bytes;
  if (plan.entryOps.length > 0) {
    await writeZip(file, applyEntryOps(seed, seeds, plan.entryOps));
    bytes = await readFile(file);
  }
  for (const op of plan.byteOps) bytes = applyByteOp(bytes, seeds, op);
  await writeFile(file, bytes);
}
