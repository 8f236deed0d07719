"use client";

import type { LiveState } from "../use-live-sessions.ts";

/** Connecting / live / reconnecting in N s / signed out. */
export function LiveStatusBadge({ state, now }: { state: LiveState; now: number }) {
  const { status, retryAt } = state;
  const text =
    status === "live"
      ? "Live"
      : status === "connecting"
        ? "Connecting…"
        : status === "signed-out"
          ? "Signed out: sign in again to see live sessions"
          : `Reconnecting in ${Math.max(1, Math.ceil(((retryAt ?? now) - now) / 1000))} s`;
  return (
    <p className={`live-status live-status-${status}`} aria-live="polite" data-status={status} data-live-status>
      <span className="live-dot" aria-hidden="true" />
      {text}
    </p>
  );
}
