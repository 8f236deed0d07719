// Successful DTCP logins per user name: a client that logs in again and again (each login replacing
// the last session and writing a session row) is a loop, not a user, and is slowed to a pace that
// costs the database little. A token bucket per user with an injected clock.

export interface LoginRateLimits {
  /** Logins one user may make back to back. */
  burst: number;
  /** Then one more per this long. */
  refillMs: number;
}

export const DEFAULT_LOGIN_RATE_LIMITS: LoginRateLimits = { burst: 10, refillMs: 6_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class LoginRate {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    readonly limits: LoginRateLimits = DEFAULT_LOGIN_RATE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    if (limits.burst < 1 || limits.refillMs <= 0) throw new RangeError("a login rate needs a burst of at least 1 and a positive refill time");
  }

  /** Takes one login of `user`: 0 when it may go ahead, else how long until it may (ms). */
  take(user: string): number {
    const now = this.now();
    const bucket = this.#fill(user, now);
    if (bucket.tokens >= 1) {
      bucket.tokens--;
      this.#buckets.set(user, bucket);
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) * this.limits.refillMs);
  }

  /** Users remembered: only those whose bucket is not full. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Forgets full buckets; called now and then. */
  sweep(): void {
    const now = this.now();
    for (const [user] of this.#buckets) if (this.#fill(user, now).tokens >= this.limits.burst) this.#buckets.delete(user);
  }

  #fill(user: string, now: number): Bucket {
    const bucket = this.#buckets.get(user) ?? { tokens: this.limits.burst, at: now };
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + (now - bucket.at) / this.limits.refillMs);
    bucket.at = now;
    return bucket;
  }
}
