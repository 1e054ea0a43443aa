/** Verification of entry data while it streams: size, CRC-32 and, when promised, SHA-256. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { PersoniumError, isPersoniumError } from '../errors.js';


/** What the bytes of one entry must be. */
export interface Expectation {
  readonly path: string;
  readonly size: number;
  readonly crc32: number;
  readonly sha256?: string | undefined;
  readonly integritySize?: number | undefined;
}

/** A pass-through that checks size, CRC-32 and (optionally) SHA-256, failing with `PR400-SN-0003`. */
export class VerifyingStream extends Transform {
  #crc = 0;
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
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#size > this.#expected.size) {
      callback(new PersoniumError('PR400-SN-0003', [this.#expected.path]));
      return;
    }
    this.#crc = crc32(chunk, this.#crc);
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
    const expected = this.#expected;
    const digest = this.#hash?.digest('hex');
    const ok =
      this.#size === expected.size &&
      this.#crc === expected.crc32 >>> 0 &&
      (expected.integritySize === undefined || expected.integritySize === this.#size) &&
      (expected.sha256 === undefined || expected.sha256 === digest);
    callback(ok ? null : new PersoniumError('PR400-SN-0003', [expected.path]));
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
