/**
 * Server UDP ports for UDP sessions, one each, from the base port (dtcps -b, 4028) up.
 * Freed ports are reused oldest-first so that stray packets of an ended session are
 * unlikely to reach a new session on the same port.
 */
export class UdpPortPool {
  #next: number;
  #freed: number[] = [];
  #head = 0;
  readonly #inUse = new Set<number>();

  constructor(
    readonly base: number,
    readonly last = 65535,
  ) {
    if (!Number.isInteger(base) || base < 1 || base > last || last > 65535) {
      throw new RangeError(`UDP base port must be between 1 and ${last}`);
    }
    this.#next = base;
  }

  /** A free port, or null when all are taken (the DTCP reply is then "sold out"). */
  take(): number | null {
    let port: number | null = null;
    if (this.#head < this.#freed.length) {
      port = this.#freed[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#freed.length) {
        this.#freed = this.#freed.slice(this.#head);
        this.#head = 0;
      }
    } else if (this.#next <= this.last) {
      port = this.#next++;
    }
    if (port !== null) this.#inUse.add(port);
    return port;
  }

  release(port: number): void {
    if (this.#inUse.delete(port)) this.#freed.push(port);
  }

  get inUse(): number {
    return this.#inUse.size;
  }
}
