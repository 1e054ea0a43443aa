/**
 * Verification of entry data while it streams: size, and SHA-256 when the integrity list promises
 * one, else CRC-32. The two are not both computed: every change of the bytes that CRC-32 would catch,
 * SHA-256 catches too, and the CRC of an entry cost about as much of the event loop as its SHA-256
 * (150 ms for the 300 MB of a benchmark cell's files). The entries of an archive without the list
 * (Personium's own), and the list itself, are checked by their CRC.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { PersoniumError, isPersoniumError } from '../errors.js';


/** What the bytes of one entry must be. */
export interface Expectation {
  readonly path: string;
  readonly size: number;
  /** The central directory's CRC-32, checked when no {@link Expectation.sha256} is promised. */
  readonly crc32: number;
  readonly sha256?: string | undefined;
  readonly integritySize?: number | undefined;
}

/** Whether an entry's CRC-32 is checked: only when no SHA-256 is promised for it. */
export function checksCrc(expected: Expectation): boolean {
  return expected.sha256 === undefined;
}

/** Whether the size, CRC and digest of an entry's bytes are what `expected` says. */
export function meets(expected: Expectation, size: number, crc: number | undefined, digest: string | undefined): boolean {
  return (
    size === expected.size &&
    (expected.integritySize === undefined || expected.integritySize === size) &&
    (expected.sha256 === undefined ? crc === expected.crc32 >>> 0 : expected.sha256 === digest)
  );
}

/** A pass-through that checks size and SHA-256 or CRC-32 (see above), failing with `PR400-SN-0003`. */
export class VerifyingStream extends Transform {
  #crc: number | undefined;
  #size = 0;
  readonly #hash: Hash | undefined;

  readonly #expected: Expectation;
  readonly #onBytes: ((n: number) => void) | undefined;

  constructor(
    expected: Expectation,
    onBytes: ((n: number) => void) | undefined,
  ) {
    super();
    this.#expected = expected;
    this.#onBytes = onBytes;
    this.#hash = expected.sha256 !== undefined ? createHash('sha256') : undefined;
    this.#crc = checksCrc(expected) ? 0 : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#size > this.#expected.size) {
      callback(new PersoniumError('PR400-SN-0003', [this.#expected.path]));
      return;
    }
    if (this.#crc !== undefined) this.#crc = crc32(chunk, this.#crc);
    this.#hash?.update(chunk);
    if (this.#onBytes !== undefined) {
      try {
        this.#onBytes(chunk.length);
      } catch (error) {
        callback(error as Error);
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const ok = meets(this.#expected, this.#size, this.#crc, this.#hash?.digest('hex'));
    callback(ok ? null : new PersoniumError('PR400-SN-0003', [this.#expected.path]));
  }
}

/**
 * Maps an error of an entry's data stream to the reader's vocabulary: inflate's errors (corrupt
 * deflate data) are `PR400-SN-0003`; sizes that lie are caught by {@link VerifyingStream} itself.
 */
export function dataError(error: unknown, path: string): unknown {
  if (isPersoniumError(error)) return error;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      return new PersoniumError('PR400-SN-0003', [path], { cause: error });
    }
  }
  return error;
}
