// Throttling of password checks (DTCP logins, web sign-in, TOTP codes, the current password asked
// before a change), per source address and per user name. Pure bookkeeping with an injected clock:
// callers wait what `reserve` says, check the password, then report the verdict on the ticket.
//
// Concurrency cannot get around it: a reservation counts as a failure until its verdict comes, and
// each key keeps the earliest time its next check may run, so parallel guesses are spread out just
// as sequential ones are. A check that would have to wait longer than the longest delay is refused
// without being made, so waiting attempts per key stay few.

export interface ThrottleLimits {
  /** Failed checks (per address and per user) answered without delay. */
  freeFailures: number;
  /** Delay before the next check after the first counted failure; doubles with each further one. */
  failureDelayBaseMs: number;
  failureDelayMaxMs: number;
  /** Failures are forgotten after this long without a new one. */
  failureMemoryMs: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  freeFailures: 3,
  failureDelayBaseMs: 1_000,
  failureDelayMaxMs: 30_000,
  failureMemoryMs: 15 * 60_000,
};

/** Keys tracked per kind (address, user, address+user); past it the least recently touched is forgotten. */
export const MAX_TRACKED_KEYS = 100_000;

interface Track {
  failures: number;
  /** Reservations without a verdict yet. */
  pending: number;
  /** Last failure. */
  last: number;
  /** Earliest time the next check may run. */
  nextAt: number;
}

export interface Ticket {
  /** The password was right. */
  succeeded(): void;
  /** The password was wrong; the counts after this failure. */
  failed(): { addressFailures: number; userFailures: number };
  /** No verdict (the check could not be made): nothing is counted. */
  abandoned(): void;
}

export type Reservation = { ok: true; waitMs: number; ticket: Ticket } | { ok: false; retryAfterMs: number };

export class LoginThrottle {
  readonly #byAddress = new Map<string, Track>();
  readonly #byUser = new Map<string, Track>();
  // Failures of one user from one address, forgiven to the address when that user proves their password.
  readonly #byPair = new Map<string, Track>();

  constructor(
    readonly limits: ThrottleLimits = DEFAULT_THROTTLE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reserves one check of `user`'s password from `address`: wait `waitMs`, check, then give the verdict. */
  reserve(address: string, user: string): Reservation {
    const now = this.now();
    const byAddress = this.#track(this.#byAddress, address, now);
    const byUser = this.#track(this.#byUser, user, now);
    const at = Math.max(now, byAddress.nextAt, byUser.nextAt);
    if (at - now > this.limits.failureDelayMaxMs) {
      this.#forgetIfIdle(this.#byAddress, address, byAddress, now);
      this.#forgetIfIdle(this.#byUser, user, byUser, now);
      return { ok: false, retryAfterMs: at - now - this.limits.failureDelayMaxMs };
    }
    for (const t of [byAddress, byUser]) {
      t.pending++;
      t.nextAt = at + this.delayAfter(t.failures + t.pending);
    }
    const pairKey = `${address}\u0000${user}`;
    let settled = false;
    const settle = () => {
      if (settled) throw new Error("a throttle ticket takes one verdict");
      settled = true;
      byAddress.pending--;
      byUser.pending--;
    };
    // Keys without failures are forgotten as soon as nothing waits on them, so successful logins cost no memory.
    const tidy = (t: number) => {
      this.#forgetIfIdle(this.#byAddress, address, byAddress, t);
      this.#forgetIfIdle(this.#byUser, user, byUser, t);
    };
    return {
      ok: true,
      waitMs: at - now,
      ticket: {
        succeeded: () => {
          settle();
          const t = this.now();
          byUser.failures = 0;
          byUser.nextAt = t;
          const pair = this.#byPair.get(pairKey);
          if (pair) {
            byAddress.failures = Math.max(0, byAddress.failures - pair.failures);
            this.#byPair.delete(pairKey);
          }
          byAddress.nextAt = Math.min(byAddress.nextAt, t + this.delayAfter(byAddress.failures + byAddress.pending));
          tidy(t);
        },
        failed: () => {
          settle();
          const t = this.now();
          const pair = this.#track(this.#byPair, pairKey, t);
          for (const track of [byAddress, byUser, pair]) {
            track.failures++;
            track.last = t;
          }
          return { addressFailures: byAddress.failures, userFailures: byUser.failures };
        },
        abandoned: () => {
          settle();
          tidy(this.now());
        },
      },
    };
  }

  /** The wait owed by the check after `failures` failed ones. */
  delayAfter(failures: number): number {
    if (failures < this.limits.freeFailures) return 0;
    return Math.min(this.limits.failureDelayBaseMs * 2 ** (failures - this.limits.freeFailures), this.limits.failureDelayMaxMs);
  }

  /** Drops what has been forgotten; call now and then so the maps stay small. */
  sweep(): void {
    const now = this.now();
    for (const map of [this.#byAddress, this.#byUser, this.#byPair]) {
      for (const [key, t] of map) if (this.#idle(t, now)) map.delete(key);
    }
  }

  /** Keys tracked, all kinds together (for tests and metrics). */
  get size(): number {
    return this.#byAddress.size + this.#byUser.size + this.#byPair.size;
  }

  #idle(t: Track, now: number): boolean {
    return t.pending === 0 && t.nextAt <= now && (t.failures === 0 || now - t.last >= this.limits.failureMemoryMs);
  }

  #forgetIfIdle(map: Map<string, Track>, key: string, t: Track, now: number): void {
    if (map.get(key) === t && this.#idle(t, now)) map.delete(key);
  }

  #track(map: Map<string, Track>, key: string, now: number): Track {
    let t = map.get(key);
    if (t) {
      // Most recently used last, so the first entry is the one to forget when full.
      map.delete(key);
      if (t.failures > 0 && now - t.last >= this.limits.failureMemoryMs) t.failures = 0;
    } else {
      t = { failures: 0, pending: 0, last: now, nextAt: now };
      if (map.size >= MAX_TRACKED_KEYS) map.delete(map.keys().next().value!);
    }
    map.set(key, t);
    return t;
  }
}
