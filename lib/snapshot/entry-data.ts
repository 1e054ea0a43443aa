/** Reading one entry's data, checked: small entries whole through the block cache, others streamed. */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { READ_CHUNK_BYTES } from '../util/io-sizes.js';
import type { ZipFile } from 'yauzl';
import { PersoniumError } from '../errors.js';
import { BLOCK_SIZE, type SourceReader } from './block-reader.js';
import { type EntryInfo, LOCAL_HEADER_SIZE } from './central-directory.js';
import { asError, describe, noop, unsafe } from './reader-shared.js';
import { type Expectation, VerifyingStream, checksCrc, dataError, meets } from './verifying-stream.js';

/** What every entry read shares. */
export interface OpenContext {
  readonly zipfile: ZipFile;
  readonly source: SourceReader;
  readonly onBytes: ((n: number) => void) | undefined;
  /** The verified streams still open, destroyed on close or abort. */
  readonly live: Set<Readable>;
}

/**
 * Entries this small are read through the block cache and inflated in one call, without a stream.
 * A larger entry, however well it compresses, streams through inflate on the thread pool: inflating
 * a megabyte of text takes milliseconds, which the main thread spends better checking other bytes.
 */
const SMALL_COMPRESSED = BLOCK_SIZE;
const SMALL_UNCOMPRESSED = READ_CHUNK_BYTES;

/** Room beyond the declared size in the output buffer of a one-call inflate (zlib's minimum chunk). */
const INFLATE_SLACK = 64;

function isSmall(info: EntryInfo): boolean {
  return info.compressedSize <= SMALL_COMPRESSED && info.uncompressedSize <= SMALL_UNCOMPRESSED;
}

/**
 * Reads an entry's local header (through the cache), checks that it names the entry and that its
 * data stays before the next entry, and resolves to where the data starts.
 */
export async function locate(ctx: OpenContext, info: EntryInfo): Promise<number> {
  const header = await ctx.source.bytes(info.offset, LOCAL_HEADER_SIZE + info.nameLength);
  if (header.length < LOCAL_HEADER_SIZE || header.readUInt32LE(0) !== 0x04034b50) {
    throw new PersoniumError('PR400-SN-0003', [info.name]);
  }
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  if (nameLength !== info.nameLength || !header.subarray(LOCAL_HEADER_SIZE).equals(Buffer.from(info.name, 'utf8'))) {
    throw unsafe(`the local header of ${describe(info.name)} names another entry`);
  }
  const dataStart = info.offset + LOCAL_HEADER_SIZE + nameLength + extraLength;
  if (dataStart + info.compressedSize > info.boundary) {
    throw unsafe(`entry ${describe(info.name)} overlaps the next entry`);
  }
  return dataStart;
}

/** Checks whole bytes against an expectation; `PR400-SN-0003` when they differ. */
function checkBytes(bytes: Buffer, expected: Expectation, digest: string | undefined): void {
  const crc = checksCrc(expected) ? crc32(bytes) : undefined;
  if (!meets(expected, bytes.length, crc, digest)) throw new PersoniumError('PR400-SN-0003', [expected.path]);
}

/** Reads and checks a small entry whole, inflating it in one bounded call. */
async function fetchSmall(ctx: OpenContext, info: EntryInfo, expected: Expectation, hashAlways: boolean): Promise<{ bytes: Buffer; digest: string | undefined }> {
  const dataStart = await locate(ctx, info);
  const raw = await ctx.source.bytes(dataStart, info.compressedSize);
  if (raw.length !== info.compressedSize) throw new PersoniumError('PR400-SN-0003', [info.name]);
  let bytes: Buffer;
  if (info.method === 8) {
    try {
      // One output buffer of the declared size (and a little room to see the end): no copying of
      // 16 KiB pieces into a whole, as zlib's default chunk size would need.
      bytes = inflateRawSync(raw, { maxOutputLength: Math.max(1, expected.size), chunkSize: expected.size + INFLATE_SLACK });
    } catch (error) {
      throw new PersoniumError('PR400-SN-0003', [info.name], { cause: error });
    }
  } else {
    bytes = raw;
  }
  const digest = expected.sha256 !== undefined || hashAlways ? createHash('sha256').update(bytes).digest('hex') : undefined;
  checkBytes(bytes, expected, digest);
  ctx.onBytes?.(bytes.length);
  return { bytes, digest };
}

/**
 * Opens the verified stream of one entry. A small entry is read and checked whole first, and its
 * stream errors with the check's failure; a larger one streams from the source (inflated when
 * deflated) through a {@link VerifyingStream}.
 */
export async function openVerified(ctx: OpenContext, info: EntryInfo, expected: Expectation): Promise<Readable> {
  if (isSmall(info)) {
    const stream = new PassThrough();
    // The consumer may attach its listeners later: a failure must not be an uncaught 'error' meanwhile.
    stream.on('error', noop);
    ctx.live.add(stream);
    stream.once('close', () => ctx.live.delete(stream));
    fetchSmall(ctx, info, expected, false).then(
      ({ bytes }) => stream.end(bytes),
      (error: unknown) => stream.destroy(asError(error)),
    );
    return stream;
  }
  const dataStart = await locate(ctx, info);
  // The data is streamed straight from the source, through inflate when deflated: fewer stream
  // hops than yauzl's read stream, and larger chunks (the verifier enforces the declared size).
  const raw = ctx.source.range(dataStart, info.compressedSize);
  const inflate = info.method === 8 ? createInflateRaw({ chunkSize: READ_CHUNK_BYTES }) : undefined;
  const verifier = new VerifyingStream(expected, ctx.onBytes);
  verifier.on('error', noop);
  ctx.live.add(verifier);
  const fail = (error: unknown): void => {
    verifier.destroy(asError(dataError(error, info.name)));
  };
  raw.on('error', fail);
  inflate?.on('error', fail);
  verifier.once('close', () => {
    ctx.live.delete(verifier);
    raw.destroy();
    inflate?.destroy();
  });
  if (inflate === undefined) raw.pipe(verifier);
  else raw.pipe(inflate).pipe(verifier);
  return verifier;
}

/** Reads a whole entry, checked. */
export async function readWhole(ctx: OpenContext, info: EntryInfo, expected: Expectation, hashAlways = false): Promise<{ bytes: Buffer; digest: string | undefined }> {
  if (isSmall(info)) return fetchSmall(ctx, info, expected, hashAlways);
  const stream = await openVerified(ctx, info, expected);
  const hash = hashAlways || expected.sha256 !== undefined ? createHash('sha256') : undefined;
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk);
    length += chunk.length;
    hash?.update(chunk);
  }
  return { bytes: Buffer.concat(parts, length), digest: hash?.digest('hex') };
}

/** CRC-32 and size only: what the central directory promises. */
export function crcOnly(info: EntryInfo): Expectation {
  return { path: info.name, size: info.uncompressedSize, crc32: info.crc32 };
}
