import { DEFAULT_THROTTLE_LIMITS, type ThrottleLimits } from "../security/login-throttle.ts";
import type { AdmissionLimits } from "./admission.ts";

/** Limits against password guessing and connection floods on the DTCP port. */
export type AbuseLimits = AdmissionLimits & ThrottleLimits;

export const DEFAULT_ABUSE_LIMITS: AbuseLimits = {
  maxUnauthenticatedPerAddress: 10,
  maxUnauthenticated: 1024,
  ...DEFAULT_THROTTLE_LIMITS,
};

// Refusals of one address are reported at most this often, so a flood cannot flood the audit log too.
const REPORT_INTERVAL_MS = 60_000;
// Addresses remembered for that; past it the oldest is forgotten (and may be reported again).
const MAX_REPORTED = 10_000;

/** Decides which refusals are worth a log line and an audit entry: the first of each address per minute. */
export class RefusalReports {
  readonly #last = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True for the first refusal of `key` in a while. */
  due(key: string): boolean {
    const now = this.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < REPORT_INTERVAL_MS) return false;
    this.#last.delete(key);
    if (this.#last.size >= MAX_REPORTED) this.#last.delete(this.#last.keys().next().value!);
    this.#last.set(key, now);
    return true;
  }

  /** Addresses remembered. */
  get size(): number {
    return this.#last.size;
  }

  sweep(): void {
    const now = this.now();
    for (const [key, at] of this.#last) if (now - at >= REPORT_INTERVAL_MS) this.#last.delete(key);
  }
}
