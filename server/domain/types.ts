// The broker's vocabulary, shared by the protocol, the control plane, the data plane, storage and
// the web app. Types and constants only: importing this pulls in nothing else.

/** The tunnel types of DTCP (`tunnelroute` is read as `network`). */
export const TUNNEL_TYPES = ["tunnelonly", "host", "network"] as const;
export type TunnelType = (typeof TUNNEL_TYPES)[number];

/**
 * How a session's IPv6 packets travel: IPv4 protocol 41, or this project's DTCP extensions: UDP,
 * and TCP (a connection of its own, plain or TLS, each packet framed by a 2-byte length).
 */
export const TRANSPORTS = ["proto41", "udp", "tcp"] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const ROLES = ["admin", "user"] as const;
export type Role = (typeof ROLES)[number];

/** Why a session ended, as recorded in its row ("restart", in older rows, is what "pop-lost" says now). */
export const END_REASONS = ["quit", "closed", "timeout", "replaced", "kicked", "revoked", "moved", "tunnel-lost", "shutdown", "pop-lost", "restart", "setup-failed"] as const;
export type EndReason = (typeof END_REASONS)[number];

/** A session's traffic, named from the broker's side: "in" came from the client. */
export interface TrafficCounters {
  bytesIn: bigint;
  bytesOut: bigint;
  packetsIn: bigint;
  packetsOut: bigint;
}

/** What is recorded when a session starts. */
export interface SessionStart {
  userId: number;
  userName: string;
  type: TunnelType;
  transport: Transport;
  clientIpv4: string;
  serverIpv4: string;
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  prefix: string | null;
}

/** What is recorded when a session ends; counters null when no data plane counted them. */
export interface SessionEnd {
  id: number;
  reason: EndReason;
  counters: TrafficCounters | null;
  /** When it ended (written later if the database could not take it then). */
  at: Date;
}
