/**
 * The meter every streamed zip entry flows through: its size, CRC-32 and SHA-256, its length checked
 * against the declared one.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';

/** Counts, CRCs and hashes what flows, and checks its length against an expected one. */
export class Meter extends Transform {
  /** The CRC-32 of the bytes so far. */
  crc = 0;
  /** The number of bytes so far. */
  size = 0;
  readonly #hash = createHash('sha256');
  /** The SHA-256 in hex, once the stream has ended. */
  digest = '';

  readonly #path: string;
  readonly #expectedSize: number | undefined;
  readonly #onChunk: ((n: number) => void) | undefined;

  constructor(
    path: string,
    expectedSize: number | undefined,
    onChunk: ((n: number) => void) | undefined,
  ) {
    super();
    this.#path = path;
    this.#expectedSize = expectedSize;
    this.#onChunk = onChunk;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    let buffer: Buffer;
    if (Buffer.isBuffer(chunk)) buffer = chunk;
    else if (typeof chunk === 'string') buffer = Buffer.from(chunk);
    else if (chunk instanceof Uint8Array) buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else {
      callback(new TypeError(`[${this.#path}]: streams must yield bytes`));
      return;
    }
    this.size += buffer.length;
    if (this.#expectedSize !== undefined && this.size > this.#expectedSize) {
      callback(new Error(`[${this.#path}] is longer than its declared ${this.#expectedSize} bytes`));
      return;
    }
    this.crc = crc32(buffer, this.crc);
    this.#hash.update(buffer);
    try {
      this.#onChunk?.(buffer.length);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, buffer);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.size !== this.#expectedSize) {
      callback(new Error(`[${this.#path}] has ${this.size} bytes, not its declared ${this.#expectedSize}`));
      return;
    }
    this.digest = this.#hash.digest('hex');
    callback();
  }
}
