// The live view of the sessions, as the web UI shows it: rows built from the broker's live
// sessions and the data plane's figures, filtered per viewer, and diffs between two snapshots so
// that only changes go over the wire. No I/O here; server.ts drives it.
//
// Wire encoding: every counter and rate is a JSON number (the data plane counts in float64, exact
// to 2^53 bytes, 9 PB per session), every time is epoch milliseconds.

import { type Role, type Transport, type TunnelType } from "../domain/types.ts";
import { z } from "zod";
import type { LiveSessionView } from "../broker/broker.ts";

export interface LiveRow {
  sessionId: number;
  user: string;
  type: TunnelType;
  transport: Transport;
  /** The client's IPv4 as the control connection shows it. */
  clientIpv4: string;
  /** port= of the login: where the client asked to be reached over UDP; null = NAT traversal, or protocol 41. */
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  /** Routed prefix of a network tunnel, CIDR. */
  prefix: string | null;
  startedAt: number;
  /** Where the server sends the session's packets (the NAT binding for UDP); null before the first packet of a NAT-traversal session, or without a data plane. */
  binding: { address: string; port: number | null } | null;
  /** The binding is not what the client claimed at login (control IPv4, and port= when given): a NAT in between. */
  bindingDiffers: boolean;
  /** Last packet from the client; null before the first. */
  lastPacketAt: number | null;
  /** "In" is client → broker, "out" broker → client. */
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Bytes per second over about the last second; 0 until there are two samples. */
  rateIn: number;
  rateOut: number;
}

export interface Viewer {
  name: string;
  role: Role;
}

export interface LiveDiff {
  added: LiveRow[];
  changed: LiveRow[];
  /** Session ids. */
  removed: number[];
}

/** Daemon → browser. */
export type LiveServerMessage =
  | { type: "snapshot"; rows: LiveRow[]; at: number }
  | ({ type: "diff"; at: number } & LiveDiff)
  | { type: "ping" }
  | { type: "kicked"; sessionId: number }
  | { type: "error"; message: string };

/** Browser → daemon. A pong is optional: WebSocket-level pongs (which browsers send by themselves) do as well. */
export type LiveClientMessage = { type: "kick"; sessionId: number } | { type: "pong" };

const clientMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("kick"), sessionId: z.number().int().positive() }),
  z.object({ type: z.literal("pong") }),
]);

/** A message from a viewer, or null when it is not one this API knows. */
export function parseClientMessage(text: string): LiveClientMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = clientMessageSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** How long rates are averaged over. The data plane refreshes its figures once a second, so a shorter window alternates between double and zero. */
export const RATE_WINDOW_MS = 1000;

interface ByteSample {
  at: number;
  bytesIn: bigint;
  bytesOut: bigint;
}

/** Turns the broker's live sessions into rows, remembering recent byte counts to work out rates. */
export class LiveSampler {
  // Per session, oldest first: the newest sample at least a window old, then every later one.
  readonly #history = new Map<number, ByteSample[]>();

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  /** Rows for the sessions live at `at` (epoch ms), by session id. */
  sample(sessions: readonly LiveSessionView[], at: number): LiveRow[] {
    const rows = sessions.map((s) => this.#row(s, at)).sort((a, b) => a.sessionId - b.sessionId);
    const live = new Set(rows.map((r) => r.sessionId));
    for (const id of this.#history.keys()) if (!live.has(id)) this.#history.delete(id);
    return rows;
  }

  /** Forgets every sample, so that rates after a pause in sampling are not averaged over the pause. */
  reset(): void {
    this.#history.clear();
  }

  #row(s: LiveSessionView, at: number): LiveRow {
    const stats = s.stats;
    const current: ByteSample = { at, bytesIn: stats?.bytesIn ?? 0n, bytesOut: stats?.bytesOut ?? 0n };
    const history = this.#history.get(s.id) ?? [];
    history.push(current);
    while (history.length > 2 && at - history[1]!.at >= this.windowMs) history.shift();
    this.#history.set(s.id, history);
    const base = history[0]!;
    const binding = stats?.binding ?? null;
    return {
      sessionId: s.id,
      user: s.userName,
      type: s.type,
      transport: s.transport,
      clientIpv4: s.clientIpv4,
      clientUdpPort: s.clientUdpPort,
      serverUdpPort: s.serverUdpPort,
      clientIpv6: s.clientIpv6,
      prefix: s.prefix,
      startedAt: s.startedAt.getTime(),
      binding: binding && { address: binding.address, port: binding.port },
      bindingDiffers: bindingDiffers(s, binding),
      lastPacketAt: stats?.lastPacketAt ?? null,
      bytesIn: Number(current.bytesIn),
      bytesOut: Number(current.bytesOut),
      packetsIn: Number(stats?.packetsIn ?? 0n),
      packetsOut: Number(stats?.packetsOut ?? 0n),
      rateIn: rate(base.bytesIn, current.bytesIn, at - base.at),
      rateOut: rate(base.bytesOut, current.bytesOut, at - base.at),
    };
  }
}

function rate(before: bigint, after: bigint, elapsedMs: number): number {
  if (elapsedMs <= 0 || after <= before) return 0;
  return Math.round((Number(after - before) * 1000) / elapsedMs);
}

/** Whether packets go somewhere other than the client said at login: its control IPv4, and its port= when it gave one. */
export function bindingDiffers(
  claimed: { clientIpv4: string; clientUdpPort: number | null },
  binding: { address: string; port: number | null } | null,
): boolean {
  if (binding === null) return false;
  if (binding.address !== claimed.clientIpv4) return true;
  return claimed.clientUdpPort !== null && binding.port !== claimed.clientUdpPort;
}

/** Administrators see every session, users their own. */
export function visibleTo(rows: readonly LiveRow[], viewer: Viewer): LiveRow[] {
  return viewer.role === "admin" ? [...rows] : rows.filter((r) => r.user === viewer.name);
}

/** What changed from one snapshot to the next; rows are matched by session id. */
export function diffRows(before: readonly LiveRow[], after: readonly LiveRow[]): LiveDiff {
  const previous = new Map(before.map((r) => [r.sessionId, r]));
  const diff: LiveDiff = { added: [], changed: [], removed: [] };
  for (const row of after) {
    const old = previous.get(row.sessionId);
    if (old === undefined) diff.added.push(row);
    else if (!sameRow(old, row)) diff.changed.push(row);
    previous.delete(row.sessionId);
  }
  diff.removed = [...previous.keys()];
  return diff;
}

export function isEmptyDiff(diff: LiveDiff): boolean {
  return diff.added.length === 0 && diff.changed.length === 0 && diff.removed.length === 0;
}

function sameRow(a: LiveRow, b: LiveRow): boolean {
  return (Object.keys(a) as (keyof LiveRow)[]).every((k) =>
    k === "binding" ? a.binding?.address === b.binding?.address && a.binding?.port === b.binding?.port : a[k] === b[k],
  );
}
