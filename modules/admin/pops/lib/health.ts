// How a POP's daemon is doing, from its heartbeat (it beats every second while it runs).

/** Past this silence the POP is shown as down; its sessions end once the daemons' own limit (--pop-lost-after) passes too. */
export const SILENT_AFTER_MS = 5_000;

export type PopHealth = { state: "up"; since: number } | { state: "silent"; since: number } | { state: "never-started" };

export function popHealth(heartbeatAt: Date | null, now: number): PopHealth {
  if (heartbeatAt === null) return { state: "never-started" };
  const at = heartbeatAt.getTime();
  return now - at <= SILENT_AFTER_MS ? { state: "up", since: at } : { state: "silent", since: at };
}
