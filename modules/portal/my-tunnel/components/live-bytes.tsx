"use client";

import { useSharedLiveSessions } from "../../../core/live/live-sessions-context.tsx";
import { formatBytes } from "../../../core/lib/format.ts";

/**
 * A live session's byte counter in a table of stored sessions: the stored figure lags (the daemon
 * writes live sessions' counters once a minute), so while the session is in the live view its
 * figure is shown.
 */
export function LiveBytes({ sessionId, field, stored }: { sessionId: number; field: "bytesIn" | "bytesOut"; stored: number }) {
  const row = useSharedLiveSessions().state.rows.find((r) => r.sessionId === sessionId);
  return <span data-live-bytes={field}>{formatBytes(row ? row[field] : stored)}</span>;
}
