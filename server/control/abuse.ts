/** Limits against password guessing and connection floods on the DTCP port. */
export interface AbuseLimits {
  /** Connections per source address that have not authenticated yet. */
  maxUnauthenticatedPerAddress: number;
  /** Failed logins (per address and per user) answered without delay. */
  freeFailures: number;
  /** Delay before the next attempt after the first counted failure; doubles with each further one. */
  failureDelayBaseMs: number;
  failureDelayMaxMs: number;
  /** Failures are forgotten after this long without a new one. */
  failureMemoryMs: number;
}

export const DEFAULT_ABUSE_LIMITS: AbuseLimits = {
  maxUnauthenticatedPerAddress: 10,
  freeFailures: 3,
  failureDelayBaseMs: 1_000,
  failureDelayMaxMs: 30_000,
  failureMemoryMs: 15 * 60_000,
};

interface Failures {
  count: number;
  last: number;
}

// Refusals of one address are reported at most this often, so a flood cannot flood the audit log too.
const REPORT_INTERVAL_MS = 60_000;

/** Pure bookkeeping (the clock is injected); the control server acts on its answers. */
export class AbuseGuard {
  readonly #unauthenticated = new Map<string, number>();
  readonly #byAddress = new Map<string, Failures>();
  readonly #byUser = new Map<string, Failures>();
  readonly #lastReport = new Map<string, number>();

  constructor(
    readonly limits: AbuseLimits = DEFAULT_ABUSE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a new unauthenticated connection; `report` is true for the first refusal of a while. */
  admit(address: string): { admitted: boolean; report: boolean } {
    const open = this.#unauthenticated.get(address) ?? 0;
    if (open >= this.limits.maxUnauthenticatedPerAddress) {
      const last = this.#lastReport.get(address);
      const report = last === undefined || this.now() - last >= REPORT_INTERVAL_MS;
      if (report) this.#lastReport.set(address, this.now());
      return { admitted: false, report };
    }
    this.#unauthenticated.set(address, open + 1);
    return { admitted: true, report: false };
  }

  /** The connection authenticated or closed: it no longer counts against its address. */
  release(address: string): void {
    const open = this.#unauthenticated.get(address) ?? 0;
    if (open <= 1) this.#unauthenticated.delete(address);
    else this.#unauthenticated.set(address, open - 1);
  }

  /** How long to wait before checking a login from this address for this user. */
  delayMs(address: string, user: string): number {
    const n = Math.max(this.#count(this.#byAddress, address), this.#count(this.#byUser, user));
    if (n < this.limits.freeFailures) return 0;
    return Math.min(this.limits.failureDelayBaseMs * 2 ** (n - this.limits.freeFailures), this.limits.failureDelayMaxMs);
  }

  recordFailure(address: string, user: string): { addressFailures: number; userFailures: number } {
    return { addressFailures: this.#bump(this.#byAddress, address), userFailures: this.#bump(this.#byUser, user) };
  }

  recordSuccess(address: string, user: string): void {
    this.#byAddress.delete(address);
    this.#byUser.delete(user);
  }

  /** Drops what has been forgotten; call now and then so the maps stay small. */
  sweep(): void {
    const now = this.now();
    for (const map of [this.#byAddress, this.#byUser]) {
      for (const [key, f] of map) if (now - f.last >= this.limits.failureMemoryMs) map.delete(key);
    }
    for (const [key, at] of this.#lastReport) if (now - at >= REPORT_INTERVAL_MS) this.#lastReport.delete(key);
  }

  #count(map: Map<string, Failures>, key: string): number {
    const f = map.get(key);
    if (!f) return 0;
    if (this.now() - f.last >= this.limits.failureMemoryMs) {
      map.delete(key);
      return 0;
    }
    return f.count;
  }

  #bump(map: Map<string, Failures>, key: string): number {
    const count = this.#count(map, key) + 1;
    map.set(key, { count, last: this.now() });
    return count;
  }
}
