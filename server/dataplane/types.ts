import type { TrafficCounters, Transport, TunnelType } from "../domain/types.ts";

/** Everything the data plane needs to carry one session's packets. */
export interface TunnelSpec {
  sessionId: number;
  userName: string;
  type: TunnelType;
  transport: Transport;
  /** The client's IPv4 as the control connection shows it. */
  clientIpv4: string;
  serverIpv4: string;
  /**
   * The local IPv4 the client's control connection reached: its tunnel packets leave from it (a
   * client drops packets from any other address), whatever source the routing table would pick.
   */
  localIpv4: string;
  /** UDP: the port the client asked to be reached on; null = NAT traversal (learn it from the client's packets). */
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  /** Routed prefix of a network tunnel, CIDR. */
  prefix: string | null;
  mtu: number;
}

/** Why the data plane dropped a packet of a session. */
export type DropReason =
  /** Decapsulated packet whose inner IPv6 source is not the session's (BCP 38). */
  | "spoofedSource"
  /** Outer IPv4 source is not the session's client. */
  | "wrongOuterSource"
  /** Not an IPv6 packet, or truncated. */
  | "malformed"
  /** NAT traversal: traffic for the client before it sent its first packet. */
  | "noBinding"
  /** The kernel refused to send or the queue was full. */
  | "sendFailed";

/** Live figures of one session, read by the control plane at least every second. */
export interface TunnelStats extends TrafficCounters {
  drops: Record<DropReason, bigint>;
  /** Epoch ms of the last packet from the client, null before the first. */
  lastPacketAt: number | null;
  /** Where the server sends this session's packets: the NAT binding for UDP, the client IPv4 for protocol 41. */
  binding: { address: string; port: number | null } | null;
}

/**
 * The packet side of the broker. The control plane calls open() once a login is accepted and
 * close() the moment the session ends; routes exist exactly between the two.
 */
export interface DataPlane {
  /** Shown at start-up, e.g. "none (--no-dataplane)". */
  readonly description: string;
  start(): Promise<void>;
  open(spec: TunnelSpec): Promise<void>;
  /** Every pool's CIDR now: each is routed to the data plane, pools added or removed while it runs included. */
  setPools(cidrs: readonly string[]): Promise<void>;
  /** Tears the tunnel down and returns its final counters; an unknown id (never opened) gives null. */
  close(sessionId: number): Promise<TrafficCounters | null>;
  /** The latest figures of a live session (at most a second old), null when unknown. */
  stats(sessionId: number): TunnelStats | null;
  stop(): Promise<void>;
}

/** Runs the control plane alone: replies stay complete, no packet is carried. */
export class NoDataPlane implements DataPlane {
  readonly description = "none (--no-dataplane): DTCP replies are complete but no packets are carried";
  async start(): Promise<void> {}
  async open(): Promise<void> {}
  async setPools(_cidrs: readonly string[]): Promise<void> {}
  async close(): Promise<TrafficCounters | null> {
    return null;
  }
  stats(): TunnelStats | null {
    return null;
  }
  async stop(): Promise<void> {}
}
