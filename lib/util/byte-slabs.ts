/** A byte accumulator for what a long write keeps until its end (a zip's central directory). */

/** Bytes accumulated in 1 MiB slabs: no per-record object overhead, O(bytes) memory. */
export class ByteSlabs {
  static readonly #SLAB = 1024 * 1024;
  readonly #full: Buffer[] = [];
  #slab: Buffer = Buffer.allocUnsafe(0);
  #used = 0;
  /** Total bytes held. */
  length = 0;

  /** Appends bytes. */
  append(bytes: Buffer): void {
    let from = 0;
    while (from < bytes.length) {
      if (this.#used === this.#slab.length) {
        this.#full.push(this.#slab);
        this.#slab = Buffer.allocUnsafe(Math.max(ByteSlabs.#SLAB, bytes.length - from));
        this.#used = 0;
      }
      const n = bytes.copy(this.#slab, this.#used, from);
      this.#used += n;
      from += n;
    }
    this.length += bytes.length;
  }

  /** The held bytes, as a list of chunks (views, not copies). */
  chunks(): Buffer[] {
    return [...this.#full, this.#slab.subarray(0, this.#used)].filter((chunk) => chunk.length > 0);
  }
}
