/**
 * Random access to a stored archive: the one thing the snapshot reader needs from storage. A source
 * is either a local file ({@link fileSource}) or a file of a {@link SnapshotStore} read through its
 * ranged reads ({@link storeSource}), so an import never needs a local copy of the archive.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { PersoniumError } from '../errors.js';
import { READ_CHUNK_BYTES } from '../util/io-sizes.js';
import type { ByteRange, SnapshotStore } from '../types.js';

/** Random access to a stored archive. */
export interface RandomAccessSource {
  /** The archive's length in bytes, fixed for the life of the source. */
  readonly size: number;
  /**
   * Streams the inclusive `range` of the archive (`0 <= start <= end < size`), exactly
   * `end - start + 1` bytes. Rejects for a range outside the archive.
   */
  read(range: ByteRange): Promise<Readable>;
}

/** Whether `range` is an inclusive range of integers inside `size` bytes: `0 <= start <= end < size`. */
export function rangeWithin(range: ByteRange, size: number): boolean {
  const { start, end } = range;
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end < size;
}

/** Throws a RangeError unless `range` is an inclusive range inside an archive of `size` bytes. */
export function checkRange(range: ByteRange, size: number): void {
  if (!rangeWithin(range, size)) throw new RangeError(`invalid range ${range.start}-${range.end} of ${size} bytes`);
}

/**
 * A source over a local file. The size is taken once, when the source is made; every read opens its
 * own stream, so the source holds no descriptor between reads and needs no closing.
 */
export async function fileSource(path: string): Promise<RandomAccessSource> {
  const info = await stat(path);
  if (!info.isFile()) throw new Error(`not a file: ${path}`);
  const size = info.size;
  return {
    size,
    async read(range: ByteRange): Promise<Readable> {
      checkRange(range, size);
      return createReadStream(path, { start: range.start, end: range.end, highWaterMark: READ_CHUNK_BYTES });
    },
  };
}

/**
 * A source over a file of a snapshot store, read with the store's ranged reads. Resolves to
 * `undefined` when the store has no such file. A read that finds the file gone (deleted after the
 * source was made) rejects with `PR404-DV-0001`.
 */
export async function storeSource(
  store: SnapshotStore,
  cellId: string,
  name: string,
): Promise<RandomAccessSource | undefined> {
  const info = await store.stat(cellId, name);
  if (info === undefined) return undefined;
  const size = info.size;
  return {
    size,
    async read(range: ByteRange): Promise<Readable> {
      checkRange(range, size);
      const stream = await store.read(cellId, name, range);
      if (stream === undefined) throw new PersoniumError('PR404-DV-0001', [name]);
      return stream;
    },
  };
}
