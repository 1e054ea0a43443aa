/** Runs tasks one at a time per key, in arrival order, within this process. */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier task of `key` has settled; resolves or rejects as `fn` does. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Resolves once no task of `key` is queued or running. */
  async idle(key: string): Promise<void> {
    for (let tail = this.#tails.get(key); tail !== undefined; tail = this.#tails.get(key)) {
      await tail;
      if (this.#tails.get(key) === tail) return;
    }
  }
}
