import { AbuseGuard, DEFAULT_ABUSE_LIMITS } from "@/server/control/abuse.ts";

// The web app is one process, so failed sign-ins are counted in memory, with the daemon's rules:
// three free failures per address and per user name, then 1 s doubling up to 30 s, forgotten after 15 min.
const holder = globalThis as typeof globalThis & { webSignInGuard?: AbuseGuard; webSignInSweep?: NodeJS.Timeout };

export function signInGuard(): AbuseGuard {
  if (!holder.webSignInGuard) {
    const guard = new AbuseGuard(DEFAULT_ABUSE_LIMITS);
    holder.webSignInGuard = guard;
    holder.webSignInSweep = setInterval(() => guard.sweep(), 60_000);
    holder.webSignInSweep.unref();
  }
  return holder.webSignInGuard;
}
