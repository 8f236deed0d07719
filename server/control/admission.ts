/** How many connections that have not authenticated yet the DTCP port holds. */
export interface AdmissionLimits {
  /** Per source address. */
  maxUnauthenticatedPerAddress: number;
  /** In all. Past it a newcomer still gets in: the oldest connection of the busiest address makes room. */
  maxUnauthenticated: number;
}

export type Admission<T> =
  | { admitted: true; /** A connection to close to make room, if the total was reached. */ evicted: T | null }
  | { admitted: false };

/**
 * Pure bookkeeping of unauthenticated connections, per address and in all. When the total is
 * reached, room is made at the expense of the address holding the most (its oldest connection),
 * so a flood from many addresses costs a bounded number of descriptors and a real client, with one
 * connection from its address, is the last to be pushed out.
 */
export class UnauthenticatedConnections<T> {
  readonly #byAddress = new Map<string, Set<T>>();
  readonly #addressOf = new Map<T, string>();
  // The addresses holding exactly n connections, by n, and the highest n held: the busiest address
  // is found without a scan. Counts move by one, so the highest moves by one too.
  readonly #byCount = new Map<number, Set<string>>();
  #highest = 0;

  constructor(readonly limits: AdmissionLimits) {
    if (limits.maxUnauthenticated < 1 || limits.maxUnauthenticatedPerAddress < 1) throw new RangeError("connection limits must be at least 1");
  }

  get size(): number {
    return this.#addressOf.size;
  }

  admit(address: string, connection: T): Admission<T> {
    if (this.heldBy(address) >= this.limits.maxUnauthenticatedPerAddress) return { admitted: false };
    let evicted: T | null = null;
    if (this.size >= this.limits.maxUnauthenticated) {
      evicted = this.#oldestOfBusiest();
      if (evicted !== null) this.release(evicted);
    }
    // Counted after the eviction, which may have been of this address.
    const held = this.heldBy(address);
    this.#move(address, held, held + 1);
    let set = this.#byAddress.get(address);
    if (!set) this.#byAddress.set(address, (set = new Set()));
    set.add(connection);
    this.#addressOf.set(connection, address);
    return { admitted: true, evicted };
  }

  /** The connection authenticated or closed: it no longer counts. Releasing twice is harmless. */
  release(connection: T): void {
    const address = this.#addressOf.get(connection);
    if (address === undefined) return;
    this.#addressOf.delete(connection);
    const set = this.#byAddress.get(address)!;
    set.delete(connection);
    this.#move(address, set.size + 1, set.size);
    if (set.size === 0) this.#byAddress.delete(address);
  }

  heldBy(address: string): number {
    return this.#byAddress.get(address)?.size ?? 0;
  }

  #oldestOfBusiest(): T | null {
    // The first address of a bucket is the one that reached that count first.
    for (const address of this.#byCount.get(this.#highest) ?? []) {
      for (const connection of this.#byAddress.get(address)!) return connection;
    }
    return null;
  }

  #move(address: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = this.#byCount.get(from)!;
      bucket.delete(address);
      if (bucket.size === 0) {
        this.#byCount.delete(from);
        if (from === this.#highest) this.#highest = to;
      }
    }
    if (to > 0) {
      let bucket = this.#byCount.get(to);
      if (!bucket) this.#byCount.set(to, (bucket = new Set()));
      bucket.add(address);
      if (to > this.#highest) this.#highest = to;
    }
  }
}
