// The live table as the browser keeps it: a snapshot, then diffs. Safe for client components.
import type { LiveRow, LiveServerMessage } from "@/server/api/live.ts";

export type { LiveRow, LiveServerMessage };

/** The rows after `message`, by session id; other messages leave them as they are (the same array). */
export function applyLiveMessage(rows: readonly LiveRow[], message: LiveServerMessage): readonly LiveRow[] {
  if (message.type === "snapshot") return sortRows(message.rows);
  if (message.type !== "diff") return rows;
  const next = new Map(rows.map((r) => [r.sessionId, r]));
  for (const id of message.removed) next.delete(id);
  for (const row of [...message.added, ...message.changed]) next.set(row.sessionId, row);
  return sortRows([...next.values()]);
}

function sortRows(rows: readonly LiveRow[]): LiveRow[] {
  return [...rows].sort((a, b) => a.sessionId - b.sessionId);
}

/** The client's address and port as the broker sends to it: the NAT binding when there is one, else the control connection's address (and the port= claimed). */
export function seenAddress(row: Pick<LiveRow, "binding" | "clientIpv4" | "clientUdpPort">): string {
  if (row.binding) return row.binding.port === null ? row.binding.address : `${row.binding.address}:${row.binding.port}`;
  return row.clientUdpPort === null ? row.clientIpv4 : `${row.clientIpv4}:${row.clientUdpPort}`;
}

/** What the client said at login: its control address, and port= when it gave one. */
export function claimedAddress(row: Pick<LiveRow, "clientIpv4" | "clientUdpPort">): string {
  return row.clientUdpPort === null ? row.clientIpv4 : `${row.clientIpv4}:${row.clientUdpPort}`;
}

/** Reconnection delay before attempt `attempt` (0 first): 1 s doubling to 30 s, each 75–100 % at random so viewers do not return in step. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 15));
  return Math.round(base * (0.75 + 0.25 * random()));
}
