import type { TrafficCounters } from "../repositories/sessions/repository.ts";
import type { TunnelType } from "../repositories/users/schema.ts";

/** Everything the data plane needs to carry one session's packets. */
export interface TunnelSpec {
  sessionId: number;
  userName: string;
  type: TunnelType;
  transport: "proto41" | "udp";
  /** The client's IPv4 as the control connection shows it. */
  clientIpv4: string;
  serverIpv4: string;
  /** UDP: the port the client asked to be reached on; null = NAT traversal (learn it from the client's packets). */
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  /** Routed prefix of a network tunnel, CIDR. */
  prefix: string | null;
  mtu: number;
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
  /** Tears the tunnel down and returns its final counters. */
  close(sessionId: number): Promise<TrafficCounters | null>;
  stop(): Promise<void>;
}

/** Runs the control plane alone: replies stay complete, no packet is carried. */
export class NoDataPlane implements DataPlane {
  readonly description = "none (--no-dataplane): DTCP replies are complete but no packets are carried";
  async start(): Promise<void> {}
  async open(): Promise<void> {}
  async close(): Promise<TrafficCounters | null> {
    return null;
  }
  async stop(): Promise<void> {}
}
