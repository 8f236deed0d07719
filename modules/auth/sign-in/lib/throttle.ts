import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_THROTTLE_LIMITS, LoginThrottle } from "@/server/security/login-throttle.ts";
import { peerNetwork } from "@/server/net/peer-network.ts";

// The web app is one process, so failed password checks are counted in memory, with the daemon's
// rules: three free failures per address and per user name, then 1 s doubling up to 30 s,
// forgotten after 15 min. Sign-in, its TOTP step and the current password asked before a change
// all draw on the same counts.
const holder = globalThis as typeof globalThis & { webLoginThrottle?: LoginThrottle; webLoginThrottleSweep?: NodeJS.Timeout };

export function webThrottle(): LoginThrottle {
  if (!holder.webLoginThrottle) {
    const throttle = new LoginThrottle(DEFAULT_THROTTLE_LIMITS);
    holder.webLoginThrottle = throttle;
    holder.webLoginThrottleSweep = setInterval(() => throttle.sweep(), 60_000);
    holder.webLoginThrottleSweep.unref();
  }
  return holder.webLoginThrottle;
}

/**
 * What guesses at a set-up link from `source` are counted under, besides the address: a name no
 * user has, and one per address, so that a stranger's guesses cannot hold up the administrator's
 * own first visit (one name shared by everyone would be throttled for everyone).
 */
export const setupLinkName = (source: string) => `(set-up link from ${peerNetwork(source)})`;

export type ThrottledCheck<T> = { verdict: "right"; value: T } | { verdict: "wrong" } | { verdict: "too-many"; retryAfterMs: number };

/**
 * Runs one password (or code) check of `name` from `source` under the throttle: waits its turn,
 * checks, and counts the verdict. `check` answers null when the secret is wrong.
 */
export async function throttledCheck<T>(source: string, name: string, check: () => Promise<T | null>): Promise<ThrottledCheck<T>> {
  // An IPv6 host picks addresses in its /64 freely: that is what it is counted under.
  const reservation = webThrottle().reserve(peerNetwork(source), name);
  if (!reservation.ok) return { verdict: "too-many", retryAfterMs: reservation.retryAfterMs };
  const { ticket, waitMs } = reservation;
  let value: T | null;
  try {
    if (waitMs > 0) await sleep(waitMs);
    value = await check();
  } catch (err) {
    ticket.abandoned();
    throw err;
  }
  if (value === null) {
    ticket.failed();
    return { verdict: "wrong" };
  }
  ticket.succeeded();
  return { verdict: "right", value };
}

export function tooManyMessage(retryAfterMs: number): string {
  return `Too many wrong attempts. Try again in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} seconds.`;
}
