/**
 * Block-cached random access for yauzl over a {@link RandomAccessSource}: small reads (the end of
 * central directory, central directory records, local headers, small entries) go through a small LRU
 * cache of 64 KiB blocks, so a central directory of 100,000 entries costs a few dozen source reads;
 * larger entry data is streamed with one `source.read` per entry.
 */
import { PassThrough, type Readable } from 'node:stream';
import { RandomAccessReader } from 'yauzl';
import type { ByteRange } from '../types.js';
import type { RandomAccessSource } from './source.js';


/** Size of a cache block, and the largest read served from the cache. */
export const BLOCK_SIZE = 64 * 1024;
/** Blocks kept in the LRU cache. */
const CACHE_BLOCKS = 16;

export async function collect(stream: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<unknown>) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    parts.push(buffer);
    length += buffer.length;
    if (length > max) {
      stream.destroy();
      throw new Error(`source returned more than the ${max} bytes asked for`);
    }
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
}

/** yauzl's view of a {@link RandomAccessSource}, with the block cache. */
export class SourceReader extends RandomAccessReader {
  readonly #blocks = new Map<number, Promise<Buffer>>();
  readonly #streams = new Set<Readable>();
  #closed = false;

  readonly #source: RandomAccessSource;

  constructor(source: RandomAccessSource) {
    super();
    this.#source = source;
  }

  /** Resolves to up to `length` bytes at `position` (fewer at the end of the source), from the cache. */
  async bytes(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.#source.size);
    if (end <= position) return Buffer.alloc(0);
    const first = Math.floor(position / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    if (first === last) {
      const block = await this.#block(first);
      return block.subarray(position - first * BLOCK_SIZE, end - first * BLOCK_SIZE);
    }
    const parts: Buffer[] = [];
    for (let index = first; index <= last; index += 1) {
      const block = await this.#block(index);
      const from = index === first ? position - index * BLOCK_SIZE : 0;
      const to = index === last ? end - index * BLOCK_SIZE : block.length;
      parts.push(block.subarray(from, to));
    }
    return Buffer.concat(parts);
  }

  #block(index: number): Promise<Buffer> {
    const cached = this.#blocks.get(index);
    if (cached !== undefined) {
      this.#blocks.delete(index);
      this.#blocks.set(index, cached);
      return cached;
    }
    if (this.#closed) return Promise.reject(new Error('snapshot reader closed'));
    const start = index * BLOCK_SIZE;
    const end = Math.min(start + BLOCK_SIZE, this.#source.size) - 1;
    const loading = this.#source.read({ start, end }).then((stream) => collect(stream, end - start + 1));
    this.#blocks.set(index, loading);
    loading.catch(() => {
      if (this.#blocks.get(index) === loading) this.#blocks.delete(index);
    });
    while (this.#blocks.size > CACHE_BLOCKS) {
      const oldest = this.#blocks.keys().next().value as number;
      this.#blocks.delete(oldest);
    }
    return loading;
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    // yauzl's callback also takes the count of bytes read, which its EOF check relies on.
    const done = callback as (err: Error | null, bytesRead?: number) => void;
    this.bytes(position, length).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        done(null, bytes.length);
      },
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /**
   * Streams `length` bytes at `position` straight from the source (no cache); destroyed by
   * {@link SourceReader.shutdown}.
   */
  range(position: number, length: number): Readable {
    return this._readStreamForRange(position, position + length);
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    this.#streams.add(out);
    out.once('close', () => this.#streams.delete(out));
    if (end - start <= BLOCK_SIZE) {
      this.bytes(start, end - start).then(
        (bytes) => out.end(bytes),
        (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      return out;
    }
    const range: ByteRange = { start, end: end - 1 };
    let inner: Readable | undefined;
    out.once('close', () => inner?.destroy());
    if (this.#closed) {
      process.nextTick(() => out.destroy(new Error('snapshot reader closed')));
      return out;
    }
    this.#source.read(range).then(
      (stream) => {
        if (out.destroyed) {
          stream.destroy();
          return;
        }
        inner = stream;
        stream.once('error', (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
        stream.pipe(out);
      },
      (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
    );
    return out;
  }

  override close(callback: (err: Error | null) => void): void {
    this.shutdown();
    setImmediate(() => callback(null));
  }

  /** Drops the cache and destroys every stream still open on the source. */
  shutdown(): void {
    this.#closed = true;
    this.#blocks.clear();
    for (const stream of this.#streams) stream.destroy();
    this.#streams.clear();
  }
}
