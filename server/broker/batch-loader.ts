/**
 * Coalesces lookups made in one event-loop turn into one query (a DataLoader in miniature):
 * a burst of logins costs one round trip instead of one each.
 */
export class BatchLoader<K, V> {
  #pending = new Map<K, { resolve: (v: V | null) => void; reject: (e: unknown) => void }[]>();
  #scheduled = false;

  constructor(
    private readonly fetch: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
  ) {}

  load(key: K): Promise<V | null> {
    return new Promise((resolve, reject) => {
      const waiters = this.#pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.#pending.set(key, [{ resolve, reject }]);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#dispatch());
      }
    });
  }

  #dispatch(): void {
    this.#scheduled = false;
    const all = [...this.#pending];
    this.#pending = new Map();
    for (let i = 0; i < all.length; i += this.maxBatch) {
      const batch = all.slice(i, i + this.maxBatch);
      this.fetch(batch.map(([k]) => k)).then(
        (found) => {
          for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key) ?? null);
        },
        (err: unknown) => {
          for (const [, waiters] of batch) for (const w of waiters) w.reject(err);
        },
      );
    }
  }
}
