/**
 * The stage every streamed zip entry flows through: its size counted and checked against the
 * declared one on the event loop; its CRC-32, SHA-256 and (when deflated) its compression done on the
 * deflate thread (`deflate-thread.ts`), in pieces of {@link PIECE_BYTES}, at most
 * {@link PIECES_IN_FLIGHT} at a time. Between pieces it gives way to the host when the host keeps
 * the event loop busy (`util/loop-pacer.ts`).
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { DeflateThread } from './deflate-thread.js';
import { paceBackground } from '../util/loop-pacer.js';

/**
 * Bytes handed to the deflate thread at a time. Each piece ends on a sync flush (5 bytes) and
 * restarts deflate's match search with the previous 32 KiB as its dictionary: at 256 KiB this costs
 * about 0.02% of the size, and one message each way per piece.
 */
export const PIECE_BYTES = 256 * 1024;

/** Pieces sent to the thread and not yet answered: the thread works on one while the next is read. */
export const PIECES_IN_FLIGHT = 2;

/**
 * Counts what flows and checks its length against an expected one; emits the entry's bytes as they
 * are to be stored (deflated or not), in order, and knows their CRC-32 and SHA-256 once it has
 * flushed.
 */
export class Meter extends Transform {
  /** The CRC-32 of the bytes, once the stream has ended. */
  crc = 0;
  /** The number of bytes so far. */
  size = 0;
  /** The SHA-256 in hex, once the stream has ended. */
  digest = '';

  readonly #path: string;
  readonly #expectedSize: number | undefined;
  readonly #onChunk: ((n: number) => void) | undefined;
  readonly #compress: boolean;
  readonly #thread: DeflateThread;
  #begun: Promise<void> | undefined;
  /** The piece being filled, and how much of it is. */
  #piece: Buffer | undefined;
  #pieceBytes = 0;
  /** Replies of pieces sent, oldest first: each yields the bytes to emit. */
  readonly #inFlight: Promise<Buffer>[] = [];

  constructor(
    path: string,
    expectedSize: number | undefined,
    onChunk: ((n: number) => void) | undefined,
    compress: boolean,
    thread: DeflateThread,
  ) {
    super({ writableHighWaterMark: PIECE_BYTES });
    this.#path = path;
    this.#expectedSize = expectedSize;
    this.#onChunk = onChunk;
    this.#compress = compress;
    this.#thread = thread;
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
    try {
      this.#onChunk?.(buffer.length);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (!this.#compress) this.push(buffer);
    this.#take(buffer).then(() => callback(), callback);
  }

  /** Copies `buffer` into pieces, sending each full one (waiting while too many are in flight). */
  async #take(buffer: Buffer): Promise<void> {
    let at = 0;
    while (at < buffer.length) {
      const piece = (this.#piece ??= this.#thread.piece(PIECE_BYTES));
      const n = buffer.copy(piece, this.#pieceBytes, at);
      at += n;
      this.#pieceBytes += n;
      if (this.#pieceBytes === PIECE_BYTES) {
        this.#send();
        await this.#drain(PIECES_IN_FLIGHT - 1);
        if (this.destroyed) return;
        const pause = paceBackground();
        if (pause !== undefined) await pause;
        if (this.destroyed) return;
      }
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.size !== this.#expectedSize) {
      callback(new Error(`[${this.#path}] has ${this.size} bytes, not its declared ${this.#expectedSize}`));
      return;
    }
    if (this.#pieceBytes > 0) this.#send();
    this.#begin();
    const ending = this.#thread.end();
    ending.catch(() => undefined);
    this.#drain(0)
      .then(() => ending)
      .then(({ crc, sha256, tail }) => {
        this.crc = crc;
        this.digest = sha256;
        callback(null, tail.length > 0 ? tail : undefined);
      }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inFlight.length = 0;
    this.#piece = undefined;
    callback(error);
  }

  #begin(): void {
    if (this.#begun !== undefined) return;
    this.#begun = this.#thread.begin(this.#compress);
    this.#begun.catch(() => undefined);
  }

  /**
   * Sends the piece filled so far; its memory moves to the thread and comes back with the reply. A
   * stored entry's bytes were emitted as they came (the piece is a copy for the hashes), a deflated
   * one's are emitted when the reply comes.
   */
  #send(): void {
    this.#begin();
    const piece = this.#piece as Buffer;
    const reply = this.#thread.data(piece, this.#pieceBytes);
    this.#piece = undefined;
    this.#pieceBytes = 0;
    // Awaited in order by #drain; a reply left when the stream is destroyed is dropped.
    reply.catch(() => undefined);
    this.#inFlight.push(reply);
  }

  /** Emits the replies of the oldest pieces until at most `max` are in flight. */
  async #drain(max: number): Promise<void> {
    while (this.#inFlight.length > max) {
      const out = await (this.#inFlight[0] as Promise<Buffer>);
      this.#inFlight.shift();
      if (this.destroyed) return;
      if (out.length > 0) this.push(out);
    }
  }
}
